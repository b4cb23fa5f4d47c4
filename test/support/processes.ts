// Child processes for tests that run side by side in one process (test/unit/*.test.ts): they never
// block its event loop, so another test's server or timer keeps its time. The fields are those of
// spawnSync's and execFileSync's results.
import { runProcess, RunOptions } from "../../lib/process";

export interface Finished {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export async function spawnAsync(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<Finished> {
  const { code, signal, stdout, stderr } = await runProcess(command, args, options);
  return { status: code, signal, stdout, stderr };
}

/** The command's stdout; throws with its stderr when it fails, as execFileSync does. */
export async function execFileAsync(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  const finished = await spawnAsync(command, args, options);
  if (finished.status !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed (status ${finished.status ?? finished.signal}): ${finished.stderr.trim()}`,
    );
  }
  return finished.stdout;
}

/**
 * The command line of `command args` below normal priority. Checks that need seconds of CPU and
 * wait for nothing else (shellcheck, the type check, the policy pack's runner) run so: the
 * program's evaluations are the unit suite's critical path, and these fill the time around them.
 */
export function belowNormalPriority(command: string, args: readonly string[]): [string, string[]] {
  return ["nice", ["-n", "10", command, ...args]];
}

/** shellcheck at style severity on a script's text, as `shell`; its findings are on stdout. */
export function shellcheck(shell: "sh" | "bash", script: string): Promise<Finished> {
  return spawnAsync(...belowNormalPriority("shellcheck", [`--shell=${shell}`, "--severity=style", "-"]), {
    input: script,
  });
}
