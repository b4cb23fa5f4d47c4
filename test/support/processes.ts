// Child processes for tests that run side by side in one process (test/unit/*.test.ts): they never
// block its event loop, so another test's server or timer keeps its time. The fields are those of
// spawnSync's and execFileSync's results.
import { run, RunOptions } from "../../sandbox/proc";

export interface Finished {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export async function spawnAsync(command: string, args: readonly string[], options: RunOptions = {}): Promise<Finished> {
  const { code, signal, stdout, stderr } = await run(command, args, options);
  return { status: code, signal, stdout, stderr };
}

/** The command's stdout; throws with its stderr when it fails, as execFileSync does. */
export async function execFileAsync(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const finished = await spawnAsync(command, args, options);
  if (finished.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (status ${finished.status ?? finished.signal}): ${finished.stderr.trim()}`);
  }
  return finished.stdout;
}
