// How exposed FlowProxy's unit is by systemd's own measure, what TLS the public ports speak (sslscan
// from the host), and that the VM-local ports stay local. Each check throws with what is wrong, or
// returns its evidence: the value seen and the target it was held to.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PORTS } from "../../../lib/contract";
import { PROJECT_DIR } from "../../../plan/evaluation";
import { connectOutcome, flowproxyUnit } from "../../../sandbox/probe";
import { check, run } from "../../../sandbox/base/proc";
import { Vm } from "../../../sandbox/base/topology";
import { vmCheck, vmExec } from "../../../sandbox/machines/vm";
import { BrokenRun, failureOf, withUnitDropIn } from "./broken";

/** systemd-analyze's 0 (best) to 10 scale; 2.0 leaves room for one or two minor settings. */
const MAX_EXPOSURE = 2.0;
/** TLS 1.2 suites with forward secrecy and authenticated encryption; TLS 1.3 has only such suites. */
const STRONG_TLS12 = /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/;
const WEAK = /CBC|SHA1$|-SHA$|RC4|3DES|DES-CBC|NULL|EXP|anon|MD5/i;
/** HAProxy's own loopback-only frontends. */
const HAPROXY_LOCAL_PORTS = [PORTS.haproxyMetrics, PORTS.servedCertificate] as const;

function exposure(output: string): { score: number; label: string } {
  const match = /Overall exposure level for \S+: ([\d.]+) (\S+)/.exec(output);
  if (!match) throw new Error(`systemd-analyze printed no exposure level: ${output.trim().split("\n").pop()}`);
  return { score: Number(match[1]), label: match[2] };
}

function heldToMaximum(value: { score: number; label: string }, where: string): string[] {
  assert.ok(
    value.score <= MAX_EXPOSURE,
    `exposure ${value.score.toFixed(1)} ${value.label} (${where}) above ${MAX_EXPOSURE.toFixed(1)}`,
  );
  return [`${value.score.toFixed(1)} ${value.label} (${where})`, `≤ ${MAX_EXPOSURE.toFixed(1)}`];
}

const committedUnit = () => fs.readFileSync(path.join(PROJECT_DIR, "flowproxy@.service"), "utf8");

/** `systemd-analyze security --offline=yes` of the committed flowproxy@.service (or `unit`), with the host's systemd. */
export async function offlineUnitExposure(unit = committedUnit()): Promise<string[]> {
  // A copy, so the analysis reads nothing else from the checkout.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-unit-"));
  try {
    const file = path.join(dir, "flowproxy@.service");
    fs.writeFileSync(file, unit);
    const result = await run("systemd-analyze", ["security", "--offline=yes", "--no-pager", file]);
    const version = (await check("systemd-analyze", ["--version"])).split("\n")[0];
    return heldToMaximum(exposure(result.stdout), `host, ${version}, --offline=yes`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `systemd-analyze security` of the unit running in `vm`, with Debian trixie's systemd. */
export async function runningUnitExposure(vm: Vm): Promise<string[]> {
  const result = await vmExec(vm, ["systemd-analyze", "security", "--no-pager", flowproxyUnit(vm)]);
  const version = (await vmCheck(vm, ["systemd-analyze", "--version"])).split("\n")[0];
  return heldToMaximum(exposure(result.stdout), `${flowproxyUnit(vm)} running in ${vm.name}, ${version}`);
}

interface TlsScan {
  protocols: string[];
  ciphers: { version: string; name: string }[];
}

/** sslscan's XML: which protocols the port accepts and every cipher suite it accepts. */
async function sslscan(host: string, port: number): Promise<TlsScan> {
  const xml = await check("sslscan", ["--no-colour", "--xml=-", `${host}:${port}`], { timeoutMs: 180_000 });
  const protocols = [...xml.matchAll(/<protocol type="(\w+)" version="([\d.]+)" enabled="1"/g)].map(
    (m) => `${m[1].toUpperCase()}v${m[2]}`,
  );
  const ciphers = [...xml.matchAll(/<cipher status="\w+" sslversion="([^"]+)"[^>]* cipher="([^"]+)"/g)].map((m) => ({
    version: m[1],
    name: m[2],
  }));
  if (protocols.length === 0 || ciphers.length === 0) throw new Error(`sslscan found no TLS on ${host}:${port}`);
  return { protocols, ciphers };
}

/** The protocols and cipher suites a TLS port of `vm`'s public IP accepts: TLS 1.2 or later, ECDHE with AEAD only. */
export async function publicTls(vm: Vm, port: number): Promise<string[]> {
  const scan = await sslscan(vm.publicIp!, port);
  const old = scan.protocols.filter((p) => !["TLSv1.2", "TLSv1.3"].includes(p));
  const weak = scan.ciphers.filter((c) => WEAK.test(c.name) || (c.version === "TLSv1.2" && !STRONG_TLS12.test(c.name)));
  const problems = [...old.map((p) => `accepts ${p}`), ...weak.map((c) => `accepts ${c.name} (${c.version})`)];
  assert.deepEqual(problems, [], `${vm.name}:${port}`);
  return [
    `${scan.protocols.join(", ")}; ${scan.ciphers.map((c) => c.name).join(", ")}`,
    "TLS ≥ 1.2, ECDHE + AEAD only",
  ];
}

/**
 * HAProxy's metrics and certificate ports on `vm`: from the internet the NSG drops them, and from
 * the other VNet (which AllowVnetInBound lets through) the loopback bind refuses them. A timeout or
 * a refusal alone proves nothing, so the same check shows the paths work: the host reaches the
 * public :443 on that address, the peer reaches its private :443, and each local port answers on
 * the VM's own loopback.
 */
export async function localPortsStayLocal(vm: Vm, peer: Vm): Promise<string[]> {
  const outcomes: string[] = [];
  const openFromHost = await connectOutcome(vm.publicIp!, PORTS.https);
  const openFromPeer = await vmExec(peer, [
    "curl",
    "-ksS",
    "--max-time",
    "3",
    "-o",
    "/dev/null",
    `https://${vm.privateIp}:${PORTS.https}/livez`,
  ]);
  outcomes.push(
    `host→${vm.publicIp}:${PORTS.https} ${openFromHost}`,
    `${peer.name}→${vm.privateIp}:${PORTS.https} ${openFromPeer.code === 0 ? "answered" : `curl exit ${openFromPeer.code}`}`,
  );
  assert.equal(openFromHost, "connected", `host→${vm.publicIp}:${PORTS.https}, which the NSG lets in`);
  assert.equal(openFromPeer.code, 0, `${peer.name}→${vm.privateIp}:${PORTS.https}: ${openFromPeer.stderr.trim()}`);
  for (const port of HAPROXY_LOCAL_PORTS) {
    const onLoopback = await vmExec(vm, [
      "curl",
      "-sS",
      "--max-time",
      "3",
      "-o",
      "/dev/null",
      `http://127.0.0.1:${port}/`,
    ]);
    const fromHost = await connectOutcome(vm.publicIp!, port);
    const fromPeer = await vmExec(peer, ["curl", "-sS", "--max-time", "3", `http://${vm.privateIp}:${port}/`]);
    const peerOutcome = fromPeer.code === 7 ? "ECONNREFUSED" : `curl exit ${fromPeer.code}`;
    outcomes.push(
      `${vm.name} loopback:${port} ${onLoopback.code === 0 ? "answered" : `curl exit ${onLoopback.code}`}`,
      `host→${vm.publicIp}:${port} ${fromHost}`,
      `${peer.name}→${vm.privateIp}:${port} ${peerOutcome}`,
    );
    assert.equal(
      onLoopback.code,
      0,
      `${vm.name} loopback:${port} does not answer, so a refusal from outside proves nothing: ${onLoopback.stderr.trim()}`,
    );
    assert.equal(fromHost, "ETIMEDOUT", `host→${vm.publicIp}:${port}`);
    assert.equal(peerOutcome, "ECONNREFUSED", `${peer.name}→${vm.privateIp}:${port}`);
  }
  return [
    outcomes.join("; "),
    "answers on loopback; dropped from the internet, refused from the VNets, where :443 answers",
  ];
}

// ---- counterparts: each check on its subject broken on purpose ----

/** The unit's sandboxing taken out: what a drop-in or an edit that weakens it would leave. */
const UNSANDBOXED = [
  "[Service]",
  "DynamicUser=no",
  "PrivateUsers=no",
  "PrivateTmp=no",
  "PrivateDevices=no",
  "ProtectSystem=no",
  "ProtectHome=no",
  "NoNewPrivileges=no",
  "CapabilityBoundingSet=~",
  "SystemCallFilter=",
  "RestrictAddressFamilies=",
  "RestrictNamespaces=no",
  "ProtectKernelTunables=no",
  "ProtectKernelModules=no",
  "ProtectControlGroups=no",
  "",
].join("\n");

/** flowproxy@.service as committed, less every line of its sandboxing section. */
function unsandboxedUnit(): string {
  const unit = committedUnit();
  const sandboxing = unit.indexOf("# Sandboxing:");
  const install = unit.indexOf("[Install]");
  if (sandboxing < 0 || install < sandboxing)
    throw new Error("flowproxy@.service has no '# Sandboxing:' part before [Install] to take out");
  return unit.slice(0, sandboxing) + unit.slice(install);
}

/** The exposure checks on a unit without its sandboxing: offline on the file, and on the running unit through a drop-in. */
export async function exposureCounterparts(vm: Vm): Promise<{ offline: BrokenRun[]; running: BrokenRun[] }> {
  const offline = await failureOf(() => offlineUnitExposure(unsandboxedUnit()));
  const running = await withUnitDropIn(vm, UNSANDBOXED, () => failureOf(() => runningUnitExposure(vm)));
  const above = `above ${MAX_EXPOSURE.toFixed(1)}`;
  return {
    offline: [
      { broke: "flowproxy@.service without its sandboxing lines", failure: offline, naming: [above, "--offline=yes"] },
    ],
    running: [
      {
        broke: `a drop-in that undoes the sandboxing of ${flowproxyUnit(vm)}`,
        failure: running,
        naming: [above, `${flowproxyUnit(vm)} running in ${vm.name}`],
      },
    ],
  };
}

/** A TLS 1.2 suite with CBC and no AEAD, which OpenSSL still offers when asked. */
const CBC_SUITE = "ECDHE-ECDSA-AES128-SHA256";

/** haproxy.cfg that also accepts a CBC suite on TLS 1.2, which publicTls must refuse to pass. */
export function withCbcSuite(cfg: string): string {
  const weakened = cfg.replace(/^(\s*ssl-default-bind-ciphers \S+)$/m, `$1:${CBC_SUITE}`);
  if (weakened === cfg) throw new Error("haproxy.cfg has no ssl-default-bind-ciphers line to add a CBC suite to");
  return weakened;
}

/** The TLS checks of `ports` on `vms` while their HAProxy accepts CBC_SUITE (the caller deploys that). */
export async function tlsCounterparts(vms: Vm[], ports: readonly number[]): Promise<Map<string, BrokenRun[]>> {
  const runs = new Map<string, BrokenRun[]>();
  for (const vm of vms) {
    for (const port of ports) {
      const failure = await failureOf(() => publicTls(vm, port));
      runs.set(`${vm.name}:${port}`, [
        {
          broke: `HAProxy accepting ${CBC_SUITE}`,
          failure,
          naming: [`${vm.name}:${port}`, `accepts ${CBC_SUITE} (TLSv1.2)`],
        },
      ]);
    }
  }
  return runs;
}

/** The local-ports checks while the NSG lets HAProxy's metrics port in from anywhere (the caller deploys that). */
export async function localPortsCounterparts(vms: Vm[]): Promise<Map<string, BrokenRun[]>> {
  const runs = new Map<string, BrokenRun[]>();
  for (const vm of vms) {
    const peer = vms.find((other) => other !== vm)!;
    const failure = await failureOf(() => localPortsStayLocal(vm, peer));
    runs.set(vm.name, [
      {
        broke: `the NSG opened on ${PORTS.haproxyMetrics}`,
        failure,
        naming: [`host→${vm.publicIp}:${PORTS.haproxyMetrics}`],
      },
    ]);
  }
  return runs;
}
