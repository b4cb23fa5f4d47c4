// The policy pack as `pulumi preview --policy-pack policy` runs it: Pulumi's policy runner
// (@pulumi/pulumi/cmd/run-policy-pack) type-checks and loads policy/ on this Node, serves the
// analyzer over gRPC, and answers the engine's calls. This test plays the engine.
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "child_process";
import { createRequire } from "module";
import * as path from "path";
import { after, before, test } from "node:test";
import { belowNormalPriority } from "../../support/processes";
import { PROJECT_DIR } from "../../../plan/evaluation";
import type * as AnalyzerGrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import type * as AnalyzerPb from "@pulumi/pulumi/proto/analyzer_pb";

// The runner, its gRPC library and the analyzer protocol all come from the pinned @pulumi/pulumi.
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const fromPulumi = createRequire(path.join(pulumiDir, "package.json"));
// The protocol modules carry their own declarations; gRPC and protobuf's well-known types are not
// this package's dependencies to import types from, so they are typed by what this test uses of them.
type Client = AnalyzerGrpc.AnalyzerClient;
const grpc = fromPulumi("@grpc/grpc-js") as {
  credentials: { createInsecure(): ConstructorParameters<typeof AnalyzerGrpc.AnalyzerClient>[1] };
};
const analyzerGrpc = fromPulumi("./proto/analyzer_grpc_pb") as typeof AnalyzerGrpc;
const analyzerPb = fromPulumi("./proto/analyzer_pb") as typeof AnalyzerPb;
const structPb = fromPulumi("google-protobuf/google/protobuf/struct_pb") as {
  Struct: {
    fromJavaScript(value: Record<string, unknown>): Parameters<AnalyzerPb.AnalyzerResource["setProperties"]>[0];
  };
};
const emptyPb = fromPulumi("google-protobuf/google/protobuf/empty_pb") as {
  Empty: new () => Parameters<Client["getAnalyzerInfo"]>[0];
};

const ENFORCEMENT = ["advisory", "mandatory", "disabled", "remediate"];

let runner: ChildProcess | undefined;
let client: Client | undefined;

before(async () => {
  // The engine passes its own address and the pack's directory; the pack never calls the engine here.
  runner = spawn(
    ...belowNormalPriority(process.execPath, [path.join(pulumiDir, "cmd", "run-policy-pack"), "127.0.0.1:1", "."]),
    {
      cwd: path.join(PROJECT_DIR, "policy"),
    },
  );
  const child = runner;
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const port = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    child.stdout!.on("data", (d) => {
      stdout += d;
      const m = /^(\d+)\s*$/m.exec(stdout);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) =>
      reject(new Error(`the policy pack exited with ${code} before serving:\n${stdout}${stderr}`)),
    );
  });
  client = new analyzerGrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

after(() => {
  client?.close();
  runner?.kill();
});

type Method = "getAnalyzerInfo" | "analyze" | "analyzeStack";
/** What a method answers: the response its callback (the last argument of its longest form) receives. */
type Reply<M extends Method> = Parameters<Parameters<Client[M]>[3]>[1];

function call<M extends Method>(method: M, request: Parameters<Client[M]>[0]): Promise<Reply<M>> {
  // The one form every method shares: request and callback.
  const send = client![method].bind(client) as (
    request: Parameters<Client[M]>[0],
    callback: (err: Error | null, reply: Reply<M>) => void,
  ) => void;
  return new Promise((resolve, reject) => send(request, (err, reply) => (err ? reject(err) : resolve(reply))));
}

function withResource<T extends AnalyzerPb.AnalyzeRequest | AnalyzerPb.AnalyzerResource>(
  message: T,
  type: string,
  name: string,
  stack: string,
  props: Record<string, unknown>,
): T {
  message.setType(type);
  message.setName(name);
  message.setUrn(`urn:pulumi:${stack}::flowproxy-staging::${type}::${name}`);
  message.setProperties(structPb.Struct.fromJavaScript(props));
  message.setOptions(new analyzerPb.AnalyzerResourceOptions());
  return message;
}

function diagnostics(reply: AnalyzerPb.AnalyzeResponse): [string, string, string][] {
  return reply
    .getDiagnosticsList()
    .map((d) => [d.getPolicyname(), ENFORCEMENT[d.getEnforcementlevel()], d.getMessage()]);
}

const worldSsh = {
  securityRules: [
    {
      name: "ssh",
      priority: 100,
      direction: "Inbound",
      access: "Allow",
      protocol: "Tcp",
      sourceAddressPrefix: "0.0.0.0/0",
      destinationPortRange: "22",
    },
  ],
};

test("the policy pack loads under Pulumi's policy runner and lists its policies with their enforcement levels", async () => {
  const info = await call("getAnalyzerInfo", new emptyPb.Empty());
  assert.equal(info.getName(), "flowproxy-staging");
  const levels = Object.fromEntries(
    info.getPoliciesList().map((p) => [p.getName(), ENFORCEMENT[p.getEnforcementlevel()]]),
  );
  assert.deepEqual(levels, {
    "ssh-not-open-to-internet": "advisory",
    "ssh-not-open-to-internet-production": "mandatory",
    "builderhub-no-public-ip": "mandatory",
    "no-secret-in-extension-settings": "mandatory",
    "no-secret-in-stack-outputs": "mandatory",
    "vm-password-login-disabled": "mandatory",
    "nsg-spec-ports-only": "mandatory",
    "vm-image-supported-ubuntu": "mandatory",
    "vm-size-azure-name": "mandatory",
    "region-runs-a-flowproxy": "mandatory",
    "subnet-fits-its-vms": "mandatory",
  });
});

test("the running pack reports SSH open to the internet as mandatory on a production stack and advisory elsewhere", async () => {
  const nsg = "azure-native:network:NetworkSecurityGroup";
  const prod = diagnostics(
    await call("analyze", withResource(new analyzerPb.AnalyzeRequest(), nsg, "nsg-eastus", "production", worldSsh)),
  );
  assert.deepEqual(
    prod.map(([policy, level]) => [policy, level]),
    [["ssh-not-open-to-internet-production", "mandatory"]],
  );
  const dev = diagnostics(
    await call("analyze", withResource(new analyzerPb.AnalyzeRequest(), nsg, "nsg-eastus", "dev", worldSsh)),
  );
  assert.deepEqual(
    dev.map(([policy, level]) => [policy, level]),
    [["ssh-not-open-to-internet", "advisory"]],
  );
});

test("the running pack reports a secret in the stack outputs", async () => {
  const request = new analyzerPb.AnalyzeStackRequest();
  request.setResourcesList([
    withResource(new analyzerPb.AnalyzerResource(), "pulumi:pulumi:Stack", "flowproxy-staging-dev", "dev", {
      leak: `ghp_${"x1".repeat(18)}`,
    }),
  ]);
  const found = diagnostics(await call("analyzeStack", request));
  assert.deepEqual(
    found.map(([policy, level]) => [policy, level]),
    [["no-secret-in-stack-outputs", "mandatory"]],
  );
  assert.match(found[0][2], /stack output leak holds a GitHub token/);
});

test("the running pack refuses a region grown past its subnet's addresses, naming the key to change", async () => {
  const request = new analyzerPb.AnalyzeStackRequest();
  const nic = (i: number) =>
    withResource(
      new analyzerPb.AnalyzerResource(),
      "azure-native:network:NetworkInterface",
      `nic-vm-eastus-${i}`,
      "dev",
      { location: "eastus" },
    );
  request.setResourcesList([
    withResource(new analyzerPb.AnalyzerResource(), "azure-native:network:VirtualNetwork", "vnet-eastus", "dev", {
      location: "eastus",
      addressSpace: { addressPrefixes: ["10.10.0.0/16"] },
    }),
    withResource(new analyzerPb.AnalyzerResource(), "azure-native:network:Subnet", "subnet-eastus", "dev", {
      addressPrefix: "10.10.1.0/28",
    }),
    withResource(new analyzerPb.AnalyzerResource(), "azure-native:compute:VirtualMachine", "vm-eastus", "dev", {
      location: "eastus",
      tags: { role: "flowproxy" },
      hardwareProfile: { vmSize: "Standard_B2s" },
    }),
    ...Array.from({ length: 12 }, (_, i) => nic(i + 1)),
  ]);
  const found = diagnostics(await call("analyzeStack", request));
  assert.deepEqual(
    found.map(([policy, level]) => [policy, level]),
    [["subnet-fits-its-vms", "mandatory"]],
  );
  assert.match(
    found[0][2],
    /subnet-eastus \(10\.10\.1\.0\/28\) would hold 12 NICs in eastus, but Azure hands out 11 .*flowproxy-staging:regions/,
  );
});
