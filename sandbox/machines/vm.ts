// The sandbox VMs: systemd-nspawn containers booting systemd, each in its own network namespace, on
// its own disk (an overlay over the cached image, so VMs share no writes and keep their state
// across reruns of `sandbox up`). Each VM runs a real Docker engine, so it boots with what dockerd
// needs from a container host: a cgroup of its own, the unified cgroup hierarchy, its network
// settings writable, and /var/lib/docker on the host's disk.
import * as fs from "fs";
import { DOUBLES_MOUNT, STATE_DIR, statePaths } from "../base/paths";
import { check, livePid, run, RunOptions, RunResult, SandboxError, sleep, startDaemon, stopDaemon } from "../base/proc";
import { netnsOf, Vm, vmsNamed, VNETS } from "../base/topology";

const BOOT_TIMEOUT_MS = 120_000;
const SHUTDOWN_GRACE_MS = 60_000;
const VM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Mount points under `prefix`, deepest first (the order to unmount them in). */
function mountsUnder(prefix: string): string[] {
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((point): point is string => point !== undefined && (point === prefix || point.startsWith(`${prefix}/`)))
    .sort((a, b) => b.length - a.length);
}

function isMounted(dir: string): boolean {
  return mountsUnder(dir).includes(dir);
}

/** Files that make a copy of the image this VM: written through the overlay before each boot. */
function vmIdentityFiles(vm: Vm): Record<string, string> {
  const vnet = VNETS[vm.vnet];
  return {
    "etc/hostname": `${vm.name}\n`,
    "etc/hosts": `127.0.0.1 localhost\n127.0.1.1 ${vm.name}\n::1 localhost ip6-localhost ip6-loopback\n`,
    // Azure's resolver for this VNet, played by the router namespace's DNS server.
    "etc/resolv.conf": `nameserver ${vnet.routerIp}\nsearch ${vnet.nicDnsSuffix}\n`,
  };
}

/** Creates (or remounts) the VM's disk; an existing disk keeps the image it was made from. */
export async function ensureDisk(vm: Vm, imageDir: string): Promise<void> {
  const files = statePaths.vm(vm.name);
  fs.mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(files.imageRef)) {
    fs.writeFileSync(files.imageRef, imageDir);
  }
  const lower = fs.readFileSync(files.imageRef, "utf8").trim();
  if (!fs.existsSync(lower)) {
    throw new SandboxError(
      `the disk of ${vm.name} was made from ${lower}, which is gone; run \`pnpm run sandbox down\` and \`up\` again`,
    );
  }
  for (const dir of [files.upper, files.work, files.root, files.docker]) {
    fs.mkdirSync(dir, { recursive: true });
  }
  if (!isMounted(files.root)) {
    await check("mount", [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${lower},upperdir=${files.upper},workdir=${files.work}`,
      files.root,
    ]);
  }
  for (const [file, content] of Object.entries(vmIdentityFiles(vm))) {
    const target = `${files.root}/${file}`;
    fs.rmSync(target, { force: true });
    fs.writeFileSync(target, content, { mode: 0o644 });
  }
  if (!fs.existsSync(`${files.root}/etc/ssh/ssh_host_ed25519_key`)) {
    // The SSH host keys of this VM alone, made once and kept with its disk, as an Azure VM's are.
    await check("ssh-keygen", ["-A", "-f", files.root]);
  }
}

const nspawnMarker = (vm: Vm) => `--machine=${vm.name}`;

function nspawnPid(vm: Vm): number | undefined {
  return livePid(statePaths.vm(vm.name).pid, nspawnMarker(vm));
}

/** The container's PID 1 as the host sees it: the systemd that systemd-nspawn started. */
export function initPid(vm: Vm): number | undefined {
  const parent = nspawnPid(vm);
  if (parent === undefined) {
    return undefined;
  }
  let children: string[];
  try {
    children = fs.readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim().split(/\s+/);
  } catch {
    return undefined;
  }
  for (const child of children.filter((c) => c !== "")) {
    try {
      if (fs.readFileSync(`/proc/${child}/comm`, "utf8").trim() === "systemd") {
        return Number(child);
      }
    } catch {
      // the child exited meanwhile
    }
  }
  return undefined;
}

function requireInit(vm: Vm): number {
  const pid = initPid(vm);
  if (pid === undefined) {
    throw new SandboxError(`${vm.name} is not running; start the sandbox with \`pnpm run sandbox up\``);
  }
  return pid;
}

/** Runs a command inside the VM as root, with a clean environment, and captures its output. */
export function vmExec(vm: Vm, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const pid = requireInit(vm);
  return run(
    "nsenter",
    ["-t", String(pid), "-a", "--", "/usr/bin/env", "-i", `PATH=${VM_PATH}`, "LANG=C.UTF-8", ...argv],
    options,
  );
}

/** Like vmExec, but fails with the command's last line of output when it exits non-zero. */
export async function vmCheck(vm: Vm, argv: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await vmExec(vm, argv, options);
  if (result.code !== 0) {
    const last = (result.stderr.trim() || result.stdout.trim()).split("\n").pop();
    throw new SandboxError(
      `${vm.name}: \`${argv.join(" ")}\` exited with status ${result.code}${last ? `: ${last}` : ""}`,
    );
  }
  return result.stdout;
}

export interface BootReport {
  state: string;
  failedUnits: string[];
  alreadyRunning: boolean;
}

async function waitForInit(vm: Vm): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (initPid(vm) === undefined) {
    if (nspawnPid(vm) === undefined) {
      throw new SandboxError(`systemd-nspawn for ${vm.name} exited; see ${statePaths.vm(vm.name).console}`);
    }
    if (Date.now() > deadline) {
      throw new SandboxError(`${vm.name} did not start systemd within 10 s; see ${statePaths.vm(vm.name).console}`);
    }
    await sleep(100);
  }
}

/** Waits until the VM's systemd has finished starting up; returns "running" or "degraded". */
async function waitForBoot(vm: Vm): Promise<string> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  for (;;) {
    // Until systemd has opened its private socket, systemctl cannot ask it and prints nothing.
    const state = await run(
      "nsenter",
      ["-t", String(requireInit(vm)), "-a", "systemctl", "is-system-running", "--wait"],
      {
        timeoutMs: Math.max(deadline - Date.now(), 1),
      },
    );
    const summary = state.stdout.trim();
    if (summary === "running" || summary === "degraded") {
      return summary;
    }
    if (state.timedOut || Date.now() > deadline || (summary !== "" && summary !== "offline")) {
      throw new SandboxError(
        `${vm.name} did not finish booting (${state.timedOut ? "timed out" : summary || "no state"}); see ${statePaths.vm(vm.name).console}`,
      );
    }
    await sleep(200);
  }
}

/**
 * The host's cgroup hierarchies a VM gets a cgroup of its own in. A systemd-booted host delegates
 * one to systemd-nspawn; on a host without systemd (hybrid cgroup v1, as on our machines) the
 * sandbox makes it, in the unified (v2) hierarchy the VM's systemd and dockerd use and in the
 * named systemd (v1) hierarchy systemd-nspawn checks.
 */
function cgroupDirs(vm: Vm): string[] {
  const roots = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"].filter((root) =>
    fs.existsSync(`${root}/cgroup.procs`),
  );
  return roots.map((root) => `${root}/flowproxy-sandbox-${vm.name}`);
}

/** Removes a cgroup and the ones the VM's systemd made below it, deepest first. */
function removeCgroup(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      removeCgroup(`${dir}/${entry.name}`);
    }
  }
  // Fails only while processes remain in it, which a stopped VM does not leave.
  fs.rmdirSync(dir);
}

function removeCgroups(vm: Vm): void {
  for (const dir of cgroupDirs(vm).filter((d) => fs.existsSync(d))) {
    removeCgroup(dir);
  }
}

/**
 * The systemd-nspawn command line of a VM, wrapped so the process moves into the VM's own cgroups
 * before it execs (and so keeps the PID the sandbox records).
 */
function nspawnCommand(vm: Vm): string[] {
  const files = statePaths.vm(vm.name);
  const nspawn = [
    "systemd-nspawn",
    "--quiet",
    `--directory=${files.root}`,
    "--boot",
    "--register=no",
    "--keep-unit",
    `--network-namespace-path=/run/netns/${netnsOf(vm)}`,
    nspawnMarker(vm),
    `--hostname=${vm.name}`,
    "--resolv-conf=off",
    "--timezone=off",
    "--link-journal=no",
    "--console=read-only",
    // dockerd creates its bridge and veth pairs and writes their sysctls (made writable below).
    "--capability=CAP_NET_ADMIN",
    // runc joins a new session keyring per container and dockerd loads BPF device filters.
    "--system-call-filter=@keyring bpf",
    `--bind=${files.docker}:/var/lib/docker`,
    `--bind-ro=${statePaths.doubles}:${DOUBLES_MOUNT}`,
  ];
  const moves = cgroupDirs(vm).map((dir) => `echo $$ > ${dir}/cgroup.procs`);
  return ["/bin/sh", "-c", [...moves, 'exec "$@"'].join(" && "), "nspawn", ...nspawn];
}

/** Boots the VM unless it runs already, and waits until its systemd has finished starting up. */
export async function bootVm(vm: Vm): Promise<BootReport> {
  const files = statePaths.vm(vm.name);
  const alreadyRunning = nspawnPid(vm) !== undefined;
  if (!alreadyRunning) {
    // What a previous boot left (after a reboot, the old payload's cgroups) goes first.
    removeCgroups(vm);
    for (const dir of cgroupDirs(vm)) {
      fs.mkdirSync(dir, { recursive: true });
    }
    const [command, ...args] = nspawnCommand(vm);
    startDaemon(command, args, {
      logFile: files.console,
      pidFile: files.pid,
      env: {
        ...process.env,
        // Docker needs cgroup v2 in the VM; the host mounts v1 controllers beside a v2 hierarchy.
        SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: "1",
        // /proc/sys/net writable: dockerd sets the VM's own forwarding and its containers' IPv6.
        SYSTEMD_NSPAWN_API_VFS_WRITABLE: "network",
      },
    });
  }
  await waitForInit(vm);
  const summary = await waitForBoot(vm);
  const failed = await vmExec(vm, ["systemctl", "list-units", "--failed", "--plain", "--no-legend"]);
  const failedUnits = failed.stdout
    .split("\n")
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((unit) => unit !== "");
  return { state: summary, failedUnits, alreadyRunning };
}

/**
 * Reboots the VM from inside, as `sudo reboot` on Azure does: systemd stops every unit, the
 * container exits with its reboot request, and the same disk boots again. Nothing reruns the
 * provisioning extension, just as Azure does not on a reboot.
 */
export async function rebootVm(vm: Vm): Promise<BootReport> {
  const before = nspawnPid(vm);
  // The command's connection to systemd may drop as the shutdown starts; what counts is the exit.
  await vmExec(vm, ["systemctl", "reboot"]);
  const deadline = Date.now() + SHUTDOWN_GRACE_MS;
  while (before !== undefined && nspawnPid(vm) === before) {
    if (Date.now() > deadline) {
      throw new SandboxError(
        `${vm.name} did not shut down within ${SHUTDOWN_GRACE_MS / 1000} s of \`systemctl reboot\``,
      );
    }
    await sleep(200);
  }
  return bootVm(vm);
}

/** Shuts the VM down cleanly (SIGTERM to systemd-nspawn) and unmounts its disk. */
export async function stopVm(vm: Vm): Promise<void> {
  const files = statePaths.vm(vm.name);
  await stopDaemon(files.pid, nspawnMarker(vm), SHUTDOWN_GRACE_MS);
  removeCgroups(vm);
  if (isMounted(files.root)) {
    await check("umount", [files.root]);
  }
}

/** The VMs whose disks the sandbox holds, whichever fleet made them, in the topology's order. */
export function vmsOnDisk(): Vm[] {
  return fs.existsSync(statePaths.vms) ? vmsNamed(fs.readdirSync(statePaths.vms)) : [];
}

/** Deletes a stopped VM's disk and state, as Azure deletes a VM with its OS disk. */
export function removeDisk(vm: Vm): void {
  const dir = statePaths.vm(vm.name).dir;
  const mounted = mountsUnder(dir);
  if (mounted.length > 0) {
    throw new SandboxError(`cannot delete ${vm.name}'s disk: still mounted: ${mounted.join(", ")}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Deletes the state directory, refusing while anything is still mounted inside it. */
export function removeState(): void {
  const mounted = mountsUnder(STATE_DIR);
  if (mounted.length > 0) {
    throw new SandboxError(`cannot delete ${STATE_DIR}: still mounted: ${mounted.join(", ")}; unmount them and retry`);
  }
  fs.rmSync(STATE_DIR, { recursive: true, force: true });
}
