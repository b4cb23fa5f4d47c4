// The running sandbox as a `pnpm run verify --sandbox` Target: the outputs the program renders for
// it, and SSH through the stack's printed commands with the sandbox's key (ssh.ts), so the verify
// walks the same code path as against Azure. It only reads the sandbox: a sandbox that is not
// running is an error, never a reason to make one (rendering would create its secrets).
import * as fs from "fs";
import { hostNetwork, remoteCommandLine, Target, VerifyError } from "../verify/target";
import { statePaths } from "./base/paths";
import { SandboxError } from "./base/proc";
import { evaluateSandboxStack, plainOutputs } from "./sandbox";
import { sshAs } from "./machines/ssh";
import { VMS } from "./base/topology";
import { initPid } from "./machines/vm";

/** Sandbox failures end the verify as one line, as its own errors do. */
async function oneLine<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (err) {
    if (err instanceof SandboxError) throw new VerifyError(`the sandbox: ${err.message}`);
    throw err;
  }
}

/** The outputs of the sandbox's last up (with the configuration that up used, monitoring on or off), or of the committed stack for a sandbox brought up before they were kept. */
async function sandboxOutputs(): Promise<Record<string, string>> {
  if (fs.existsSync(statePaths.outputs))
    return JSON.parse(fs.readFileSync(statePaths.outputs, "utf8")) as Record<string, string>;
  return plainOutputs(await evaluateSandboxStack());
}

export async function sandboxTarget(): Promise<Target> {
  if (process.getuid?.() !== 0) {
    throw new VerifyError("--sandbox reads the sandbox's state, which is root's: run it as root");
  }
  const stopped = VMS.filter((vm) => initPid(vm) === undefined).map((vm) => vm.name);
  if (stopped.length > 0 || !fs.existsSync(statePaths.secrets) || !fs.existsSync(statePaths.ssh.key)) {
    const what = stopped.length > 0 ? `${stopped.join(", ")} not running` : "no state";
    throw new VerifyError(`no sandbox is running (${what}); start one with \`pnpm run sandbox up\``);
  }
  return {
    ...hostNetwork,
    description: "the sandbox",
    outputs: await oneLine(sandboxOutputs),
    ssh: (printed, remote) => oneLine(() => sshAs(printed, [remoteCommandLine(remote)])),
  };
}
