// Running host commands and background processes for the sandbox.
import { spawn } from "child_process";
import { runProcess, RunOptions, RunResult } from "../../lib/process";
import * as fs from "fs";
import * as path from "path";
import { setTimeout as sleep } from "timers/promises";

/** Node's own timer, the one wait every layer of the sandbox uses. */
export { sleep };

/** A failure the CLI reports as one line, without a stack trace. */
export class SandboxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SandboxError";
  }
}

export type { RunOptions, RunResult };

/** Runs a host command for the sandbox; one that cannot be started is a SandboxError naming it. */
export async function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  try {
    return await runProcess(command, args, options);
  } catch (err) {
    throw new SandboxError(`cannot run ${command}: ${(err as Error).message}`);
  }
}

function describeFailure(command: string, args: readonly string[], result: RunResult): string {
  const shown = [command, ...args].join(" ");
  const what = result.timedOut
    ? "timed out"
    : result.signal
      ? `was killed by ${result.signal}`
      : `exited with status ${result.code}`;
  const lastLine = lastNonEmptyLine(result.stderr) ?? lastNonEmptyLine(result.stdout);
  const cut = shown.length > 160 ? `${shown.slice(0, 157)}...` : shown;
  return `\`${cut}\` ${what}${lastLine ? `: ${lastLine}` : ""}`;
}

/** Runs a command that must succeed and returns its stdout. */
export async function check(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new SandboxError(describeFailure(command, args, result));
  }
  return result.stdout;
}

export function lastNonEmptyLine(text: string): string | undefined {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  return lines.length > 0 ? lines[lines.length - 1] : undefined;
}

export function findOnPath(name: string): string | undefined {
  const dirs = (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin"]);
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * The fields of /proc/PID/stat after the parenthesised command name (which may itself contain
 * spaces): [0] is the state, [6] the flags. Undefined once the process is gone.
 */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function pidAlive(pid: number): boolean {
  const fields = statFields(pid);
  return fields !== undefined && fields[0] !== "Z";
}

function readCmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

// PF_KTHREAD in the flags field of /proc/PID/stat (include/linux/sched.h).
const KERNEL_THREAD_FLAG = 0x00200000;

function isKernelThread(pid: number): boolean {
  const fields = statFields(pid);
  return fields !== undefined && (Number(fields[6]) & KERNEL_THREAD_FLAG) !== 0;
}

const EXEC_SETTLE_MS = 1000;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * The process's command line. While execve replaces a process's memory, and until the new
 * program's arguments are in place, the kernel shows an empty one: a daemon just started (or one
 * that `ip netns exec` is turning into its program) reads as nameless for that moment, so an empty
 * command line is read again until the exec is done. Kernel threads have none ever.
 */
function cmdlineOf(pid: number): string {
  const deadline = Date.now() + EXEC_SETTLE_MS;
  for (;;) {
    const cmdline = readCmdline(pid);
    if (cmdline !== "" || !pidAlive(pid) || isKernelThread(pid) || Date.now() > deadline) {
      return cmdline;
    }
    Atomics.wait(pause, 0, 0, 1);
  }
}

/**
 * The PID recorded in pidFile, if that process still runs and its command line contains
 * `marker`: a recycled PID never belongs to us.
 */
export function livePid(pidFile: string, marker: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(pidFile, "utf8").trim();
  } catch {
    return undefined;
  }
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) {
    return undefined;
  }
  return cmdlineOf(pid).includes(marker) ? pid : undefined;
}

export interface DaemonOptions {
  logFile: string;
  pidFile: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts a process that outlives the CLI, its output appended to logFile, its PID in pidFile. */
export function startDaemon(command: string, args: readonly string[], options: DaemonOptions): number {
  const log = fs.openSync(options.logFile, "a", 0o600);
  try {
    const child = spawn(command, args, {
      detached: true,
      stdio: ["ignore", log, log],
      env: options.env ?? process.env,
    });
    if (child.pid === undefined) {
      throw new SandboxError(`cannot start ${command}; see ${options.logFile}`);
    }
    child.unref();
    fs.writeFileSync(options.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    fs.closeSync(log);
  }
}

/** Sends SIGTERM to our recorded process, waits for it to exit, and SIGKILLs it after the grace period. */
export async function stopDaemon(pidFile: string, marker: string, graceMs: number): Promise<boolean> {
  const pid = livePid(pidFile, marker);
  if (pid === undefined) {
    fs.rmSync(pidFile, { force: true });
    return false;
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) {
    await sleep(100);
  }
  if (pidAlive(pid)) {
    process.kill(pid, "SIGKILL");
    while (pidAlive(pid)) {
      await sleep(50);
    }
  }
  fs.rmSync(pidFile, { force: true });
  return true;
}

export function writePrivateFile(file: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

/** Replaces a file in one rename, so a reader running meanwhile sees the old content or the new, never half. */
export function writeAtomically(file: string, content: string | Buffer, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
