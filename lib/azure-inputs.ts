// The shapes of the Azure resources' inputs (and the mocks' states) that the plan, the diagram, the
// cost, the policy pack and the tests read. They arrive as data (an evaluation's JSON, the policy
// engine's properties), so every field may be missing and every leaf is unknown until its reader
// checks it. Only the fields something reads are named.

interface IdRef {
  id?: unknown;
}

export interface SecurityRuleInputs {
  name?: unknown;
  priority?: unknown;
  direction?: unknown;
  access?: unknown;
  protocol?: unknown;
  destinationPortRange?: unknown;
  destinationPortRanges?: unknown;
  sourceAddressPrefix?: unknown;
  sourceAddressPrefixes?: unknown;
  networkSecurityGroupName?: unknown;
}

export interface NsgInputs {
  securityRules?: unknown;
}

export interface VnetInputs {
  location?: unknown;
  addressSpace?: { addressPrefixes?: unknown };
  subnets?: unknown;
  virtualNetworkPeerings?: unknown;
}

export interface SubnetInputs {
  addressPrefix?: unknown;
  addressPrefixes?: unknown;
  virtualNetworkName?: unknown;
}

export interface PeeringInputs {
  virtualNetworkName?: unknown;
  remoteVirtualNetwork?: IdRef;
  allowVirtualNetworkAccess?: unknown;
  allowForwardedTraffic?: unknown;
  allowGatewayTransit?: unknown;
  useRemoteGateways?: unknown;
}

export interface PublicIpInputs {
  location?: unknown;
  sku?: { name?: unknown };
  publicIPAllocationMethod?: unknown;
  publicIPAddressVersion?: unknown;
}

export interface IpConfigurationInputs {
  name?: unknown;
  subnet?: IdRef;
  privateIPAllocationMethod?: unknown;
  publicIPAddress?: IdRef | null;
}

export interface NicInputs {
  networkSecurityGroup?: IdRef;
  ipConfigurations?: IpConfigurationInputs[];
  dnsSettings?: { internalDnsNameLabel?: unknown };
}

/** What the mocks answer for a NIC: each IP configuration's private address. */
export interface NicState {
  ipConfigurations?: { privateIPAddress?: unknown }[];
}

interface ImageReference {
  id?: unknown;
  sharedGalleryImageId?: unknown;
  communityGalleryImageId?: unknown;
  publisher?: unknown;
  offer?: unknown;
  sku?: unknown;
  version?: unknown;
}

export interface LinuxConfiguration {
  disablePasswordAuthentication?: unknown;
  ssh?: { publicKeys?: { keyData?: unknown; path?: unknown }[] };
}

export interface OsProfile {
  adminUsername?: unknown;
  adminPassword?: unknown;
  computerName?: unknown;
  linuxConfiguration?: LinuxConfiguration;
}

export interface VmInputs {
  location?: unknown;
  hardwareProfile?: { vmSize?: unknown };
  storageProfile?: {
    imageReference?: ImageReference;
    osDisk?: { managedDisk?: { storageAccountType?: unknown }; deleteOption?: unknown; diskSizeGB?: unknown };
  };
  networkProfile?: {
    networkInterfaces?: IdRef[];
    networkInterfaceConfigurations?: { ipConfigurations?: unknown }[];
  };
  diagnosticsProfile?: { bootDiagnostics?: { enabled?: unknown; storageUri?: unknown } };
  osProfile?: OsProfile | null;
}

export interface ScheduleInputs {
  dailyRecurrence?: { time?: unknown };
}

export interface RecordSetInputs {
  privateZoneName?: unknown;
  relativeRecordSetName?: unknown;
  recordType?: unknown;
  ttl?: unknown;
  aRecords?: { ipv4Address?: unknown }[];
  ptrRecords?: { ptrdname?: unknown }[];
}

export interface VnetLinkInputs {
  privateZoneName?: unknown;
  virtualNetwork?: IdRef;
  registrationEnabled?: unknown;
}

/** The items of a list that may be absent or not a list at all. */
export function items(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

/**
 * A value read from data as text: strings as they are, numbers and booleans as String writes them,
 * anything else as JSON (never "[object Object]"); `missing` when there is no value.
 */
export function asText(value: unknown, missing = ""): string {
  if (value === undefined || value === null) return missing;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return JSON.stringify(value) ?? missing;
}
