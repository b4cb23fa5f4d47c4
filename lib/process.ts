// The one way the tooling around the program (the sandbox, verify, the tests) runs a command and
// waits for it: output collected, input given or closed, a timeout that kills it. Nothing of the
// Pulumi program itself runs commands.
import { spawn } from "child_process";

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Start it in a process group of its own and end the whole group on timeout, for a command that
   * starts others that must not outlive it (ssh's connection to a jump host).
   */
  ownProcessGroup?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs `command`; rejects only when it cannot be started, with the reason spawn gave. */
export function runProcess(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: options.ownProcessGroup ?? false,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const kill = () => {
      try {
        if (options.ownProcessGroup) process.kill(-(child.pid as number), "SIGKILL");
        else child.kill("SIGKILL");
      } catch {
        // It ended meanwhile.
      }
    };
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            kill();
          }, options.timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
        timedOut,
      });
    });
    // A child that exits without reading its input must not crash us with EPIPE.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}
