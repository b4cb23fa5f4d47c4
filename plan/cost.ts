// The plan's estimate of what a stack costs a month: each resource the program declares, priced
// from its own inputs (size, disk, location, SKU) with the dated table of plan/prices.ts, and the
// total. A resource the table has no price for is named with the entry to add, and the estimate
// then gives no total: a missing price is never counted as 0.
import { PlanGraph, PlanNode } from "./graph";
import type { PeeringInputs, PublicIpInputs, VmInputs } from "../lib/azure-inputs";
import { asText } from "../lib/azure-inputs";
import {
  ASSUMED_PEERING_GB_PER_MONTH,
  DISK_MONTHLY,
  DISK_TIER_LETTER,
  DISK_TIERS,
  FREE,
  HOURS_PER_MONTH,
  IMAGE_OS_DISK_GIB,
  PEERING_PER_GB,
  PRICES_COMPILED,
  PRIVATE_DNS_ZONE_MONTHLY,
  PUBLIC_IP_HOURLY,
  VM_HOURLY,
} from "./prices";

/** Where the prices live, for the messages that ask for a missing one. */
const PRICES_FILE = "plan/prices.ts";

interface CostLine {
  resource: string;
  what: string;
  usd: number;
}

interface Unpriced {
  resource: string;
  /** "no price in the table for ...; add it to plan/prices.ts (...)" */
  message: string;
}

export interface CostEstimate {
  lines: CostLine[];
  unpriced: Unpriced[];
  /** Resources Azure bills nothing for by themselves, with the reason. */
  free: { resource: string; reason: string }[];
  /** The monthly total in USD; undefined when a resource has no price. */
  total?: number;
  /** The assumptions behind the figures and what they leave out. */
  notes: string[];
}

type Priced = CostLine[] | Unpriced;

const missing = (node: PlanNode, what: string, entry: string): Unpriced => ({
  resource: node.name,
  message: `no price in the table for ${what}; add it to ${PRICES_FILE} (${entry})`,
});

const usd = (amount: number, digits = 2): string => `$${amount.toFixed(digits)}`;

/** A VM: its size's compute for the whole month, and its OS disk at the tier Azure bills it as. */
function priceVm(node: PlanNode): Priced {
  const p = node.inputs as VmInputs;
  const location = String(p.location);
  const size = String(p.hardwareProfile?.vmSize);
  const compute = VM_HOURLY[location]?.[size];
  if (!compute) return missing(node, `${size} in ${location}`, `VM_HOURLY.${location}`);
  const lines: CostLine[] = [
    {
      resource: node.name,
      what: `compute: ${size} in ${location}, ${HOURS_PER_MONTH} h × ${usd(compute.usd, 4)}`,
      usd: compute.usd * HOURS_PER_MONTH,
    },
  ];
  const osDisk = p.storageProfile?.osDisk ?? {};
  const type = String(osDisk.managedDisk?.storageAccountType);
  const gib = typeof osDisk.diskSizeGB === "number" ? osDisk.diskSizeGB : IMAGE_OS_DISK_GIB;
  const letter = DISK_TIER_LETTER[type];
  const tier = DISK_TIERS.find((t) => t.gib >= gib);
  if (letter === undefined || tier === undefined)
    return missing(node, `an OS disk of type ${type} and ${gib} GiB in ${location}`, "DISK_TIER_LETTER, DISK_MONTHLY");
  const name = `${letter}${tier.tier}`;
  const disk = DISK_MONTHLY[location]?.[name];
  if (!disk)
    return missing(
      node,
      `the ${type} disk tier ${name} (${tier.gib} GiB) in ${location}`,
      `DISK_MONTHLY.${location}.${name}`,
    );
  const sized = typeof osDisk.diskSizeGB === "number" ? `${gib} GiB` : `the image's ${gib} GiB`;
  lines.push({
    resource: node.name,
    what: `OS disk: ${type} ${name}, ${sized} billed as ${tier.gib} GiB, in ${location}`,
    usd: disk.usd,
  });
  return lines;
}

function pricePublicIp(node: PlanNode): Priced {
  const p = node.inputs as PublicIpInputs;
  const location = String(p.location);
  const kind = `a ${asText(p.sku?.name, "Basic")} ${asText(p.publicIPAllocationMethod, "Dynamic")} public IP`;
  const price =
    p.sku?.name === "Standard" && p.publicIPAllocationMethod === "Static" ? PUBLIC_IP_HOURLY[location] : undefined;
  if (!price) return missing(node, `${kind} in ${location}`, `PUBLIC_IP_HOURLY.${location}`);
  return [
    {
      resource: node.name,
      what: `${kind} in ${location}, ${HOURS_PER_MONTH} h × ${usd(price.usd, 4)}`,
      usd: price.usd * HOURS_PER_MONTH,
    },
  ];
}

/** A peering carries the assumed traffic out of its VNet into the remote one, billed on both sides. */
function pricePeering(node: PlanNode, graph: PlanGraph): Priced {
  const from = graph.regionOf(graph.ref(node.inputs.virtualNetworkName) ?? node);
  const remote = graph.ref((node.inputs as PeeringInputs).remoteVirtualNetwork?.id);
  const to = remote && graph.regionOf(remote);
  if (from === undefined || to === undefined)
    return missing(node, "a peering whose VNets' regions the plan cannot tell", "PEERING_PER_GB");
  const gb = ASSUMED_PEERING_GB_PER_MONTH;
  if (from === to) {
    const rate = PEERING_PER_GB.sameRegion;
    return [
      {
        resource: node.name,
        what: `peering within ${from}: ${gb} GB × (${usd(rate.outbound, 3)} out + ${usd(rate.inbound, 3)} in)`,
        usd: gb * (rate.outbound + rate.inbound),
      },
    ];
  }
  const [out, into] = [from, to].map((region) => PEERING_PER_GB.zones[PEERING_PER_GB.zoneOf[region]]);
  if (!out) return missing(node, `global peering traffic leaving ${from}`, "PEERING_PER_GB.zoneOf and .zones");
  if (!into) return missing(node, `global peering traffic arriving in ${to}`, "PEERING_PER_GB.zoneOf and .zones");
  return [
    {
      resource: node.name,
      what: `global peering ${from} -> ${to}: ${gb} GB × (${usd(out.outbound, 3)} out + ${usd(into.inbound, 3)} in)`,
      usd: gb * (out.outbound + into.inbound),
    },
  ];
}

const PRICERS: Record<string, (node: PlanNode, graph: PlanGraph) => Priced> = {
  "azure-native:compute:VirtualMachine": priceVm,
  "azure-native:network:PublicIPAddress": pricePublicIp,
  "azure-native:network:VirtualNetworkPeering": pricePeering,
  "azure-native:privatedns:PrivateZone": (node) => [
    {
      resource: node.name,
      what: `private DNS zone ${asText(node.inputs.privateZoneName, "undefined")}`,
      usd: PRIVATE_DNS_ZONE_MONTHLY.usd,
    },
  ],
};

/** The monthly cost of every resource of the plan, from its inputs and the price table. */
export function estimateCost(graph: PlanGraph): CostEstimate {
  const estimate: CostEstimate = { lines: [], unpriced: [], free: [], notes: [] };
  for (const node of graph.nodes) {
    const pricer = PRICERS[node.type];
    if (pricer) {
      const priced = pricer(node, graph);
      if (Array.isArray(priced)) estimate.lines.push(...priced);
      else estimate.unpriced.push(priced);
    } else if (FREE[node.type] !== undefined) {
      estimate.free.push({ resource: node.name, reason: FREE[node.type] });
    } else {
      estimate.unpriced.push({
        resource: node.name,
        message: `no price in the table for ${node.type}; add it to ${PRICES_FILE} (a price, or FREE)`,
      });
    }
  }
  if (estimate.unpriced.length === 0) estimate.total = estimate.lines.reduce((sum, line) => sum + line.usd, 0);
  estimate.notes.push(
    `every VM runs all month (${HOURS_PER_MONTH} h); ${ASSUMED_PEERING_GB_PER_MONTH} GB a month leave each VNet through each peering`,
  );
  if (graph.ofType("azure-native:devtestlab:GlobalSchedule").length > 0) {
    estimate.notes.push(
      "autoShutdownTime is set: each VM is stopped daily and stays deallocated until started again (nothing starts it), " +
        "which saves its compute line pro rata; its disk and public IP cost the same (docs/COST.md)",
    );
  }
  estimate.notes.push(
    "not included: disk operations, DNS queries, data sent to the internet, boot diagnostics' storage, taxes and discounts",
  );
  return estimate;
}

/** The estimate as the plan prints it: one line per priced item, the unpriced ones, the total. */
export function formatCost(estimate: CostEstimate): string[] {
  const out: string[] = [
    `== estimated monthly cost, USD (pay-as-you-go list prices of ${PRICES_FILE}, compiled ${PRICES_COMPILED}) ==`,
  ];
  const nameWidth = Math.max(
    5,
    ...estimate.lines.map((l) => l.resource.length),
    ...estimate.unpriced.map((u) => u.resource.length),
  );
  const whatWidth = Math.max(0, ...estimate.lines.map((l) => l.what.length));
  for (const line of estimate.lines)
    out.push(
      `  ${line.resource.padEnd(nameWidth)}  ${line.what.padEnd(whatWidth)}  ${line.usd.toFixed(2).padStart(8)}`,
    );
  for (const gap of estimate.unpriced) out.push(`  ${gap.resource.padEnd(nameWidth)}  ${gap.message}`);
  out.push(
    estimate.total === undefined
      ? `  ${"total".padEnd(nameWidth)}  none: ${estimate.unpriced.length} resource${estimate.unpriced.length === 1 ? " has" : "s have"} no price in the table (above)`
      : `  ${"total".padEnd(nameWidth)}  ${"".padEnd(whatWidth)}  ${estimate.total.toFixed(2).padStart(8)}`,
  );
  const byReason = new Map<string, number>();
  for (const { reason } of estimate.free) byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  out.push(`  no charge, ${estimate.free.length} resources:`);
  for (const [reason, count] of byReason) out.push(`    ${count} × ${reason}`);
  for (const note of estimate.notes) out.push(`  ${note}`);
  return out;
}
