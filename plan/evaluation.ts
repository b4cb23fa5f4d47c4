// What an evaluation of the program is (plan/evaluate.ts makes one): every resource with its
// inputs, the mocks' answer and its options, the stack outputs, and each VM's extension and the
// private DNS records read from them; how the program can refuse or fail; and copies of the
// program with a file changed. This module loads nothing of Pulumi's, so code that only reads
// evaluations (the sandbox, the plan's text and diagram, tests) stays light.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gunzipSync } from "zlib";
import { PROJECT, Role, TAG } from "../lib/contract";

export const PROJECT_DIR = path.resolve(__dirname, "..");

export interface VmAddress {
  privateIp: string;
  publicIp?: string;
  nicFqdn?: string;
}

/** The addresses Azure gives each VM, by VM name. */
export type AddressPlan = Record<string, VmAddress>;

export interface RegisteredResource {
  type: string;
  name: string;
  /** Inputs as sent by the program; secret values appear as { "$secret": value }. */
  inputs: Record<string, unknown>;
  /** What the mocks answered, secrets in the clear: read the fields you need, never print it whole. */
  state: Record<string, unknown>;
}

export interface EvaluationRequest {
  /** Keys without the project prefix, e.g. { adminUsername: "azureuser" }. */
  config: Record<string, string>;
  /** Keys (without prefix) stored as secrets. */
  secretKeys?: string[];
  /** The directory holding index.ts and its files; this checkout by default. */
  projectDir?: string;
  /** Each VM's addresses; the plan's fixed ones (mockAddresses) by default. */
  addresses?: AddressPlan;
  /** Random values (signer keys) derive from it: the same seed gives the same keys, as a stack's state would. */
  seed?: string;
  stack?: string;
}

export interface EvaluateOptions {
  /**
   * Capture the stack traces Pulumi's runtime takes of every property of every resource, for its
   * own leak reports, as `pulumi preview` does. They cost most of an evaluation's time and no result
   * depends on them, so they are left out unless the evaluation itself is being measured; a program
   * that crashes is evaluated again with them, for its stack trace.
   */
  asPreview?: boolean;
}

export interface ResourceOptions {
  /** Names of the resources this one waits for (explicit dependsOn and inputs). */
  dependsOn: string[];
  ignoreChanges: string[];
  deleteBeforeReplace: boolean;
  /** Name of the resource whose deletion takes this one with it; "" when none. */
  deletedWith: string;
  replaceOnChanges: string[];
}

export interface EvaluatedResource extends RegisteredResource {
  options: ResourceOptions;
}

export interface ExtensionInfo {
  /** The extension resource's name. */
  resource: string;
  /** The VM it runs on and that VM's role, as the program tagged it. */
  vmName: string;
  role: Role;
  forceUpdateTag: string;
  /** protectedSettings.script: base64 (of gzip, optionally) of the bash the extension runs. */
  script: string;
  protectedSettingsSecret: boolean;
  publicSettings: unknown;
  /** Names of the resources the extension waits for. */
  dependsOn: string[];
}

export interface DnsRecord {
  fqdn: string;
  ip: string;
}

/** A PTR record: the reverse name of an address (4.1.10.10.in-addr.arpa) and the name it gives it. */
export interface ReverseRecord {
  name: string;
  target: string;
}

export interface Evaluation {
  resources: EvaluatedResource[];
  /** Secret values appear as { "$secret": value }. */
  outputs: Record<string, { value: unknown; secret: boolean }>;
  extensions: ExtensionInfo[];
  /** The A records of the private zone. */
  dnsRecords: DnsRecord[];
  /** The PTR records of the reverse zones. */
  reverseRecords: ReverseRecord[];
}

/** The program stopped on its configuration (a RunError): its message says what to fix. */
export class ProgramRefusal extends Error {
  constructor(
    message: string,
    /** Resources the program declared before it stopped; a refusal must come before any. */
    readonly declared: number,
  ) {
    super(message);
    this.name = "ProgramRefusal";
  }
}

/** The program crashed: a bug, not a configuration problem. */
export class ProgramFailure extends Error {
  constructor(readonly cause: unknown) {
    super(`the program failed under mocks: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
    this.name = "ProgramFailure";
  }
}

/** Evaluates the program: plan/evaluate.ts in this process, or plan/evaluator-process.ts in a process of its own. */
export type Evaluator = (request: EvaluationRequest, options?: EvaluateOptions) => Promise<Evaluation>;

export function isMarkedSecret(value: unknown): value is { $secret: unknown } {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    "$secret" in value
  );
}

/** The value inside every { "$secret": value }. */
export function unmarkSecrets(value: unknown): unknown {
  if (isMarkedSecret(value)) return unmarkSecrets(value.$secret);
  if (Array.isArray(value)) return value.map(unmarkSecrets);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unmarkSecrets(v)]));
  }
  return value;
}

/**
 * The resources of `type` an Azure id points at. An id ends in the resource's own name
 * (…/networkSecurityGroups/<name>; the mocks' ids likewise end in the name they answer in
 * `state.name`), and an evaluation keeps names, not ids.
 */
export function resourcesById(stack: Evaluation, type: string, id: unknown): EvaluatedResource[] {
  const name = typeof id === "string" ? id.split("/").pop() : undefined;
  return stack.resources.filter((r) => r.type === type && name !== undefined && r.state.name === name);
}

/** The VM a resource belongs to, as the program tagged it; undefined for shared resources. */
export function vmOf(inputs: Record<string, unknown>): string | undefined {
  const tags = unmarkSecrets(inputs.tags) as Record<string, unknown> | undefined;
  const vm = tags?.[TAG.vm];
  return typeof vm === "string" ? vm : undefined;
}

/** The bash an extension runs, from its base64 `script` setting (gunzipped when gzip, as the handler does). */
export function decodeScript(base64: string): string {
  const raw = Buffer.from(base64, "base64");
  return (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString("utf8");
}
/** What a copy of the program needs: the program, its library and bash, its files, and how to load it. */
const PROGRAM_FILES = [
  "index.ts",
  "lib",
  "provision",
  "monitoring",
  "haproxy.cfg",
  "flowproxy.env",
  "flowproxy@.service",
  "package.json",
  "tsconfig.json",
];

/**
 * The program's library and packages, which a copy links to rather than copies: its modules are
 * then the ones already loaded, and only the copy's own files are read anew.
 */
const LINKED = ["lib", "node_modules"];

/** Copies the program to a temporary directory, so a change can be evaluated (or deployed to the sandbox) before it is made. */
export function copyProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${PROJECT}-`));
  for (const entry of PROGRAM_FILES.filter((e) => !LINKED.includes(e))) {
    fs.cpSync(path.join(PROJECT_DIR, entry), path.join(dir, entry), { recursive: true });
  }
  for (const entry of LINKED) fs.symlinkSync(path.join(PROJECT_DIR, entry), path.join(dir, entry));
  return dir;
}

/**
 * Runs `use` on a throwaway copy of the program in which `edit` rewrote `file` (returning null
 * removes it); the copy is removed afterwards.
 */
export async function withEditedProject<T>(
  file: string,
  edit: (text: string) => string | null,
  use: (projectDir: string) => T | Promise<T>,
): Promise<T> {
  if (LINKED.includes(file.split("/")[0])) {
    throw new Error(
      `${file} is linked, not copied, into a copy of the program (it would change this checkout); copy it instead`,
    );
  }
  const dir = copyProject();
  try {
    const target = path.join(dir, file);
    const content = edit(fs.readFileSync(target, "utf8"));
    if (content === null) fs.rmSync(target);
    else fs.writeFileSync(target, content);
    return await use(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
