// The dated price table `pnpm run plan` estimates a stack's monthly cost from (plan/cost.ts): Azure's
// pay-as-you-go list prices in USD, per region, for what the program declares. A price the
// estimate needs and this table lacks is reported by the plan, never taken as 0: add it here.
//
// Where the prices come from. Azure publishes list prices through its Retail Prices API
// (https://prices.azure.com/api/retail/prices, "Azure Retail Prices overview" on Microsoft Learn) and
// its pricing pages. This table was compiled on PRICES_COMPILED without access to either: each
// entry's `source` names the meter to check it against and says what the figure rests on. Entries
// marked "unverified" are the compiler's reading of Azure's published prices, found nowhere
// offline; check them before relying on the figures. To refresh an entry, ask the API for its
// meter, e.g. for a VM size:
//   https://prices.azure.com/api/retail/prices?$filter=armRegionName eq 'eastus' and armSkuName eq 'Standard_B2s' and priceType eq 'Consumption'
// and take the row that is neither Windows, Spot nor Low Priority.

/** When the table was compiled; the plan prints it beside the estimate. */
export const PRICES_COMPILED = "2026-12-07";

/** The hours a month is billed for: Azure's pricing pages and calculator use 730 (365 × 24 / 12). */
export const HOURS_PER_MONTH = 730;

export interface Price {
  usd: number;
  source: string;
}

const RETAIL_API = "Retail Prices API";
/** Third-party snapshots of the Retail Prices API found offline (test fixtures, cost notes) quote this figure. */
const QUOTED = "quoted from that API by third-party snapshots found offline, not read from it";
const UNVERIFIED = "unverified: not found offline, the compiler's reading of Azure's price list";

/** Linux pay-as-you-go compute, USD per hour, by region and VM size. */
export const VM_HOURLY: Readonly<Record<string, Readonly<Record<string, Price>>>> = {
  eastus: {
    Standard_B2s: { usd: 0.0416, source: `${RETAIL_API}, Virtual Machines BS Series, meter B2s; ${QUOTED}` },
    Standard_B2ms: {
      usd: 0.0832,
      source: `${RETAIL_API}, Virtual Machines BS Series, meter B2ms; ${UNVERIFIED} (twice B2s, as the Bs series doubles with memory)`,
    },
    Standard_B2ls_v2: {
      usd: 0.0416,
      source: `${RETAIL_API}, Virtual Machines Bsv2 Series, meter B2ls v2; ${UNVERIFIED}`,
    },
  },
  westeurope: {
    Standard_B2s: { usd: 0.0456, source: `${RETAIL_API}, Virtual Machines BS Series, meter B2s; ${UNVERIFIED}` },
    Standard_B2ms: {
      usd: 0.0912,
      source: `${RETAIL_API}, Virtual Machines BS Series, meter B2ms; ${UNVERIFIED} (twice B2s)`,
    },
    Standard_B2ls_v2: {
      usd: 0.0456,
      source: `${RETAIL_API}, Virtual Machines Bsv2 Series, meter B2ls v2; ${UNVERIFIED}`,
    },
  },
};

/**
 * Managed disk sizes Azure bills by (its "Understand Azure Disk Storage billing" page: a disk is
 * billed as the next size up). Tiers are named by the disk type's letter: E for Standard SSD, P for
 * Premium SSD, S for Standard HDD.
 */
export const DISK_TIERS: readonly { tier: number; gib: number }[] = [
  { tier: 1, gib: 4 },
  { tier: 2, gib: 8 },
  { tier: 3, gib: 16 },
  { tier: 4, gib: 32 },
  { tier: 6, gib: 64 },
  { tier: 10, gib: 128 },
  { tier: 15, gib: 256 },
  { tier: 20, gib: 512 },
  { tier: 30, gib: 1024 },
  { tier: 40, gib: 2048 },
  { tier: 50, gib: 4096 },
  { tier: 60, gib: 8192 },
  { tier: 70, gib: 16384 },
  { tier: 80, gib: 32767 },
];

/** The letter of a disk type's tiers. */
export const DISK_TIER_LETTER: Readonly<Record<string, string>> = {
  StandardSSD_LRS: "E",
  Premium_LRS: "P",
  Standard_LRS: "S",
};

/**
 * The OS disk size a VM gets when the program sets none: the image's, 30 GiB for Canonical's Ubuntu
 * 22.04 images on Azure (`az vm image show` gives it as osDiskImage.sizeInGb).
 */
export const IMAGE_OS_DISK_GIB = 30;

/** Managed disks, USD per month, by region and tier (E4 is Standard SSD LRS of up to 32 GiB). */
export const DISK_MONTHLY: Readonly<Record<string, Readonly<Record<string, Price>>>> = {
  eastus: {
    E4: { usd: 2.4, source: `${RETAIL_API}, Standard SSD Managed Disks, meter E4 LRS Disk; ${QUOTED}` },
  },
  westeurope: {
    E4: { usd: 2.64, source: `${RETAIL_API}, Standard SSD Managed Disks, meter E4 LRS Disk; ${UNVERIFIED}` },
  },
};

/** A Standard static public IPv4 address, USD per hour, by region. */
const STATIC_IP_SOURCE =
  `${RETAIL_API}, IP Addresses, meter Standard IPv4 Static Public IP; third-party snapshots of that API found offline ` +
  "quote this figure for other regions (uksouth, australiaeast), none for this one";
export const PUBLIC_IP_HOURLY: Readonly<Record<string, Price>> = {
  eastus: { usd: 0.005, source: STATIC_IP_SOURCE },
  westeurope: { usd: 0.005, source: STATIC_IP_SOURCE },
};

/**
 * VNet peering bills data only, per GB, both where it leaves (outbound) and where it arrives
 * (inbound); peering across regions is priced by each side's zone, within one region at one rate
 * (Azure's Virtual Network pricing page).
 */
export const PEERING_PER_GB = {
  sameRegion: {
    inbound: 0.01,
    outbound: 0.01,
    source: `Virtual Network pricing, VNet peering within a region; ${UNVERIFIED}`,
  },
  zones: {
    "Zone 1": {
      inbound: 0.035,
      outbound: 0.035,
      source: `Virtual Network pricing, global VNet peering, Zone 1; ${UNVERIFIED}`,
    },
  } as Readonly<Record<string, { inbound: number; outbound: number; source: string }>>,
  /** Azure's billing zone of each region's data transfer. */
  zoneOf: { eastus: "Zone 1", westeurope: "Zone 1" } as Readonly<Record<string, string>>,
};

/**
 * The traffic the estimate assumes over each peering, one direction, per month. Orderflow to a
 * staging fleet is a few bundles a minute of a few KiB each, peers' registrations poll every 20 s:
 * well under a GB. 10 GB leaves room for tests with a load generator; a heavier use scales the
 * peering lines linearly.
 */
export const ASSUMED_PEERING_GB_PER_MONTH = 10;

/** A private DNS zone, USD per month (the first 25 of a subscription); queries ($0.40 a million) are left out. */
export const PRIVATE_DNS_ZONE_MONTHLY: Price = {
  usd: 0.5,
  source: `Azure DNS pricing, private DNS zone, first 25 hosted zones; ${UNVERIFIED}`,
};

/**
 * What the program declares that Azure bills nothing for by itself, by Pulumi type, with the reason
 * the plan prints. A type in neither this list nor the prices above is reported as unpriced.
 */
export const FREE: Readonly<Record<string, string>> = {
  "azure-native:resources:ResourceGroup": "resource groups are free",
  "azure-native:network:VirtualNetwork": "VNets and subnets are free; their traffic is billed at the peerings",
  "azure-native:network:Subnet": "VNets and subnets are free; their traffic is billed at the peerings",
  "azure-native:network:NetworkSecurityGroup": "NSGs are free",
  "azure-native:network:NetworkInterface": "NICs are free",
  "azure-native:privatedns:VirtualNetworkLink": "links of a private zone are free (the zone is billed)",
  "azure-native:privatedns:PrivateRecordSet": "records of a private zone are free (the zone is billed)",
  "azure-native:compute:VirtualMachineExtension": "the CustomScript extension is free (its VM is billed)",
  "azure-native:devtestlab:GlobalSchedule": "VM auto-shutdown is free",
  "random:index/randomBytes:RandomBytes": "a value in the stack's state, not an Azure resource",
};
