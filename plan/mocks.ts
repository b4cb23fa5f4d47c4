// Stands in for Azure's resource provider and for the random provider while plan/evaluate.ts runs
// the program: each registration gets the state Azure would answer with (an id, a name, the private
// and public address and internal FQDN of a VM's NIC, random bytes), and what the program sent is
// kept. It answers for a resource's VM by the VM tag the program puts on it (lib/contract.ts), never
// by its name. Nothing here is ever deployed.
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import { DEFAULT_REGIONS, TAG } from "../lib/contract";
import { FleetRegion, fleetPlan, plannedAddress } from "../lib/fleet";
import { AddressPlan, RegisteredResource, unmarkSecrets, VmAddress, vmOf } from "./evaluation";

/** Replaces the SDK's secret envelopes with { "$secret": value }, so secret-ness survives JSON. */
export function markSecrets(value: unknown): unknown {
  if (rpc.isRpcSecret(value)) return { $secret: markSecrets(rpc.unwrapRpcSecret(value)) };
  if (Array.isArray(value)) return value.map(markSecrets);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, markSecrets(v)]));
  }
  return value;
}

/**
 * The plan's fixed addresses for a region table (the default one when it is absent or not valid
 * JSON: a malformed table is the program's error to report): each VM where lib/fleet.ts places it
 * in its subnet, public IPs from TEST-NET-3, the first proxy of the nth region at .(10+n) and its
 * later proxies 16 apart, so a VM keeps its addresses as other regions grow.
 */
export function mockAddresses(regionsJson?: string): AddressPlan {
  let entries: readonly unknown[] = DEFAULT_REGIONS;
  try {
    const parsed: unknown = regionsJson === undefined ? undefined : JSON.parse(regionsJson);
    if (Array.isArray(parsed)) entries = parsed;
  } catch {
    // The program reports the table itself.
  }
  const regions: FleetRegion[] = entries.map((entry) => {
    const e = (typeof entry === "object" && entry !== null ? entry : {}) as Record<string, unknown>;
    const proxies = typeof e.proxies === "number" && Number.isInteger(e.proxies) && e.proxies >= 1 ? e.proxies : 1;
    return { name: String(e.name), location: String(e.location), subnetCidr: String(e.subnetCidr), proxies };
  });
  const addresses: AddressPlan = {};
  for (const vm of fleetPlan(regions)) {
    let privateIp: string;
    try {
      privateIp = plannedAddress(regions, vm);
    } catch {
      continue; // an unusable subnet is the program's error to report
    }
    const publicOctet = 10 + vm.region + 16 * (vm.number - 1);
    addresses[vm.vmName] = {
      privateIp,
      ...(vm.role === "flowproxy" && publicOctet < 255 ? { publicIp: `203.0.113.${publicOctet}` } : {}),
      nicFqdn: `${vm.vmName}.mockguid.bx.internal.cloudapp.net`,
    };
  }
  return addresses;
}

/**
 * The input that names a resource in Azure, for the types the program names itself rather than
 * leaving to Pulumi's autonaming. Records, links, peerings and extensions are named too, but only
 * within their parent, so they keep the unique names the mocks make up (and their ids stay unique).
 */
const NAME_INPUTS: Record<string, string> = {
  "azure-native:resources:ResourceGroup": "resourceGroupName",
  "azure-native:network:NetworkSecurityGroup": "networkSecurityGroupName",
  "azure-native:network:PublicIPAddress": "publicIpAddressName",
  "azure-native:network:NetworkInterface": "networkInterfaceName",
  "azure-native:compute:VirtualMachine": "vmName",
  "azure-native:privatedns:PrivateZone": "privateZoneName",
  "azure-native:devtestlab:GlobalSchedule": "name",
};

/** The name Azure answers with when the program gave one: the name it was given. */
function explicitName(type: string, inputs: Record<string, unknown>): string | undefined {
  const name = NAME_INPUTS[type] === undefined ? undefined : inputs[NAME_INPUTS[type]];
  return typeof name === "string" ? name : undefined;
}

export class AzureMocks implements pulumi.runtime.Mocks {
  readonly registered: RegisteredResource[] = [];

  constructor(
    private readonly addresses: AddressPlan,
    /** Random bytes are derived from this seed, so the same seed gives the same keys and tags. */
    private readonly seed: string,
  ) {}

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const inputs = markSecrets(args.inputs) as Record<string, unknown>;
    const azureName =
      explicitName(args.type, args.inputs as Record<string, unknown>) ??
      `${args.name}${createHash("sha256").update(args.name).digest("hex").slice(0, 6)}`;
    const state: Record<string, unknown> = { ...(unmarkSecrets(inputs) as Record<string, unknown>), name: azureName };
    switch (args.type) {
      case "azure-native:network:NetworkInterface": {
        const address = this.addressOf(args.name, inputs);
        const configs = (state.ipConfigurations as Record<string, unknown>[] | undefined) ?? [];
        state.ipConfigurations = configs.map((c) => ({ ...c, privateIPAddress: address.privateIp }));
        state.dnsSettings = { ...(state.dnsSettings as object), internalFqdn: address.nicFqdn };
        break;
      }
      case "azure-native:network:PublicIPAddress":
        state.ipAddress = this.addressOf(args.name, inputs).publicIp;
        break;
      case "random:index/randomBytes:RandomBytes": {
        const bytes = createHash("sha256").update(`${this.seed}/${args.name}`).digest();
        state.hex = bytes.toString("hex");
        state.base64 = bytes.toString("base64");
        break;
      }
    }
    this.registered.push({ type: args.type, name: args.name, inputs, state });
    return { id: `/subscriptions/00000000-0000-0000-0000-000000000000/mock/${args.type}/${azureName}`, state };
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    throw new Error(`the program made a provider call the mocks do not know: ${args.token}`);
  }

  private addressOf(resourceName: string, inputs: Record<string, unknown>): VmAddress {
    const vm = vmOf(inputs);
    if (vm === undefined)
      throw new Error(`${resourceName} carries no "${TAG.vm}" tag, so the mocks cannot give it its VM's address`);
    const address = this.addresses[vm];
    if (!address) throw new Error(`no address for ${vm} in the plan's address plan`);
    return address;
  }
}
