// The benchmark's second reference: the resources the program declared (their types and counts
// come in SAME_RESOURCES from the benchmark, which read them off the program's own evaluation),
// declared with constant inputs and none of the program's logic. What Pulumi's runtime spends per
// resource shows as the distance between this and the one-resource floor; what the program's own
// code costs shows as the distance between the program and this.
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_REGIONS, flowproxyVmName, TAG } from "../../../lib/contract";

type ResourceClass = new (name: string, args: Record<string, unknown>) => pulumi.CustomResource;

/** "azure-native:network:VirtualNetwork" → @pulumi/azure-native/network's VirtualNetwork. */
function classOf(type: string): ResourceClass {
  const [provider, module, name] = type.split(":");
  const packageName = `@pulumi/${provider}`;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the provider's module is named by the resource type, at run time
  const exports = (module.startsWith("index") ? require(packageName) : require(`${packageName}/${module}`)) as Record<
    string,
    ResourceClass
  >;
  if (typeof exports[name] !== "function") throw new Error(`${packageName} has no resource class ${name}`);
  return exports[name];
}

// Every input some declared type requires, with tags that tell the mocks which VM a resource is for.
const inputs = {
  resourceGroupName: "rg-same",
  virtualNetworkName: "vnet-same",
  privateZoneName: "same.internal",
  recordType: "A",
  vmName: "vm-same",
  length: 32,
  tags: { [TAG.vm]: flowproxyVmName(DEFAULT_REGIONS[0].location), [TAG.role]: "flowproxy" },
};

const declared = JSON.parse(process.env.SAME_RESOURCES ?? "{}") as Record<string, number>;
for (const [type, count] of Object.entries(declared)) {
  const ResourceType = classOf(type);
  for (let i = 0; i < count; i++) new ResourceType(`same-${i}`, inputs);
}
