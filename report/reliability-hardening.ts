// Section 4 of the reliability report: how exposed FlowProxy's unit is by systemd's own measure,
// what TLS the public ports speak (sslscan from the host), and that the VM-local ports stay local.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { connectOutcome, flowproxyUnit } from "../sandbox/probe";
import { check, run } from "../sandbox/proc";
import { flowproxyVms, PUBLIC_PORTS } from "../sandbox/topology";
import { vmCheck, vmExec } from "../sandbox/vm";
import { REPO_ROOT } from "./report";
import { Section } from "./reliability-checks";

/** systemd-analyze's 0 (best) to 10 scale; 2.0 leaves room for one or two minor settings. */
const MAX_EXPOSURE = 2.0;
/** TLS 1.2 suites with forward secrecy and authenticated encryption; TLS 1.3 has only such suites. */
const STRONG_TLS12 = /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/;
const WEAK = /CBC|SHA1$|-SHA$|RC4|3DES|DES-CBC|NULL|EXP|anon|MD5/i;
const LOCAL_PORTS = [8405, 14727] as const;

function exposure(output: string): { score: number; label: string } {
  const match = /Overall exposure level for \S+: ([\d.]+) (\S+)/.exec(output);
  if (!match) throw new Error(`systemd-analyze printed no exposure level: ${output.trim().split("\n").pop()}`);
  return { score: Number(match[1]), label: match[2] };
}

function exposureCheck(value: { score: number; label: string }, where: string) {
  return {
    passed: value.score <= MAX_EXPOSURE,
    evidence: [`${value.score.toFixed(1)} ${value.label} (${where})`, `≤ ${MAX_EXPOSURE.toFixed(1)}`],
  };
}

async function offlineScore() {
  // The committed file, copied so the analysis reads nothing else from the checkout.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-unit-"));
  try {
    const file = path.join(dir, "flowproxy@.service");
    fs.copyFileSync(path.join(REPO_ROOT, "flowproxy@.service"), file);
    const result = await run("systemd-analyze", ["security", "--offline=yes", "--no-pager", file]);
    const version = (await check("systemd-analyze", ["--version"])).split("\n")[0];
    return exposureCheck(exposure(result.stdout), `host, ${version}, --offline=yes`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runningScore() {
  const vm = flowproxyVms()[0];
  const result = await vmExec(vm, ["systemd-analyze", "security", "--no-pager", flowproxyUnit(vm)]);
  const version = (await vmCheck(vm, ["systemd-analyze", "--version"])).split("\n")[0];
  return exposureCheck(exposure(result.stdout), `${flowproxyUnit(vm)} running in ${vm.name}, ${version}`);
}

interface TlsScan {
  protocols: string[];
  ciphers: { version: string; name: string }[];
}

/** sslscan's XML: which protocols the port accepts and every cipher suite it accepts. */
async function sslscan(host: string, port: number): Promise<TlsScan> {
  const xml = await check("sslscan", ["--no-colour", "--xml=-", `${host}:${port}`], { timeoutMs: 180_000 });
  const protocols = [...xml.matchAll(/<protocol type="(\w+)" version="([\d.]+)" enabled="1"/g)].map((m) => `${m[1].toUpperCase()}v${m[2]}`);
  const ciphers = [...xml.matchAll(/<cipher status="\w+" sslversion="([^"]+)"[^>]* cipher="([^"]+)"/g)].map((m) => ({ version: m[1], name: m[2] }));
  if (protocols.length === 0 || ciphers.length === 0) throw new Error(`sslscan found no TLS on ${host}:${port}`);
  return { protocols, ciphers };
}

function judgeTls(scan: TlsScan): string[] {
  const old = scan.protocols.filter((p) => !["TLSv1.2", "TLSv1.3"].includes(p));
  const weak = scan.ciphers.filter((c) => WEAK.test(c.name) || (c.version === "TLSv1.2" && !STRONG_TLS12.test(c.name)));
  return [...old.map((p) => `accepts ${p}`), ...weak.map((c) => `accepts ${c.name} (${c.version})`)];
}

export async function hardeningSection(): Promise<Section> {
  const section = new Section(
    "4. Hardening",
    "`systemd-analyze security` scores the exposure of `flowproxy@.service` (0 = locked down, 10 = unprotected), once " +
      "offline from the committed file with the host's systemd and once for the unit running in a VM with Debian " +
      "trixie's systemd. `sslscan` connects from the host to each public TLS port: no protocol below TLS 1.2 and, for " +
      "TLS 1.2, only ECDHE key exchange with AEAD ciphers (no CBC, SHA-1 MACs, RC4, 3DES, NULL or EXPORT). The metrics " +
      "and certificate ports must refuse connections from the host and from the other VNet.",
    ["value", "target"],
  );
  await section.run("systemd-analyze security flowproxy@.service (offline)", offlineScore);
  await section.run("systemd-analyze security of the running unit", runningScore);
  for (const vm of flowproxyVms()) {
    for (const port of [PUBLIC_PORTS.https, PUBLIC_PORTS.system]) {
      await section.run(`TLS on ${vm.name}:${port} (sslscan from the host)`, async () => {
        const scan = await sslscan(vm.publicIp!, port);
        const problems = judgeTls(scan);
        return {
          passed: problems.length === 0,
          evidence: [
            `${scan.protocols.join(", ")}; ${scan.ciphers.map((c) => c.name).join(", ")}${problems.length ? `; WRONG: ${problems.join(", ")}` : ""}`,
            "TLS ≥ 1.2, ECDHE + AEAD only",
          ],
        };
      });
    }
  }
  for (const vm of flowproxyVms()) {
    const peer = flowproxyVms().find((other) => other !== vm)!;
    await section.run(`metrics (8405) and public_cert (14727) on ${vm.name} from outside`, async () => {
      const outcomes: string[] = [];
      let passed = true;
      for (const port of LOCAL_PORTS) {
        // From the internet the NSG drops it; from the VNets (AllowVnetInBound) the loopback bind refuses it.
        const fromHost = await connectOutcome(vm.publicIp!, port);
        const fromPeer = await vmExec(peer, ["curl", "-sS", "--max-time", "3", `http://${vm.privateIp}:${port}/`]);
        const peerOutcome = fromPeer.code === 7 ? "ECONNREFUSED" : `curl exit ${fromPeer.code}`;
        passed &&= fromHost === "ETIMEDOUT" && peerOutcome === "ECONNREFUSED";
        outcomes.push(`host→${vm.publicIp}:${port} ${fromHost}`, `${peer.name}→${vm.privateIp}:${port} ${peerOutcome}`);
      }
      return { passed, evidence: [outcomes.join("; "), "dropped from the internet, refused from the VNets"] };
    });
  }
  section.finish();
  return section;
}
