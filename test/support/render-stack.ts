// Evaluates the Pulumi program under mocks in this process, as `pulumi preview` would run it
// (ts-node, transpile-only), and prints what it declared as JSON. One evaluation per process keeps
// Pulumi's global runtime state from leaking between configurations.
//
// Usage: node --require ts-node/register/transpile-only test/support/render-stack.ts < request.json
// A configuration error prints the program's message on stderr and exits 1, as Pulumi would.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "../../lib/config";
import { AzureMocks, VmAddress, defaultAddresses, markSecrets, unmarkSecrets } from "./azure-mocks";

export interface RenderRequest {
  /** Keys without the project prefix, e.g. { adminUsername: "azureuser" }. */
  config: Record<string, string>;
  /** Keys (without prefix) that are stored as secrets. */
  secretKeys?: string[];
  /** Directory holding index.ts and its files; the repository by default. */
  projectDir?: string;
  addresses?: Record<string, VmAddress>;
  seed?: string;
  stack?: string;
}

export interface ExtensionInfo {
  vmName: string;
  forceUpdateTag: string;
  /** protectedSettings.script: base64 of the bash the extension runs. */
  script: string;
  protectedSettingsSecret: boolean;
  publicSettings: unknown;
  dependsOn: string[];
}

export interface RenderResult {
  resources: ReturnType<AzureMocks["registered"]["slice"]>;
  outputs: Record<string, { value: unknown; secret: boolean }>;
  extensions: ExtensionInfo[];
  dnsRecords: { fqdn: string; ip: string }[];
  options: Record<string, ResourceOptions>;
}

async function render(request: RenderRequest): Promise<RenderResult> {
  const projectDir = path.resolve(request.projectDir ?? path.join(__dirname, "..", ".."));
  const config = Object.fromEntries(Object.entries(request.config).map(([k, v]) => [`${PROJECT}:${k}`, v]));
  pulumi.runtime.setAllConfig(config, (request.secretKeys ?? []).map((k) => `${PROJECT}:${k}`));
  const mocks = new AzureMocks(request.addresses ?? defaultAddresses(request.config.regions), request.seed ?? "unit-tests");
  await pulumi.runtime.setMocks(mocks, PROJECT, request.stack ?? "dev", false);

  const options = recordResourceOptions();
  const exported: Record<string, unknown> = {};
  await pulumi.runtime.runInPulumiStack(async () => {
    const module = require(path.join(projectDir, "index.ts"));
    Object.assign(exported, module);
    return module;
  });
  const outputs: RenderResult["outputs"] = {};
  for (const [name, value] of Object.entries(exported)) {
    const output = pulumi.output(value as pulumi.Input<unknown>);
    outputs[name] = { value: await promiseOf(output), secret: await pulumi.isSecret(output) };
  }
  await settle();
  return summarize(mocks, outputs, options);
}

function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Registrations finish asynchronously after the program returns; wait until none is pending. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 0));
  await pulumi.runtime.disconnect();
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

/** The mocks see inputs only; options travel in the registration request, so read them there. */
function recordResourceOptions(): Record<string, ResourceOptions> {
  const options: Record<string, ResourceOptions> = {};
  type Request = {
    getName(): string;
    getDependenciesList(): string[];
    getIgnorechangesList(): string[];
    getDeletebeforereplace(): boolean;
    getDeletedwith(): string;
    getReplaceonchangesList(): string[];
  };
  const nameOf = (urn: string) => urn.split("::").pop() ?? urn;
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: Request, cb: unknown): unknown };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    options[req.getName()] = {
      dependsOn: req.getDependenciesList().map(nameOf),
      ignoreChanges: req.getIgnorechangesList(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      deletedWith: req.getDeletedwith() && nameOf(req.getDeletedwith()),
      replaceOnChanges: req.getReplaceonchangesList(),
    };
    return register(req, cb);
  };
  return options;
}

function summarize(mocks: AzureMocks, outputs: RenderResult["outputs"], options: Record<string, ResourceOptions>): RenderResult {
  const resources = mocks.registered;
  const extensions = resources
    .filter((r) => r.type === "azure-native:compute:VirtualMachineExtension")
    .map((r): ExtensionInfo => {
      const protectedSettings = r.inputs.protectedSettings as { $secret?: { script: string } } | undefined;
      return {
        vmName: r.name.replace(/^provision-/, ""),
        forceUpdateTag: String(unmarkSecrets(r.inputs.forceUpdateTag)),
        script: (unmarkSecrets(protectedSettings) as { script: string }).script,
        protectedSettingsSecret: protectedSettings?.$secret !== undefined,
        publicSettings: r.inputs.settings,
        dependsOn: options[r.name]?.dependsOn ?? [],
      };
    });
  const dnsRecords = resources
    .filter((r) => r.type === "azure-native:privatedns:PrivateRecordSet")
    .map((r) => {
      const aRecords = unmarkSecrets(r.inputs.aRecords) as { ipv4Address: string }[];
      return { fqdn: `${r.inputs.relativeRecordSetName}.flowproxy.internal`, ip: aRecords[0].ipv4Address };
    });
  return { resources, outputs, extensions, dnsRecords, options };
}

async function main(): Promise<void> {
  const request = JSON.parse(fs.readFileSync(0, "utf8")) as RenderRequest;
  try {
    const result = await render(request);
    process.stdout.write(JSON.stringify(markSecrets(result)), () => process.exit(0));
  } catch (err) {
    if (pulumi.RunError.isInstance(err)) {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(1);
    }
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(2);
  }
}

if (require.main === module) void main();
