// Obtains what the Pulumi program would deploy, from the program itself: test/support/render-stack.ts
// evaluates it under Pulumi's mocks with the sandbox's configuration and addresses and prints the
// extensions (scripts and dependencies), the private DNS records and the stack outputs. Nothing
// here re-types them.
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "./paths";
import { describeFailure, run, SandboxError } from "./proc";
import { StackConfig } from "./stack-config";
import { nicFqdnOf, VMS } from "./topology";

export interface RenderedExtension {
  vmName: string;
  forceUpdateTag: string;
  /** Base64, optionally of gzip, exactly as in protectedSettings.script. */
  script: string;
  publicSettings?: unknown;
  /** Names of the resources the extension waits for. */
  dependsOn: string[];
}

export interface DnsRecord {
  fqdn: string;
  ip: string;
}

export interface RenderedResource {
  type: string;
  name: string;
  /** What Azure (the mocks) answered; secret values appear as {"$secret": value}. */
  state: Record<string, unknown>;
}

export interface RenderedStack {
  extensions: RenderedExtension[];
  dnsRecords: DnsRecord[];
  /** Secret values appear as {"$secret": value}. */
  outputs: Record<string, { value: unknown; secret: boolean }>;
  /** Every resource the program declared: where the stack's generated secrets (signer keys) live. */
  resources: RenderedResource[];
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

function checkShape(value: unknown): RenderedStack {
  const stack = value as RenderedStack;
  if (!stack || !Array.isArray(stack.extensions) || !Array.isArray(stack.dnsRecords) || !Array.isArray(stack.resources)) {
    throw new SandboxError(`${RENDER_SCRIPT} printed JSON without "extensions", "dnsRecords" and "resources" lists`);
  }
  return stack;
}

/**
 * Evaluates the program for the sandbox. The request, secrets included, travels on stdin only.
 * `projectDir` evaluates another copy of the project (test/support/stack.ts copyProject), so a test
 * can deploy a changed haproxy.cfg without touching the checkout.
 */
export async function renderStack(stackConfig: StackConfig, projectDir = PROJECT_DIR): Promise<RenderedStack> {
  if (!fs.existsSync(RENDER_SCRIPT)) {
    throw new SandboxError(`${path.relative(PROJECT_DIR, RENDER_SCRIPT)} is missing: the sandbox gets the extension scripts from it`);
  }
  const request = { ...stackConfig, projectDir, addresses: sandboxAddresses() };
  const args = ["--require", "ts-node/register/transpile-only", RENDER_SCRIPT];
  const result = await run(process.execPath, args, {
    cwd: PROJECT_DIR,
    input: JSON.stringify(request),
    timeoutMs: RENDER_TIMEOUT_MS,
  });
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
  return checkShape(parsed);
}

/**
 * The extensions in the order Azure may run them: each batch waits for the previous one. An
 * extension waits for another when one of its dependencies is that VM or its extension (a
 * resource name ending in the other's VM name); extensions with no dependency between them run
 * in parallel, so a missing dependency shows up here as it would on Azure.
 */
export function extensionBatches(extensions: readonly RenderedExtension[]): RenderedExtension[][] {
  const waitsFor = (a: RenderedExtension, b: RenderedExtension) =>
    a !== b && a.dependsOn.some((name) => name.endsWith(b.vmName));
  const batches: RenderedExtension[][] = [];
  let remaining = [...extensions];
  while (remaining.length > 0) {
    const ready = remaining.filter((a) => !remaining.some((b) => waitsFor(a, b)));
    if (ready.length === 0) {
      throw new SandboxError(`the extensions depend on each other in a cycle: ${remaining.map((e) => e.vmName).join(", ")}`);
    }
    batches.push(ready);
    remaining = remaining.filter((e) => !ready.includes(e));
  }
  return batches;
}

/** The signer key the program generated for a VM: a random:RandomBytes that Pulumi keeps as a secret. */
export function stackSignerKey(stack: RenderedStack, vmName: string): string {
  const resource = stack.resources.find((r) => r.type === "random:index/randomBytes:RandomBytes" && r.name === `signer-key-${vmName}`);
  const hex = resource?.state.hex;
  if (typeof hex !== "string") {
    throw new SandboxError(`the rendered stack holds no signer key for ${vmName} (is signerKeySource "stack"?)`);
  }
  return `0x${hex}`;
}
