// The resource graph of one evaluation of the program (plan/evaluate.ts): resources by name,
// references between them, and the region each one belongs to. The plan text and the diagram are
// both read from here, so they show what the program declared and nothing else.
import type { Evaluation } from "./evaluation";
import { isMarkedSecret } from "./evaluation";

export const SECRET = "[secret]";

/** Replaces every secret value ({"$secret": v} in an evaluation) with the text [secret]. */
export function redact(value: unknown): unknown {
  if (isMarkedSecret(value)) return SECRET;
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v)]));
  return value;
}

export interface PlanNode {
  /** Full Pulumi type, e.g. azure-native:network:NetworkSecurityGroup. */
  type: string;
  name: string;
  /** Inputs with every secret replaced by [secret]. */
  inputs: Record<string, unknown>;
  /** Inputs as rendered, secrets still wrapped as {"$secret": value}: read only to name what is secret. */
  markedInputs: Record<string, unknown>;
  /** The mocked provider state (ids, addresses). Holds secrets in the clear: read named fields only. */
  state: Record<string, unknown>;
  /** Resources this one waits for: explicit dependsOn and the resources its inputs come from. */
  dependsOn: string[];
  ignoreChanges: string[];
}

/** The location that marks a resource as global rather than regional (private DNS). */
const GLOBAL = /^global$/i;

export class PlanGraph {
  readonly nodes: PlanNode[];
  readonly stackName: string | undefined;
  private readonly byName = new Map<string, PlanNode>();
  private readonly byAzureName = new Map<string, PlanNode>();
  private readonly regionCache = new Map<string, string | undefined>();
  readonly regions: string[];

  constructor(
    readonly evaluation: Evaluation,
    regionOrder: string[] = [],
  ) {
    const all = evaluation.resources.map((r): PlanNode => ({
      type: r.type,
      name: r.name,
      inputs: redact(r.inputs) as Record<string, unknown>,
      markedInputs: r.inputs,
      state: r.state,
      dependsOn: [...r.options.dependsOn].sort(),
      ignoreChanges: r.options.ignoreChanges,
    }));
    this.stackName = all.find((n) => n.type === "pulumi:pulumi:Stack")?.name;
    // Sorted by kind, then name: registration order depends on when inputs resolve, not on the program.
    this.nodes = all.filter((n) => n.type !== "pulumi:pulumi:Stack").sort(compareNodes);
    for (const node of this.nodes) {
      this.byName.set(node.name, node);
      if (typeof node.state.name === "string") this.byAzureName.set(node.state.name, node);
    }
    const found = new Set(this.nodes.map((n) => this.regionOf(n)).filter((r): r is string => r !== undefined));
    this.regions = [
      ...regionOrder.filter((r) => found.has(r)),
      ...[...found].filter((r) => !regionOrder.includes(r)).sort(),
    ];
  }

  get(name: string): PlanNode | undefined {
    return this.byName.get(name);
  }

  ofType(type: string): PlanNode[] {
    return this.nodes.filter((n) => n.type === type);
  }

  /** The resource a reference points at: an Azure resource ID (ends with the name) or a bare name. */
  ref(value: unknown): PlanNode | undefined {
    if (typeof value !== "string" || value === "") return undefined;
    const last = value.split("/").pop() ?? value;
    return this.byAzureName.get(last) ?? this.byName.get(last);
  }

  /** The logical name behind a reference, or the reference itself when it points outside the stack. */
  refName(value: unknown): string {
    const name = this.ref(value)?.name;
    if (name !== undefined) return name;
    return typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value);
  }

  /** Resources that wait for this one. */
  dependents(node: PlanNode): PlanNode[] {
    return this.nodes.filter((n) => n.dependsOn.includes(node.name));
  }

  /**
   * The region (Azure location) a resource belongs to: its own location; else its parent's (the VNet
   * of a subnet, the zone of a DNS record); else its resource group's; else the one region of
   * everything that waits for it. Global resources (private DNS) and
   * resources used across regions belong to none: the plan lists them as shared.
   */
  regionOf(node: PlanNode): string | undefined {
    if (this.regionCache.has(node.name)) return this.regionCache.get(node.name);
    this.regionCache.set(node.name, undefined); // breaks cycles while this one is being worked out
    const region = this.findRegion(node);
    this.regionCache.set(node.name, region);
    return region;
  }

  private findRegion(node: PlanNode): string | undefined {
    const location = node.inputs.location;
    if (typeof location === "string" && location !== "") return GLOBAL.test(location) ? undefined : location;
    for (const key of PARENT_KEYS) {
      const parent = this.ref(node.inputs[key]);
      if (parent && parent !== node) return this.regionOf(parent);
    }
    const group = this.ref(node.inputs.resourceGroupName);
    if (group && group !== node) return this.regionOf(group);
    const regions = new Set(this.dependents(node).map((d) => this.regionOf(d)));
    return regions.size === 1 ? [...regions][0] : undefined;
  }
}

/** Inputs that name the resource a child resource lives in. */
const PARENT_KEYS = ["privateZoneName", "virtualNetworkName", "networkSecurityGroupName", "vmName"];

/** The order resources are listed in: the order a reader builds the picture, then by name. */
const KIND_ORDER = [
  "azure-native:resources:ResourceGroup",
  "azure-native:network:VirtualNetwork",
  "azure-native:network:Subnet",
  "azure-native:network:VirtualNetworkPeering",
  "azure-native:network:NetworkSecurityGroup",
  "azure-native:network:SecurityRule",
  "azure-native:network:PublicIPAddress",
  "azure-native:network:NetworkInterface",
  "azure-native:compute:VirtualMachine",
  "azure-native:compute:VirtualMachineExtension",
  "random:index/randomBytes:RandomBytes",
  "azure-native:privatedns:PrivateZone",
  "azure-native:privatedns:VirtualNetworkLink",
  "azure-native:privatedns:PrivateRecordSet",
];

function kindRank(type: string): number {
  const i = KIND_ORDER.indexOf(type);
  return i < 0 ? KIND_ORDER.length : i;
}

function compareNodes(a: PlanNode, b: PlanNode): number {
  return kindRank(a.type) - kindRank(b.type) || a.type.localeCompare(b.type) || a.name.localeCompare(b.name);
}
