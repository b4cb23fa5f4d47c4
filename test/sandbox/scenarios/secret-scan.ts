// Every secret value of the sandbox stack, searched for everywhere a secret must never be. One
// provisioning run sets every optional secret as well (a Tailscale auth key and ClickHouse
// credentials) and logs every VM in to Docker Hub again, so each kind of secret is really in use; command lines are sampled from the host for
// the whole run and a while after. Each search throws when it finds a secret, or returns where it
// looked and that it found none.
import assert from "node:assert/strict";
import { randomBytes } from "crypto";
import * as fs from "fs";
import { CUSTOM_SCRIPT_DOWNLOADS, VM_PATHS } from "../../../lib/contract";
import type { Evaluation } from "../../../plan/evaluation";
import { githubRequests } from "../../../sandbox/internet/github";
import { servesLivez } from "../../../sandbox/probe";
import { sleep } from "../../../sandbox/base/proc";
import { up } from "../../../sandbox/sandbox";
import { signerKeyOf } from "../../../sandbox/azure/stack";
import { loadOrCreateSecrets } from "../../../sandbox/internet/stack-config";
import { flowproxyVms, Vm, VMS } from "../../../sandbox/base/topology";
import { initPid, vmCheck, vmExec } from "../../../sandbox/machines/vm";
import { BrokenRun, failureOf } from "./broken";

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
    "work=$(mktemp -d /root/secret-scan.XXXXXX) && trap 'rm -rf \"$work\"' EXIT",
    'cat > "$work/patterns"',
    'find / -xdev \\( -path /proc -o -path /sys \\) -prune -o -type f -perm -o+r -print0 > "$work/files"',
    'tr -cd "\\0" < "$work/files" | wc -c',
    'xargs -0 -r grep -lsF -f "$work/patterns" -- < "$work/files" || true',
  ].join("\n");
  const output = await vmCheck(vm, ["bash", "-c", script], {
    input: secrets.map((s) => s.value).join("\n") + "\n",
    timeoutMs: 300_000,
  });
  const [count, ...hits] = output.split("\n").filter((line) => line !== "");
  return { files: Number(count), hits };
}

function hitsIn(places: Place[], secrets: Secret[]): string[] {
  return places.flatMap((place) =>
    secrets.filter((s) => place.text.includes(s.value)).map((s) => `${s.name} in ${place.where}`),
  );
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
  private sweeps = 0;
  private stackSecrets: Secret[] = [];
  /** A value made for a counterpart, searched for like the stack's secrets while it is planted. */
  private canary?: Secret;

  private get secrets(): Secret[] {
    return this.canary ? [...this.stackSecrets, this.canary] : this.stackSecrets;
  }

  /** One provisioning run of the whole sandbox with every secret set, command lines sampled throughout. */
  async provision(): Promise<void> {
    // Logged out of Docker Hub, so this run logs every VM in again with the token, sampled.
    await Promise.all(VMS.map((vm) => vmExec(vm, ["docker", "logout"])));
    this.sampler.start();
    try {
      this.stack = (await up({ overrides: this.extra })).stack;
      for (const vm of flowproxyVms()) await servesLivez(vm);
      // The services as they run from now on, sampled a while longer.
      await sleep(3000);
    } finally {
      this.cmdlines = this.sampler.stop();
      this.sweeps = this.sampler.sweeps;
    }
    const secrets = loadOrCreateSecrets();
    this.stackSecrets = [
      { name: "githubToken", value: secrets.githubToken },
      ...flowproxyVms().map((vm) => ({
        name: `signer key of ${vm.name}`,
        value: signerKeyOf(this.stack!, vm.name).slice(2),
      })),
      { name: "tailscaleAuthKey", value: this.extra.tailscaleAuthKey },
      { name: "clickhousePassword", value: this.extra.clickhousePassword },
      { name: "dockerHubToken", value: secrets.dockerHubToken },
      // The docker client keeps the login as base64 of "user:token", as good as the token itself.
      {
        name: "dockerHubToken as the docker client stores it",
        value: Buffer.from(`${secrets.dockerHubUsername}:${secrets.dockerHubToken}`).toString("base64"),
      },
    ];
  }

  /** Every kind of secret was really in use, so finding none means something. */
  async secretsInUse(): Promise<string[]> {
    const joined = await Promise.all(VMS.map(async (vm) => (await vmExec(vm, ["tailscale", "status"])).code === 0));
    const credentials = await Promise.all(
      flowproxyVms().map(
        async (vm) =>
          (await vmExec(vm, ["grep", "-c", "^CLICKHOUSE_PASSWORD=", VM_PATHS.flowproxyEnv])).stdout.trim() === "1",
      ),
    );
    const loggedIn = await Promise.all(
      VMS.map(
        async (vm) =>
          (await vmExec(vm, ["grep", "-c", "index.docker.io", "/root/.docker/config.json"])).stdout.trim() === "1",
      ),
    );
    const unused = [
      ...VMS.filter((_, i) => !joined[i]).map((vm) => `${vm.name} has not joined the tailnet (tailscale status)`),
      ...VMS.filter((_, i) => !loggedIn[i]).map((vm) => `${vm.name} holds no Docker Hub login`),
      ...flowproxyVms()
        .filter((_, i) => !credentials[i])
        .map((vm) => `${vm.name}'s flowproxy.env holds no ClickHouse password`),
    ];
    assert.deepEqual(unused, [], `a secret was not in use, so the scan proves less: ${unused.join("; ")}`);
    return [
      `${joined.filter(Boolean).length}/${VMS.length} VMs joined the tailnet double; ${loggedIn.filter(Boolean).length}/${VMS.length} VMs logged in to Docker Hub; ${credentials.filter(Boolean).length}/${flowproxyVms().length} flowproxy.env files hold the ClickHouse password; ${this.secrets.length} secret values searched`,
      "—",
    ];
  }

  async publicSettings(): Promise<string[]> {
    const stack = this.stack!;
    const places: Place[] = [
      ...stack.extensions.map((e) => ({
        where: `settings of ${e.vmName}`,
        text: JSON.stringify(e.publicSettings ?? null),
      })),
      ...stack.extensions.map((e) => ({ where: `forceUpdateTag of ${e.vmName}`, text: e.forceUpdateTag })),
      ...Object.entries(stack.outputs).map(([name, output]) => ({
        where: `output ${name}`,
        text: JSON.stringify(output.value),
      })),
    ];
    return noHits(
      `${places.length} (${stack.extensions.length} settings, ${stack.extensions.length} tags, ${Object.keys(stack.outputs).length} outputs)`,
      hitsIn(places, this.secrets),
    );
  }

  async extensionOutputs(): Promise<string[]> {
    const places = (await Promise.all(VMS.map(extensionOutputs))).flat();
    return noHits(`${places.length} files on ${VMS.length} VMs`, hitsIn(places, this.secrets));
  }

  async journals(): Promise<string[]> {
    const places = await Promise.all(
      VMS.map(async (vm) => ({
        where: `journal of ${vm.name}`,
        text: await vmCheck(vm, ["journalctl", "--no-pager", "-o", "cat"]),
      })),
    );
    const lines = places.reduce((n, p) => n + p.text.split("\n").length, 0);
    return noHits(`${places.length} journals, ${lines} lines`, hitsIn(places, this.secrets));
  }

  async commandLines(): Promise<string[]> {
    const places = [...this.cmdlines].flatMap(([vm, set]) =>
      [...set].map((text) => ({ where: `a ${text.split(" ")[0]} process of ${vm}`, text })),
    );
    return noHits(
      `${places.length} distinct command lines in ${this.sweeps} sweeps of /proc`,
      hitsIn(places, this.secrets),
    );
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

  /**
   * The counterparts of the checks above: each is run again with its subject broken on purpose. A
   * canary value, searched for like the stack's secrets, is put where a search looks (through the
   * same way a leak would get there), and the search must name it there; a secret taken out of use
   * must fail the check that says they were in use. Each plant is removed afterwards.
   */
  async counterparts(): Promise<Record<SecretScanCheck, BrokenRun[]>> {
    const [east] = flowproxyVms();
    const canary: Secret = { name: "a planted canary", value: `canary-${randomBytes(12).toString("hex")}` };
    const found = (where: string) => [`${canary.name} in ${where}`];
    this.canary = canary;
    try {
      const stack = this.stack!;
      this.stack = {
        ...stack,
        outputs: { ...stack.outputs, canaryOutput: { value: `ssh -i ${canary.value}`, secret: false } },
      };
      const publicSettings = await failureOf(() => this.publicSettings()).finally(() => (this.stack = stack));

      const canaryRun = `${CUSTOM_SCRIPT_DOWNLOADS}/secret-scan-canary`;
      await vmCheck(east, [
        "sh",
        "-c",
        'mkdir -p "$1" && printf "%s\\n" "$2" > "$1/stdout"',
        "sh",
        canaryRun,
        canary.value,
      ]);
      const extensionOutputs = await failureOf(() => this.extensionOutputs()).finally(() =>
        vmCheck(east, ["rm", "-rf", canaryRun]),
      );

      await vmCheck(east, ["logger", "-t", "secret-scan", canary.value]);
      const journals = await failureOf(() => this.journals());

      const cmdlines = this.cmdlines;
      const sampler = new CmdlineSampler();
      sampler.start();
      await vmCheck(east, ["sh", "-c", "sleep 1", canary.value]).finally(() => (this.cmdlines = sampler.stop()));
      const commandLines = await failureOf(() => this.commandLines()).finally(() => (this.cmdlines = cmdlines));

      const canaryFile = "/var/tmp/secret-scan-canary";
      await vmCheck(east, ["sh", "-c", 'printf "%s\\n" "$1" > "$2" && chmod 644 "$2"', "sh", canary.value, canaryFile]);
      const worldReadableFiles = await failureOf(() => this.worldReadableFiles()).finally(() =>
        vmCheck(east, ["rm", "-f", canaryFile]),
      );

      // A request whose path carries the value, as a token in a URL would.
      await vmExec(east, ["curl", "-sk", "-o", "/dev/null", `https://api.github.com/secret-scan/${canary.value}`]);
      const githubDoubleLog = await failureOf(() => this.githubDoubleLog());

      this.canary = undefined;
      await vmCheck(east, ["systemctl", "stop", "tailscaled"]);
      const secretsInUse = await failureOf(() => this.secretsInUse()).finally(() =>
        vmCheck(east, ["systemctl", "start", "tailscaled"]),
      );

      return {
        secretsInUse: [
          {
            broke: `tailscaled stopped on ${east.name}`,
            failure: secretsInUse,
            naming: [`${east.name} has not joined the tailnet`],
          },
        ],
        publicSettings: [
          { broke: "the canary in a stack output", failure: publicSettings, naming: found("output canaryOutput") },
        ],
        extensionOutputs: [
          {
            broke: "the canary in an extension's stdout",
            failure: extensionOutputs,
            naming: found(`${east.name}:${canaryRun}/stdout`),
          },
        ],
        journals: [
          { broke: "the canary logged with logger", failure: journals, naming: found(`journal of ${east.name}`) },
        ],
        commandLines: [
          {
            broke: "the canary on a command line",
            failure: commandLines,
            naming: [`${canary.name} in a sh process of ${east.name}`],
          },
        ],
        worldReadableFiles: [
          {
            broke: "the canary in a 0644 file",
            failure: worldReadableFiles,
            naming: [`a secret in ${east.name}:${canaryFile}`],
          },
        ],
        githubDoubleLog: [{ broke: "the canary in a request's path", failure: githubDoubleLog, naming: [canary.name] }],
      };
    } finally {
      this.canary = undefined;
    }
  }
}

/** The checks of the scan, by the name of the SecretScan method that makes each. */
export type SecretScanCheck =
  | "secretsInUse"
  | "publicSettings"
  | "extensionOutputs"
  | "journals"
  | "commandLines"
  | "worldReadableFiles"
  | "githubDoubleLog";
