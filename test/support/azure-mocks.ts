// Stands in for Azure and the random provider while the program runs under pulumi.runtime.setMocks:
// answers each resource registration with the state Azure would return (ids, names, private and
// public IPs, NIC FQDNs, random bytes) and records the inputs the program sent. Test-only; it is
// never part of what `pulumi up` deploys.
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import { DEFAULT_REGIONS } from "../../lib/config";
import { parseCidr, formatIpv4 } from "../../lib/cidr";

export interface VmAddress {
  privateIp: string;
  publicIp?: string;
  nicFqdn?: string;
}

export interface RegisteredResource {
  type: string;
  name: string;
  /** Inputs as sent by the program; secret values appear as { "$secret": value }. */
  inputs: Record<string, unknown>;
  state: Record<string, unknown>;
}

/** Replaces the SDK's secret envelopes with { "$secret": value } so JSON keeps secret-ness visible. */
export function markSecrets(value: unknown): unknown {
  if (rpc.isRpcSecret(value)) return { $secret: markSecrets(rpc.unwrapRpcSecret(value)) };
  if (Array.isArray(value)) return value.map(markSecrets);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, markSecrets(v)]));
  }
  return value;
}

export function unmarkSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unmarkSecrets);
  if (value && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 1 && entries[0][0] === "$secret") return unmarkSecrets(entries[0][1]);
    return Object.fromEntries(entries.map(([k, v]) => [k, unmarkSecrets(v)]));
  }
  return value;
}

/** Azure's choice of addresses for the default plan: .4 for each FlowProxy VM, .5 for BuilderHub. */
export function defaultAddresses(regionsJson: string | undefined): Record<string, VmAddress> {
  let regions: { location: string; subnetCidr: string }[] = [...DEFAULT_REGIONS];
  try {
    const parsed = regionsJson === undefined ? undefined : JSON.parse(regionsJson);
    if (Array.isArray(parsed)) regions = parsed;
  } catch {
    // A malformed table is the program's error to report, not the mock's.
  }
  const addresses: Record<string, VmAddress> = {};
  regions.forEach((r, i) => {
    const subnet = parseCidr(String(r.subnetCidr));
    if (typeof subnet === "string") return;
    addresses[`vm-${r.location}`] = {
      privateIp: formatIpv4(subnet.base + 4),
      publicIp: `203.0.113.${10 + i}`,
      nicFqdn: `vm-${r.location}.mockguid.bx.internal.cloudapp.net`,
    };
    if (i === 0) {
      addresses["vm-builderhub"] = { privateIp: formatIpv4(subnet.base + 5), nicFqdn: "vm-builderhub.mockguid.bx.internal.cloudapp.net" };
    }
  });
  return addresses;
}

export class AzureMocks implements pulumi.runtime.Mocks {
  readonly registered: RegisteredResource[] = [];

  constructor(
    private readonly addresses: Record<string, VmAddress>,
    /** Random bytes are derived from this seed, so the same seed gives the same keys and tags. */
    private readonly seed: string,
  ) {}

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const inputs = unmarkSecrets(markSecrets(args.inputs)) as Record<string, unknown>;
    const azureName = `${args.name}${createHash("sha256").update(args.name).digest("hex").slice(0, 6)}`;
    const state: Record<string, unknown> = { ...inputs, name: azureName };
    switch (args.type) {
      case "azure-native:network:NetworkInterface": {
        const vmName = args.name.replace(/^nic-/, "");
        const address = this.address(vmName);
        const configs = (inputs.ipConfigurations as Record<string, unknown>[]) ?? [];
        state.ipConfigurations = configs.map((c) => ({ ...c, privateIPAddress: address.privateIp }));
        state.dnsSettings = { ...(inputs.dnsSettings as object), internalFqdn: address.nicFqdn };
        break;
      }
      case "azure-native:network:PublicIPAddress":
        state.ipAddress = this.address(args.name.replace(/^pip-/, "vm-")).publicIp;
        break;
      case "random:index/randomBytes:RandomBytes": {
        const bytes = createHash("sha256").update(`${this.seed}/${args.name}`).digest();
        state.hex = bytes.toString("hex");
        state.base64 = bytes.toString("base64");
        break;
      }
    }
    this.registered.push({ type: args.type, name: args.name, inputs: markSecrets(args.inputs) as Record<string, unknown>, state });
    return { id: `/subscriptions/00000000-0000-0000-0000-000000000000/mock/${args.type}/${azureName}`, state };
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    throw new Error(`the program made a provider call the mocks do not know: ${args.token}`);
  }

  private address(vmName: string): VmAddress {
    const address = this.addresses[vmName];
    if (!address) throw new Error(`no mocked address for ${vmName}`);
    return address;
  }
}
