// Obtains what the Pulumi program would deploy, from the program itself: test/support/render-stack.ts
// evaluates it under Pulumi's mocks with the sandbox's configuration and addresses and prints the
// extensions' scripts, the private DNS records and the outputs. Nothing here re-types them.
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR, statePaths } from "./paths";
import { describeFailure, run, SandboxError, writePrivateFile } from "./proc";
import { StackConfig } from "./stack-config";
import { nicFqdnOf, VMS } from "./topology";

export interface RenderedExtension {
  vmName: string;
  forceUpdateTag: string;
  /** Base64, optionally of gzip, exactly as in protectedSettings.script. */
  script: string;
  publicSettings: Record<string, unknown>;
  dependsOnBuilderhub: boolean;
}

export interface DnsRecord {
  fqdn: string;
  ip: string;
}

export interface RenderedStack {
  extensions: RenderedExtension[];
  dnsRecords: DnsRecord[];
  outputs: Record<string, unknown>;
  random: Record<string, string>;
}

export const RENDER_SCRIPT = path.join(PROJECT_DIR, "test", "support", "render-stack.ts");
const RENDER_TIMEOUT_MS = 120_000;

function sandboxAddresses(): Record<string, { privateIp: string; publicIp?: string; nicFqdn: string }> {
  return Object.fromEntries(
    VMS.map((vm) => [
      vm.name,
      { privateIp: vm.privateIp, ...(vm.publicIp ? { publicIp: vm.publicIp } : {}), nicFqdn: nicFqdnOf(vm) },
    ]),
  );
}

function readRandom(): Record<string, string> {
  return fs.existsSync(statePaths.random)
    ? (JSON.parse(fs.readFileSync(statePaths.random, "utf8")) as Record<string, string>)
    : {};
}

function checkShape(value: unknown): RenderedStack {
  const stack = value as RenderedStack;
  if (!stack || !Array.isArray(stack.extensions) || !Array.isArray(stack.dnsRecords)) {
    throw new SandboxError(`${RENDER_SCRIPT} printed JSON without "extensions" and "dnsRecords" lists`);
  }
  return stack;
}

/**
 * Renders the stack for the sandbox. Random values the program generated are kept in the state
 * directory and passed back next time, as Pulumi's state would keep them.
 */
export async function renderStack(stackConfig: StackConfig): Promise<RenderedStack> {
  if (!fs.existsSync(RENDER_SCRIPT)) {
    throw new SandboxError(`${path.relative(PROJECT_DIR, RENDER_SCRIPT)} is missing: the sandbox gets the extension scripts from it`);
  }
  const request = { ...stackConfig, addresses: sandboxAddresses(), random: readRandom() };
  // The request holds the sandbox's secrets.
  writePrivateFile(statePaths.stackRequest, JSON.stringify(request, null, 2));
  const args = ["--require", "ts-node/register/transpile-only", RENDER_SCRIPT, statePaths.stackRequest];
  const result = await run(process.execPath, args, { cwd: PROJECT_DIR, timeoutMs: RENDER_TIMEOUT_MS });
  fs.rmSync(statePaths.stackRequest, { force: true });
  if (result.code !== 0) {
    // The program reports every configuration problem, one per line: show them all.
    const details = result.stderr.trim().split("\n").slice(-20).join("\n");
    throw new SandboxError(`${describeFailure("render-stack.ts", [], result)}${details.includes("\n") ? `\n${details}` : ""}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new SandboxError(`${RENDER_SCRIPT} printed something other than JSON on stdout`);
  }
  const stack = checkShape(parsed);
  writePrivateFile(statePaths.random, JSON.stringify(stack.random ?? {}, null, 2));
  return stack;
}
