// The sandbox as a whole: bring it up, provision it with the program's extensions, report on it,
// tear it down. The CLI and the end-to-end suite both drive it through these functions.
import * as fs from "fs";
import * as path from "path";
import { osProfileOf, provisionFromOsProfile } from "./azure/azure-agent";
import { buildDoubles } from "./internet/doubles";
import { configurationIsNew, ExtensionRun, runExtension, runHistory } from "./azure/extension";
import {
  ensureDockerHubContent,
  DockerHubImage,
  dockerHubFrontPid,
  readDockerHubImages,
  startDockerHub,
  stopDockerHub,
} from "./internet/docker-hub";
import { ensureImage } from "./machines/image";
import { githubPid, startInternet, stopInternet } from "./internet/github";
import { applyNsgs } from "./networks/nsg";
import { autoShutdownSchedules } from "./azure/schedules";
import {
  destroyNetwork,
  ensureNetwork,
  networkStatus,
  NetworkStatus,
  removeVmNetwork,
  startDns,
  startOutbound,
} from "./networks/network";
import { STATE_DIR, statePaths } from "./base/paths";
import { findOnPath, formatSeconds, pidAlive, SandboxError, writeAtomically } from "./base/proc";
import { PORTS } from "../lib/contract";
import type { Evaluation, EvaluationRequest } from "../plan/evaluation";
import { evaluateForSandbox, extensionBatches, vmsOfRequest } from "./azure/stack";
import { loadOrCreateSecrets, sandboxRequest } from "./internet/stack-config";
import { DOCKER_HUB, INTERNET, Vm, vmByName, VMS } from "./base/topology";
import {
  bootVm,
  BootReport,
  ensureDisk,
  initPid,
  removeDisk,
  removeState,
  stopVm,
  vmExec,
  vmsOnDisk,
} from "./machines/vm";

export type Log = (line: string) => void;

/** Host programs the sandbox runs, and the Debian package that provides each. */
const HOST_TOOLS: readonly [string, string][] = [
  ["debootstrap", "debootstrap"],
  ["systemd-nspawn", "systemd-container"],
  ["dnsmasq", "dnsmasq-base"],
  ["ip", "iproute2"],
  ["nft", "nftables"],
  ["nsenter", "util-linux"],
  ["openssl", "openssl"],
  // Docker Hub's images are made from Debian packages (sandbox/internet/docker-hub-images.ts).
  ["mmdebstrap", "mmdebstrap"],
  ["umoci", "umoci"],
  ["skopeo", "skopeo"],
  ["tar", "tar"],
  // The sandbox's key pair, and the suite's logins through the stack's ssh outputs.
  ["ssh-keygen", "openssh-client"],
  ["ssh", "openssh-client"],
];

function checkHost(): void {
  if (process.getuid?.() !== 0) {
    throw new SandboxError("the sandbox needs root (network namespaces, mounts, systemd-nspawn); run it as root");
  }
  const missing = HOST_TOOLS.filter(([tool]) => findOnPath(tool) === undefined);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map(([, pkg]) => pkg))];
    throw new SandboxError(
      `missing ${missing.map(([tool, pkg]) => `${tool} (Debian package ${pkg})`).join(", ")}; ` +
        `install with: apt-get install -y ${packages.join(" ")}`,
    );
  }
}

const LOCK_FILE = path.join(STATE_DIR, "lock");

/** One sandbox command at a time; a lock left by a dead process is taken over. */
async function withLock<T>(action: () => Promise<T>): Promise<T> {
  fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(LOCK_FILE, String(process.pid), { flag: "wx" });
  } catch {
    const holder = Number(fs.readFileSync(LOCK_FILE, "utf8"));
    if (pidAlive(holder)) {
      throw new SandboxError(`another sandbox command (PID ${holder}) is running; wait for it to finish`);
    }
    fs.writeFileSync(LOCK_FILE, String(process.pid));
  }
  try {
    return await action();
  } finally {
    fs.rmSync(LOCK_FILE, { force: true });
  }
}

class Steps {
  private index = 0;

  constructor(
    private readonly total: number,
    private readonly log: Log,
  ) {}

  async run<T>(title: string, action: () => Promise<T>, describe: (value: T) => string = () => ""): Promise<T> {
    this.index++;
    const label = `[${this.index}/${this.total}]`;
    this.log(`${label} ${title}`);
    const started = Date.now();
    const value = await action();
    const detail = describe(value);
    this.log(
      `${" ".repeat(label.length)} done in ${formatSeconds(Date.now() - started)}${detail ? `: ${detail}` : ""}`,
    );
    return value;
  }
}

function indent(text: string, prefix: string): string {
  return text
    .trimEnd()
    .split("\n")
    .map((line) => `${prefix}${line}`)
    .join("\n");
}

function describeRun(run: ExtensionRun): string {
  const how = run.exitCode !== null ? `exit ${run.exitCode}` : run.result;
  return `${run.vmName}: ${how} in ${formatSeconds(run.durationMs)} (download/${run.seq}${run.settingsChanged ? "" : ", settings unchanged"})`;
}

/** What Azure would put in the extension status: the ends of stdout and stderr. */
function describeFailedRun(run: ExtensionRun): string {
  return [
    `${run.vmName}: the CustomScript extension failed (${run.exitCode !== null ? `exit ${run.exitCode}` : run.result}); Azure would show:`,
    "  stdout (last 4 KiB):",
    indent(run.stdoutTail || "(empty)", "    "),
    "  stderr (last 4 KiB):",
    indent(run.stderrTail || "(empty)", "    "),
  ].join("\n");
}

/**
 * Runs every extension of the rendered stack in dependency order (BuilderHub's first: the others
 * register with it); a batch runs in parallel, and a failure stops the ones that wait for it. With
 * `onlyNew`, only the extensions whose configuration the VM has not run yet, as Azure runs them.
 */
export async function provision(
  stack: Evaluation,
  log: Log = () => undefined,
  onlyNew = false,
): Promise<ExtensionRun[]> {
  const runs: ExtensionRun[] = [];
  const extensions = onlyNew
    ? stack.extensions.filter((e) => configurationIsNew(vmByName(e.vmName), e))
    : stack.extensions;
  for (const batch of extensionBatches(extensions)) {
    const results = await Promise.all(batch.map((e) => runExtension(vmByName(e.vmName), e)));
    for (const result of results) {
      log(`      ${describeRun(result)}`);
    }
    runs.push(...results);
    const failed = results.filter((r) => r.exitCode !== 0);
    if (failed.length > 0) {
      throw new SandboxError(failed.map(describeFailedRun).join("\n"));
    }
  }
  return runs;
}

export interface StackOptions {
  /** Stack configuration values to change, by unqualified key (e.g. haProxyVersion). */
  overrides?: Record<string, string>;
  /** A copy of the program to evaluate instead of this checkout (plan/evaluate.ts withEditedProject). */
  projectDir?: string;
}

/** Orders dotted version numbers ("2.6.12" before "3.0.11"). */
function compareVersions(a: string, b: string): number {
  const [x, y] = [a.split(".").map(Number), b.split(".").map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const difference = (x[i] ?? 0) - (y[i] ?? 0);
    if (difference !== 0) {
      return difference;
    }
  }
  return 0;
}

/** The haproxy images the sandbox's Docker Hub serves, newest version first. */
export function haproxyImages(): DockerHubImage[] {
  return readDockerHubImages()
    .filter((image) => image.repository === "library/haproxy")
    .sort((a, b) => compareVersions(b.tag, a.tag));
}

/** The stack configuration the sandbox deploys with these options: the newest HAProxy its Docker Hub serves, unless a test overrides it. */
function sandboxStackRequest(options: StackOptions): EvaluationRequest {
  return sandboxRequest(loadOrCreateSecrets(), haproxyImages()[0].tag, options.overrides);
}

/** The program's view of the sandbox: its extensions, DNS records and outputs, for these options. */
export function evaluateSandboxStack(options: StackOptions = {}): Promise<Evaluation> {
  return evaluateForSandbox(sandboxStackRequest(options), options.projectDir);
}

export interface UpOptions extends StackOptions {
  /** Leave a half-made sandbox in place for debugging instead of removing it. */
  keepOnFailure?: boolean;
  /**
   * Run only the extensions whose configuration is new to their VM, as Azure does after `pulumi up`;
   * by default every extension runs again, to try a change of its scripts.
   */
  onlyNewConfigurations?: boolean;
  log?: Log;
}

export interface UpReport {
  stack: Evaluation;
  boots: Record<string, BootReport>;
  runs: ExtensionRun[];
  /** The VMs removed because the stack no longer declares them. */
  removed: string[];
}

/** The VMs of the stack are the fleet its region table makes; anything else means the two disagree. */
function checkVmsDeclared(stack: Evaluation, vms: readonly Vm[]): void {
  const declared = stack.extensions.map((e) => e.vmName).sort();
  const planned = vms.map((vm) => vm.name).sort();
  if (declared.join(" ") !== planned.join(" ")) {
    throw new SandboxError(
      `the program declares the VMs ${declared.join(", ")}, but the sandbox's fleet of the same regions is ${planned.join(", ")}`,
    );
  }
}

/** Stops a VM the stack no longer declares and deletes it with its network and disk. */
async function removeVm(vm: Vm): Promise<void> {
  await stopVm(vm);
  await removeVmNetwork(vm);
  removeDisk(vm);
}

async function bringUp(options: UpOptions, log: Log): Promise<UpReport> {
  const steps = new Steps(9, log);
  const secrets = loadOrCreateSecrets();
  await steps.run("Building the test doubles", async () => buildDoubles());
  const inUse = new Set(
    vmsOnDisk()
      .map((vm) => statePaths.vm(vm.name).imageRef)
      .filter((f) => fs.existsSync(f))
      .map((f) => fs.readFileSync(f, "utf8").trim()),
  );
  // Both are mostly downloads and unpacking from Debian's archive, so they overlap well.
  const [image] = await steps.run(
    "Preparing the VM image (Debian trixie) and Docker Hub's images (Debian packages)",
    () => Promise.all([ensureImage(inUse), ensureDockerHubContent()]),
    ([i, dockerHub]) =>
      `${i.built ? "built" : "reused"} ${i.dir}; ${dockerHub.built ? "built" : "reused"} ${dockerHub.images.map((h) => h.reference).join(", ")}`,
  );
  // The request names the HAProxy image Docker Hub's content serves, ready from here on.
  const request = sandboxStackRequest(options);
  const vms = vmsOfRequest(request);
  const { evaluated: stack } = await steps.run(
    "Evaluating the program for the sandbox",
    async () => {
      const evaluated = await evaluateForSandbox(request, options.projectDir);
      checkVmsDeclared(evaluated, vms);
      // Azure refuses a schedule it cannot take when `pulumi up` creates it; the sandbox, before anything.
      return { evaluated, schedules: autoShutdownSchedules(evaluated).length };
    },
    ({ evaluated: s, schedules }) =>
      `${s.extensions.length} extensions, ${s.dnsRecords.length} A and ${s.reverseRecords.length} PTR records, ${schedules} auto-shutdown schedules (checked, not run)`,
  );
  await steps.run("Creating the networks, the NSGs, DNS and outbound access", async () => {
    await ensureNetwork(vms);
    await applyNsgs(stack, vms);
    await startDns(stack, vms);
    await startOutbound();
  });
  await steps.run(
    `Starting the internet doubles on ${INTERNET.hostIp} and Docker Hub on ${DOCKER_HUB.hostIp}`,
    async () => {
      await startInternet(secrets);
      await startDockerHub(secrets);
    },
  );
  const boots = await steps.run(
    "Booting the VMs",
    async () => {
      const reports = await Promise.all(
        vms.map(async (vm) => {
          await ensureDisk(vm, image.dir);
          return [vm.name, await bootVm(vm)] as const;
        }),
      );
      return Object.fromEntries(reports);
    },
    (reports) =>
      Object.entries(reports)
        .map(
          ([name, r]) =>
            `${name} ${r.alreadyRunning ? "was running" : "booted"} (${r.state}${r.failedUnits.length ? `; failed: ${r.failedUnits.join(", ")}` : ""})`,
        )
        .join("; "),
  );
  await steps.run(
    "Provisioning each new VM from its osProfile, as Azure does",
    async () => Promise.all(vms.map((vm) => provisionFromOsProfile(vm, osProfileOf(stack, vm)))),
    (done) => {
      const names = vms.filter((_, i) => done[i]).map((vm) => vm.name);
      return names.length > 0 ? `provisioned ${names.join(", ")}` : "every VM was provisioned before";
    },
  );
  const runs = await steps.run(
    options.onlyNewConfigurations
      ? "Running the CustomScript extensions whose configuration is new, as Azure does"
      : "Running the CustomScript extensions",
    () => provision(stack, log, options.onlyNewConfigurations),
  );
  // Pulumi deletes what the program no longer declares after its creates and updates.
  const removed = await steps.run(
    "Removing the VMs the stack no longer declares",
    async () => {
      const leaving = vmsOnDisk().filter((vm) => !vms.some((kept) => kept.name === vm.name));
      for (const vm of leaving) await removeVm(vm);
      return leaving.map((vm) => vm.name);
    },
    (names) => (names.length > 0 ? `removed ${names.join(", ")}` : "none"),
  );
  writeAtomically(statePaths.outputs, JSON.stringify(plainOutputs(stack), null, 2), 0o600);
  return { stack, boots, runs, removed };
}

/** A stack's outputs without the secret ones, as text: what an operator reads with `pulumi stack output`. */
export function plainOutputs(stack: Evaluation): Record<string, string> {
  return Object.fromEntries(
    Object.entries(stack.outputs)
      .filter(([, o]) => !o.secret)
      .map(([key, o]) => [key, String(o.value)]),
  );
}

export async function up(options: UpOptions = {}): Promise<UpReport> {
  const log = options.log ?? (() => undefined);
  checkHost();
  return withLock(async () => {
    try {
      return await bringUp(options, log);
    } catch (err) {
      if (!options.keepOnFailure) {
        log("Removing the sandbox after the failure (keep it with --keep-on-failure)");
        await tearDown().catch((cleanup: Error) => log(`Removing the sandbox failed too: ${cleanup.message}`));
      }
      throw err;
    }
  });
}

/** The VMs the sandbox holds, or its own fleet when it holds none. */
function sandboxVms(): Vm[] {
  const onDisk = vmsOnDisk();
  return onDisk.length > 0 ? onDisk : [...VMS];
}

async function tearDown(): Promise<void> {
  await Promise.all(vmsOnDisk().map(stopVm));
  await stopInternet();
  await stopDockerHub();
  await destroyNetwork();
  removeState();
}

/** Stops and deletes everything but the image cache; safe when nothing exists. */
export async function down(): Promise<void> {
  checkHost();
  await withLock(tearDown);
}

interface VmStatus {
  name: string;
  running: boolean;
  systemState?: string;
  lastRun?: { seq: number; exitCode: number | null; result: string; at: string };
}

export interface SandboxStatus {
  vms: VmStatus[];
  network: NetworkStatus;
  githubDouble?: number;
  dockerHub?: number;
}

export async function status(): Promise<SandboxStatus> {
  checkHost();
  const vms = await Promise.all(
    sandboxVms().map(async (vm): Promise<VmStatus> => {
      const running = initPid(vm) !== undefined;
      const history = fs.existsSync(statePaths.vm(vm.name).dir) ? runHistory(vm) : [];
      const last = history[history.length - 1];
      return {
        name: vm.name,
        running,
        systemState: running ? (await vmExec(vm, ["systemctl", "is-system-running"])).stdout.trim() : undefined,
        lastRun: last && { seq: last.seq, exitCode: last.exitCode, result: last.result, at: last.at },
      };
    }),
  );
  return { vms, network: await networkStatus(), githubDouble: githubPid(), dockerHub: dockerHubFrontPid() };
}

/** Commands to try the deployed endpoints from the host. */
export function endpointHints(): string[] {
  const bundle = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "eth_sendBundle",
    params: [{ txs: [], blockNumber: "0x1" }],
  });
  return sandboxVms()
    .filter((vm): vm is Vm & { publicIp: string } => vm.publicIp !== undefined)
    .flatMap((vm) => [
      `# ${vm.name} (self-signed certificate, hence -k)`,
      `curl -sk https://${vm.publicIp}:${PORTS.https}/livez`,
      `curl -sk https://${vm.publicIp}:${PORTS.https}/ -H 'content-type: application/json' -d '${bundle}'`,
      `curl -sk https://${vm.publicIp}:${PORTS.system}/livez`,
    ]);
}
