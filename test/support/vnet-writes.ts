// The ordering Azure's control plane needs, stated over the dependency graph the program registers
// under mocks. Shared by the unit tests and the reliability report.
//
// Azure takes one write at a time per VNet: a write that meets another in progress fails with
// 400 ReferencedResourceNotProvisioned, which azure-native does not retry. So any two resources that
// write to the same VNet must be ordered, one (transitively) depending on the other. A resource
// writes to a VNet when it is that VNet or its inputs name it (as virtualNetworkName or at the end
// of an id): its subnets, the peerings whose local or remote VNet it is, the DNS links to it, and
// whatever is added later that refers to it.
import { BUILDERHUB } from "../../lib/contract";
import type { EvaluatedResource, Evaluation } from "../../plan/evaluation";

const VNET = "azure-native:network:VirtualNetwork";
const PEERING = "azure-native:network:VirtualNetworkPeering";
const DNS_LINK = "azure-native:privatedns:VirtualNetworkLink";
const RECORD = "azure-native:privatedns:PrivateRecordSet";

/** Every resource `name` waits for, directly or through others. */
function dependencyClosure(result: Evaluation): (name: string) => Set<string> {
  const byName = new Map(result.resources.map((r) => [r.name, r]));
  const memo = new Map<string, Set<string>>();
  const closure = (name: string): Set<string> => {
    const known = memo.get(name);
    if (known) return known;
    const all = new Set<string>();
    memo.set(name, all);
    for (const dep of byName.get(name)?.options.dependsOn ?? []) {
      all.add(dep);
      for (const further of closure(dep)) all.add(further);
    }
    return all;
  };
  return closure;
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The resources that write to each VNet, by the VNet's resource name. */
export function vnetWriters(result: Evaluation): Map<string, string[]> {
  const writers = new Map<string, string[]>();
  for (const vnet of result.resources.filter((r) => r.type === VNET)) {
    const mention = new RegExp(`["/]${escapeRegExp(String(vnet.state.name))}"`);
    const others = result.resources.filter(
      (r: EvaluatedResource) => r !== vnet && mention.test(JSON.stringify(r.inputs)),
    );
    writers.set(vnet.name, [vnet.name, ...others.map((r) => r.name)]);
  }
  return writers;
}

/**
 * What vnetWriters misses of the writes a table of `regions` regions makes to each VNet: one VNet per
 * region, each written by itself, its subnet, its DNS link and a peering each way with every other.
 */
export function vnetWriterProblems(result: Evaluation, regions: number): string[] {
  const writers = vnetWriters(result);
  const problems = writers.size === regions ? [] : [`${writers.size} VNets have writers, not ${regions}`];
  for (const [vnet, names] of writers) {
    const location = vnet.replace(/^vnet-/, "");
    const found = `(found ${names.join(", ")})`;
    for (const expected of [`subnet-${location}`, `dns-link-${location}`]) {
      if (!names.includes(expected)) problems.push(`${vnet}: ${expected} is not among its writers ${found}`);
    }
    const peerings = names.filter((n) => n.startsWith("peer-")).length;
    if (peerings !== 2 * (regions - 1))
      problems.push(`${vnet}: ${peerings} peerings write it, not ${2 * (regions - 1)} ${found}`);
  }
  return problems;
}

/** One line per pair of writes to the same VNet that Pulumi may run at the same time. */
export function unorderedVnetWrites(result: Evaluation): string[] {
  const closure = dependencyClosure(result);
  const problems: string[] = [];
  for (const [vnet, writers] of vnetWriters(result)) {
    writers.forEach((a, i) => {
      for (const b of writers.slice(i + 1)) {
        if (!closure(a).has(b) && !closure(b).has(a))
          problems.push(`${a} and ${b} both write ${vnet} with no dependency between them`);
      }
    });
  }
  return problems;
}

/**
 * What a FlowProxy extension needs before its registration can reach BuilderHub: every peering,
 * every DNS link (flowproxy.internal's, and the reverse zones' through which BuilderHub names it)
 * and the builderhub record.
 */
export function networkPrerequisites(result: Evaluation): string[] {
  return result.resources
    .filter(
      (r) =>
        r.type === PEERING ||
        r.type === DNS_LINK ||
        (r.type === RECORD && r.inputs.relativeRecordSetName === BUILDERHUB.dnsLabel),
    )
    .map((r) => r.name);
}

/** One line per FlowProxy extension and network prerequisite it does not wait for. */
export function extensionsAheadOfNetwork(result: Evaluation): string[] {
  const closure = dependencyClosure(result);
  const prerequisites = networkPrerequisites(result);
  return result.extensions
    .filter((ext) => ext.role === "flowproxy")
    .flatMap((ext) =>
      prerequisites.filter((p) => !closure(ext.resource).has(p)).map((p) => `${ext.resource} does not wait for ${p}`),
    );
}
