// Every secret value of the sandbox stack, searched for everywhere a secret must never be. One
// provisioning run sets every optional secret as well (a Tailscale auth key and ClickHouse
// credentials), so each kind of secret is really in use; command lines are sampled from the host for
// the whole run and a while after. Each search throws when it finds a secret, or returns where it
// looked and that it found none.
import assert from "node:assert/strict";
import { randomBytes } from "crypto";
import * as fs from "fs";
import { CUSTOM_SCRIPT_DOWNLOADS, VM_PATHS } from "../../lib/contract";
import type { Evaluation } from "../../plan/evaluation";
import { githubRequests } from "../internet";
import { servesLivez } from "../probe";
import { sleep } from "../proc";
import { up } from "../sandbox";
import { signerKeyOf } from "../stack";
import { loadOrCreateSecrets } from "../stack-config";
import { flowproxyVms, Vm, VMS } from "../topology";
import { initPid, vmCheck, vmExec } from "../vm";

interface Secret {
  name: string;
  value: string;
}

/** A text that must not hold a secret, and where it came from. */
interface Place {
  where: string;
  text: string;
}

/**
 * Samples the command line of every process in the VMs, from the host (which sees all of them),
 * every few milliseconds: short-lived commands of a provisioning run are caught too.
 */
class CmdlineSampler {
  private readonly seen = new Map<string, Set<string>>();
  private readonly namespaces = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  sweeps = 0;

  start(): void {
    for (const vm of VMS) {
      const pid = initPid(vm);
      if (pid === undefined) throw new Error(`${vm.name} is not running`);
      this.namespaces.set(fs.readlinkSync(`/proc/${pid}/ns/pid`), vm.name);
      this.seen.set(vm.name, new Set());
    }
    this.timer = setInterval(() => this.sweep(), 10);
  }

  private sweep(): void {
    for (const entry of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const vm = this.namespaces.get(fs.readlinkSync(`/proc/${entry}/ns/pid`));
        if (vm === undefined) continue;
        const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`).toString("utf8").split("\0").join(" ").trim();
        if (cmdline !== "") this.seen.get(vm)!.add(cmdline);
      } catch {
        // The process ended between readdir and read.
      }
    }
    this.sweeps++;
  }

  stop(): Map<string, Set<string>> {
    clearInterval(this.timer);
    this.sweep();
    return this.seen;
  }
}

/** Every extension's stdout and stderr in a VM, as NUL-separated name/content pairs. */
async function extensionOutputs(vm: Vm): Promise<Place[]> {
  const dump = await vmCheck(vm, [
    "sh",
    "-c",
    'for f in "$1"/*/stdout "$1"/*/stderr; do [ -f "$f" ] && printf "%s\\0" "$f" && cat "$f" && printf "\\0"; done; true',
    "sh",
    CUSTOM_SCRIPT_DOWNLOADS,
  ]);
  const parts = dump.split("\0");
  const places: Place[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    places.push({ where: `${vm.name}:${parts[i]}`, text: parts[i + 1] });
  }
  return places;
}

/**
 * Greps every world-readable file of the VM's disk (find / -xdev, /proc and /sys pruned) for the
 * secrets, which travel on stdin into a 0600 file of a 0700 directory, outside what is searched.
 */
async function worldReadableHits(vm: Vm, secrets: Secret[]): Promise<{ files: number; hits: string[] }> {
  const script = [
    "umask 077",
    'work=$(mktemp -d /root/secret-scan.XXXXXX) && trap \'rm -rf "$work"\' EXIT',
    'cat > "$work/patterns"',
    'find / -xdev \\( -path /proc -o -path /sys \\) -prune -o -type f -perm -o+r -print0 > "$work/files"',
    'tr -cd "\\0" < "$work/files" | wc -c',
    'xargs -0 -r grep -lsF -f "$work/patterns" -- < "$work/files" || true',
  ].join("\n");
  const output = await vmCheck(vm, ["bash", "-c", script], { input: secrets.map((s) => s.value).join("\n") + "\n", timeoutMs: 300_000 });
  const [count, ...hits] = output.split("\n").filter((line) => line !== "");
  return { files: Number(count), hits };
}

function hitsIn(places: Place[], secrets: Secret[]): string[] {
  return places.flatMap((place) => secrets.filter((s) => place.text.includes(s.value)).map((s) => `${s.name} in ${place.where}`));
}

/** What a search found: where it looked, and no hit (or it throws naming each). */
function noHits(places: string, hits: string[]): string[] {
  assert.deepEqual(hits, [], `secrets found: ${hits.join("; ")}`);
  return [places, "0"];
}

/** The sandbox provisioned with every secret set, and what was sampled while it was. */
export class SecretScan {
  private readonly extra = {
    tailscaleAuthKey: `tskey-auth-${randomBytes(12).toString("hex")}`,
    clickhouseHost: "https://clickhouse.sandbox.invalid:8443",
    clickhouseDatabase: "buildernet",
    clickhouseUsername: "flowproxy",
    clickhousePassword: randomBytes(18).toString("base64url"),
  };
  private readonly sampler = new CmdlineSampler();
  private stack?: Evaluation;
  private cmdlines = new Map<string, Set<string>>();
  private secrets: Secret[] = [];

  /** One provisioning run of the whole sandbox with every secret set, command lines sampled throughout. */
  async provision(): Promise<void> {
    this.sampler.start();
    try {
      this.stack = (await up({ overrides: this.extra })).stack;
      for (const vm of flowproxyVms()) await servesLivez(vm);
      // The services as they run from now on, sampled a while longer.
      await sleep(3000);
    } finally {
      this.cmdlines = this.sampler.stop();
    }
    this.secrets = [
      { name: "githubToken", value: loadOrCreateSecrets().githubToken },
      ...flowproxyVms().map((vm) => ({ name: `signer key of ${vm.name}`, value: signerKeyOf(this.stack!, vm.name).slice(2) })),
      { name: "tailscaleAuthKey", value: this.extra.tailscaleAuthKey },
      { name: "clickhousePassword", value: this.extra.clickhousePassword },
    ];
  }

  /** Every kind of secret was really in use, so finding none means something. */
  async secretsInUse(): Promise<string[]> {
    const joined = await Promise.all(VMS.map(async (vm) => (await vmExec(vm, ["tailscale", "status"])).code === 0));
    const credentials = await Promise.all(
      flowproxyVms().map(async (vm) => (await vmExec(vm, ["grep", "-c", "^CLICKHOUSE_PASSWORD=", VM_PATHS.flowproxyEnv])).stdout.trim() === "1"),
    );
    assert.ok(joined.every(Boolean) && credentials.every(Boolean), "a secret was not in use, so the scan proves less");
    return [
      `${joined.filter(Boolean).length}/${VMS.length} VMs joined the tailnet double; ${credentials.filter(Boolean).length}/${flowproxyVms().length} flowproxy.env files hold the ClickHouse password; ${this.secrets.length} secret values searched`,
      "—",
    ];
  }

  async publicSettings(): Promise<string[]> {
    const stack = this.stack!;
    const places: Place[] = [
      ...stack.extensions.map((e) => ({ where: `settings of ${e.vmName}`, text: JSON.stringify(e.publicSettings ?? null) })),
      ...stack.extensions.map((e) => ({ where: `forceUpdateTag of ${e.vmName}`, text: e.forceUpdateTag })),
      ...Object.entries(stack.outputs).map(([name, output]) => ({ where: `output ${name}`, text: JSON.stringify(output.value) })),
    ];
    return noHits(`${places.length} (${stack.extensions.length} settings, ${stack.extensions.length} tags, ${Object.keys(stack.outputs).length} outputs)`, hitsIn(places, this.secrets));
  }

  async extensionOutputs(): Promise<string[]> {
    const places = (await Promise.all(VMS.map(extensionOutputs))).flat();
    return noHits(`${places.length} files on ${VMS.length} VMs`, hitsIn(places, this.secrets));
  }

  async journals(): Promise<string[]> {
    const places = await Promise.all(VMS.map(async (vm) => ({ where: `journal of ${vm.name}`, text: await vmCheck(vm, ["journalctl", "--no-pager", "-o", "cat"]) })));
    const lines = places.reduce((n, p) => n + p.text.split("\n").length, 0);
    return noHits(`${places.length} journals, ${lines} lines`, hitsIn(places, this.secrets));
  }

  async commandLines(): Promise<string[]> {
    const places = [...this.cmdlines].flatMap(([vm, set]) => [...set].map((text) => ({ where: `a ${text.split(" ")[0]} process of ${vm}`, text })));
    return noHits(`${places.length} distinct command lines in ${this.sampler.sweeps} sweeps of /proc`, hitsIn(places, this.secrets));
  }

  async worldReadableFiles(): Promise<string[]> {
    const results = await Promise.all(VMS.map(async (vm) => ({ vm, ...(await worldReadableHits(vm, this.secrets)) })));
    const hits = results.flatMap((r) => r.hits.map((file) => `a secret in ${r.vm.name}:${file}`));
    return noHits(`${results.reduce((n, r) => n + r.files, 0)} files on ${VMS.length} VMs`, hits);
  }

  async githubDoubleLog(): Promise<string[]> {
    const places = githubRequests().map((r) => ({ where: `request ${r.time}`, text: JSON.stringify(r) }));
    return noHits(`${places.length} requests`, hitsIn(places, this.secrets));
  }
}
