// Evaluates the Pulumi program under mocks in this process and returns what it declared: every
// resource with its inputs, the mocks' answer and its options, the stack outputs, and, read from
// those, each VM's extension and the private DNS records. The plan, the sandbox, the tests and the
// benchmarks all evaluate the program here.
//
// The program runs as `pulumi preview` runs it (index.ts required with the stack's config, every
// resource registered with a resource monitor), with plan/mocks.ts in place of Azure. Evaluations
// run one at a time, each with fresh runtime settings (setMocks resets them) and a fresh copy of
// index.ts, so nothing of one configuration leaks into the next.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, TAG } from "../lib/contract";
import {
  DnsRecord,
  ReverseRecord,
  EvaluatedResource,
  EvaluateOptions,
  Evaluation,
  EvaluationRequest,
  ExtensionInfo,
  isMarkedSecret,
  PROJECT_DIR,
  ProgramFailure,
  ProgramRefusal,
  ResourceOptions,
  unmarkSecrets,
  vmOf,
} from "./evaluation";
import { AzureMocks, markSecrets, mockAddresses } from "./mocks";
import { asText } from "../lib/azure-inputs";

let queue: Promise<unknown> = Promise.resolve();

/** Evaluates the program with `request`; rejects with ProgramRefusal or ProgramFailure. */
export function evaluate(request: EvaluationRequest, options: EvaluateOptions = {}): Promise<Evaluation> {
  const next = queue.then(async () => {
    try {
      return await evaluateNow(request, options.asPreview === true);
    } catch (err) {
      if (err instanceof ProgramFailure && !options.asPreview) return evaluateNow(request, true);
      throw err;
    }
  });
  queue = next.catch(() => undefined);
  return next;
}

async function evaluateNow(request: EvaluationRequest, asPreview: boolean): Promise<Evaluation> {
  const projectDir = path.resolve(request.projectDir ?? PROJECT_DIR);
  const config = Object.fromEntries(Object.entries(request.config).map(([k, v]) => [`${PROJECT}:${k}`, v]));
  pulumi.runtime.setAllConfig(
    config,
    (request.secretKeys ?? []).map((k) => `${PROJECT}:${k}`),
  );
  const mocks = new AzureMocks(request.addresses ?? mockAddresses(request.config.regions), request.seed ?? "plan");
  await pulumi.runtime.setMocks(mocks, PROJECT, request.stack ?? "dev", false);
  const options = recordResourceOptions();

  // Errors the program raises inside an apply surface as unhandled rejections, as under Pulumi.
  const raised: unknown[] = [];
  const onError = (err: unknown) => raised.push(err);
  process.on("unhandledRejection", onError);
  process.on("uncaughtException", onError);
  const stackTraceLimit = Error.stackTraceLimit;
  if (!asPreview) Error.stackTraceLimit = 0;
  const outputs: Evaluation["outputs"] = {};
  try {
    const exported: Record<string, unknown> = {};
    // What index.ts throws while it loads (a refused configuration) is kept here rather than thrown
    // through the stack resource, whose promises nobody else awaits.
    await pulumi.runtime.runInPulumiStack(async () => {
      try {
        Object.assign(exported, loadProgram(projectDir));
      } catch (err) {
        raised.push(err);
      }
      return exported;
    });
    for (const [name, value] of Object.entries(exported)) {
      const output = pulumi.output(value);
      outputs[name] = { value: markSecrets(await valueOf(output)), secret: await pulumi.isSecret(output) };
    }
    // Registrations finish after the program returns; disconnect waits for every one.
    await pulumi.runtime.disconnect();
  } catch (err) {
    raised.unshift(err);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    // Node reports a rejection nobody handled once the microtasks have run: let the program's come in.
    await new Promise((resolve) => setImmediate(resolve));
    process.off("unhandledRejection", onError);
    process.off("uncaughtException", onError);
    forgetProgram(projectDir);
  }
  if (raised.length > 0) {
    const first = raised[0];
    const declared = mocks.registered.filter((r) => r.type !== STACK).length;
    if (pulumi.RunError.isInstance(first)) throw new ProgramRefusal(first.message, declared);
    throw new ProgramFailure(first);
  }
  const resources = mocks.registered.map((r) => ({ ...r, options: options[r.name] }));
  return {
    resources,
    outputs,
    extensions: extensionsOf(resources),
    dnsRecords: dnsRecordsOf(resources),
    reverseRecords: reverseRecordsOf(resources),
  };
}

function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

function loadProgram(projectDir: string): Record<string, unknown> {
  keepTranspiledSources();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the program is loaded by path, synchronously, inside the Pulumi stack
  return require(path.join(projectDir, "index.ts")) as Record<string, unknown>;
}

/**
 * ts-node transpiles a file anew each time it is required, and each evaluation requires index.ts
 * again: keep what it made of each file's text, so the same text is transpiled once per process.
 */
function keepTranspiledSources(): void {
  const service = (
    process as unknown as Record<symbol, { compile(code: string, fileName: string): string } | undefined>
  )[Symbol.for("ts-node.register.instance")];
  if (!service || transpiled.has(service)) return;
  const compile = service.compile.bind(service);
  const outputs = new Map<string, string>();
  service.compile = (code, fileName) => {
    const key = `${fileName}\0${code}`;
    let output = outputs.get(key);
    if (output === undefined) {
      output = compile(code, fileName);
      outputs.set(key, output);
    }
    return output;
  };
  transpiled.add(service);
}

const transpiled = new WeakSet<object>();

/**
 * Lets the next evaluation load the program afresh: index.ts always, and every file of a project
 * other than this checkout (a test's edited copy). This checkout's lib/ holds no state and stays.
 */
function forgetProgram(projectDir: string): void {
  const program = path.join(projectDir, "index.ts");
  const ownFile = (file: string) =>
    file === program ||
    (projectDir !== PROJECT_DIR &&
      file.startsWith(`${projectDir}${path.sep}`) &&
      !file.includes(`${path.sep}node_modules${path.sep}`));
  for (const file of Object.keys(require.cache).filter(ownFile)) delete require.cache[file];
  module.children = module.children.filter((child) => !ownFile(child.id));
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

const STACK = "pulumi:pulumi:Stack";
const EXTENSION = "azure-native:compute:VirtualMachineExtension";
const ZONE = "azure-native:privatedns:PrivateZone";
const RECORD = "azure-native:privatedns:PrivateRecordSet";

/** Each VM's provisioning extension, found by the VM and role the program tagged it with. */
function extensionsOf(resources: EvaluatedResource[]): ExtensionInfo[] {
  return resources
    .filter((r) => r.type === EXTENSION)
    .map((r): ExtensionInfo => {
      const vmName = vmOf(r.inputs);
      const role = (unmarkSecrets(r.inputs.tags) as Record<string, unknown> | undefined)?.[TAG.role];
      if (vmName === undefined || (role !== "flowproxy" && role !== "builderhub")) {
        throw new ProgramFailure(
          `the extension ${r.name} lacks the "${TAG.vm}" and "${TAG.role}" tags that say where it runs`,
        );
      }
      const protectedSettings = r.inputs.protectedSettings;
      return {
        resource: r.name,
        vmName,
        role,
        forceUpdateTag: String(unmarkSecrets(r.inputs.forceUpdateTag)),
        script: asText((unmarkSecrets(protectedSettings) as { script?: unknown } | undefined)?.script),
        protectedSettingsSecret: isMarkedSecret(protectedSettings),
        publicSettings: r.inputs.settings,
        dependsOn: r.options.dependsOn,
      };
    });
}

/** The name of the zone a record's privateZoneName refers to. */
function zoneNameOf(resources: EvaluatedResource[], reference: unknown): string {
  return String(
    unmarkSecrets(
      resources.find((z) => z.type === ZONE && z.state.name === unmarkSecrets(reference))?.inputs.privateZoneName,
    ) ?? reference,
  );
}

/** The A records, each under the zone its privateZoneName refers to. */
function dnsRecordsOf(resources: EvaluatedResource[]): DnsRecord[] {
  const zoneName = (reference: unknown) => zoneNameOf(resources, reference);
  return resources
    .filter((r) => r.type === RECORD)
    .flatMap((r) =>
      ((unmarkSecrets(r.inputs.aRecords) as { ipv4Address: string }[] | undefined) ?? []).map((a) => ({
        fqdn: `${String(unmarkSecrets(r.inputs.relativeRecordSetName))}.${zoneName(r.inputs.privateZoneName)}`,
        ip: a.ipv4Address,
      })),
    );
}

/** The PTR records, each named in full under the reverse zone its privateZoneName refers to. */
function reverseRecordsOf(resources: EvaluatedResource[]): ReverseRecord[] {
  return resources
    .filter((r) => r.type === RECORD)
    .flatMap((r) =>
      ((unmarkSecrets(r.inputs.ptrRecords) as { ptrdname: string }[] | undefined) ?? []).map((p) => ({
        name: `${String(unmarkSecrets(r.inputs.relativeRecordSetName))}.${zoneNameOf(resources, r.inputs.privateZoneName)}`,
        target: p.ptrdname,
      })),
    );
}
