// A deployed stack as a verify Target: its outputs from `pulumi stack output --json`, SSH as the
// user's own ssh would log in (their config, agent and known hosts), with BatchMode so that a
// missing key or an unknown host key fails at once instead of prompting.
import { PROJECT_DIR } from "../plan/evaluation";
import {
  CommandResult,
  hostNetwork,
  lastLine,
  remoteCommandLine,
  runCommand,
  sshArguments,
  Target,
  VerifyError,
} from "./target";

const PULUMI_TIMEOUT_MS = 120_000;
const SSH_TIMEOUT_MS = 30_000;
const SSH_OPTIONS = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"];

const stackName = (stack: string | undefined) => (stack === undefined ? "the selected stack" : `stack ${stack}`);

/** The one-line reason `pulumi stack output` failed, with what to do about it. */
export function describePulumiFailure(stack: string | undefined, result: CommandResult): string {
  const said = lastLine(result.stderr) ?? lastLine(result.stdout) ?? `exit status ${result.code}`;
  if (/no stack named/i.test(said)) {
    return `Pulumi has no stack named ${stack}: \`pulumi stack ls\` lists the stacks of the backend you are logged in to (\`pulumi login\`)`;
  }
  if (/no stack selected|stack select/i.test(said)) {
    return "no Pulumi stack is selected: pass --stack NAME, or select one with `pulumi stack select`";
  }
  if (result.timedOut) {
    return `\`pulumi stack output\` gave no answer for ${stackName(stack)} within ${PULUMI_TIMEOUT_MS / 1000} s`;
  }
  return `\`pulumi stack output\` failed for ${stackName(stack)}: ${said}`;
}

/** The outputs as strings; Pulumi shows a secret output as "[secret]", and this stack exports none. */
export function parseStackOutputs(json: string, stack: string | undefined): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new VerifyError(`\`pulumi stack output --json\` printed something other than JSON for ${stackName(stack)}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new VerifyError(`\`pulumi stack output --json\` printed no object of outputs for ${stackName(stack)}`);
  }
  return Object.fromEntries(
    Object.entries(parsed).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]),
  );
}

async function readOutputs(stack: string | undefined): Promise<Record<string, string>> {
  const args = ["stack", "output", "--json", ...(stack === undefined ? [] : ["--stack", stack])];
  let result: CommandResult;
  try {
    result = await runCommand("pulumi", args, { cwd: PROJECT_DIR, timeoutMs: PULUMI_TIMEOUT_MS });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new VerifyError(
        "the Pulumi CLI (pulumi) is not on PATH: install it (https://www.pulumi.com/docs/install/), or check the local sandbox with --sandbox",
      );
    }
    throw err;
  }
  if (result.code !== 0) {
    throw new VerifyError(describePulumiFailure(stack, result));
  }
  return parseStackOutputs(result.stdout, stack);
}

async function ssh(printed: string, remote: readonly string[]): Promise<CommandResult> {
  try {
    return await runCommand("ssh", [...SSH_OPTIONS, ...sshArguments(printed), "--", remoteCommandLine(remote)], {
      timeoutMs: SSH_TIMEOUT_MS,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new VerifyError("ssh is not on PATH: install OpenSSH's client");
    }
    throw err;
  }
}

export async function stackTarget(stack: string | undefined): Promise<Target> {
  return { ...hostNetwork, description: stackName(stack), outputs: await readOutputs(stack), ssh };
}
