// The sandbox's SSH client side: every ssh the suite runs reads one configuration file, so the jump
// host of `ssh -J` (which does not take command-line options) gets the same key and known hosts.
import * as fs from "fs";
import * as path from "path";
import { statePaths } from "../base/paths";
import { run, RunResult, SandboxError, writeAtomically } from "../base/proc";

function ensureClientConfig(): string {
  const files = statePaths.ssh;
  const content = [
    "# Written by sandbox/machines/ssh.ts: the sandbox's key for its VMs, and their host keys learnt on first use.",
    "Host *",
    `  IdentityFile ${files.key}`,
    "  IdentitiesOnly yes",
    `  UserKnownHostsFile ${files.knownHosts}`,
    "  StrictHostKeyChecking accept-new",
    "  BatchMode yes",
    "  ConnectTimeout 5",
    "  LogLevel ERROR",
    "",
  ].join("\n");
  const current = fs.existsSync(files.config) ? fs.readFileSync(files.config, "utf8") : undefined;
  if (current !== content) {
    // Several ssh start at once (verify asks every VM in parallel): each must read a whole file.
    fs.mkdirSync(path.dirname(files.config), { recursive: true, mode: 0o700 });
    writeAtomically(files.config, content, 0o600);
  }
  return files.config;
}

/** The argv after `ssh` of a command the stack prints, e.g. "ssh azureuser@198.18.0.10". */
export function sshArguments(printed: string): string[] {
  const words = printed.trim().split(/\s+/);
  if (words[0] !== "ssh" || words.length < 2) {
    throw new SandboxError(`"${printed}" is not an ssh command`);
  }
  return words.slice(1);
}

/**
 * Runs `remote` through an ssh command exactly as the stack prints it, with the sandbox's key;
 * `options` go before the destination (e.g. to offer only a password). ssh joins `remote` with
 * spaces into one command line that the VM's login shell parses, so quote for that shell.
 */
export function sshAs(printed: string, remote: readonly string[], options: readonly string[] = []): Promise<RunResult> {
  if (!fs.existsSync(statePaths.ssh.key)) {
    throw new SandboxError(`the sandbox has no SSH key (${statePaths.ssh.key}); run \`pnpm run sandbox up\``);
  }
  return run("ssh", ["-F", ensureClientConfig(), ...options, ...sshArguments(printed), "--", ...remote], {
    timeoutMs: 30_000,
  });
}
