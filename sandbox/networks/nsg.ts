// The program's network security groups, enforced in the sandbox VMs' network namespaces the way
// Azure enforces an NSG on a NIC: the inbound rules the program declared, then Azure's default
// rules, first match by priority wins, and packets of flows already let through keep passing.
//
// The rules come from the rendered stack (what the program declared, as the mocks answered), so a
// changed rule in index.ts changes what the sandbox lets in. Each VM gets an nftables table of its
// own, `inet azure_nsg`, in its own namespace; the host's ruleset is never touched.
//
// Microsoft's documentation this follows:
// - "Network security groups" (https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview):
//   the rule properties (name, priority 100-4096 and unique per direction, protocol, ports,
//   prefixes), processing in priority order until the first match, inbound rules seeing the private
//   address after Azure translated the public one, flow records (an allowed flow's traffic is not
//   evaluated again, in either direction), and the section "Default security rules"
//   (AllowVnetInBound 65000, as the API spells it, AllowAzureLoadBalancerInBound 65001, DenyAllInBound 65500).
// - "Virtual network service tags" (https://learn.microsoft.com/azure/virtual-network/service-tags-overview):
//   VirtualNetwork covers the VNet's address space, peered VNets, on-premises spaces connected
//   through a gateway, the host's virtual IP and UDR prefixes; Internet is the address space
//   outside it; AzureLoadBalancer is the host's virtual IP 168.63.129.16, where health probes
//   come from.
import { Cidr, cidrContains, parseCidr } from "../../lib/cidr";
import { check, SandboxError } from "../base/proc";
import type { EvaluatedResource, Evaluation } from "../../plan/evaluation";
import { resourcesById } from "../../plan/evaluation";
import { netnsOf, Vm, VNETS } from "../base/topology";

type NsgAccess = "Allow" | "Deny";
type NsgProtocol = "Tcp" | "Udp" | "Icmp" | "*";

/** An inbound security rule, with Azure's single/plural fields (…Prefix, …Prefixes) folded into lists. */
export interface NsgRule {
  name: string;
  priority: number;
  access: NsgAccess;
  protocol: NsgProtocol;
  /** "*", an IPv4 address or CIDR, or the tags Internet, VirtualNetwork, AzureLoadBalancer. */
  sourceAddressPrefixes: string[];
  /** "*", "N" or "N-M". */
  sourcePortRanges: string[];
  destinationAddressPrefixes: string[];
  destinationPortRanges: string[];
}

/** Azure's inbound defaults, below every rule a user may write (see the documentation above). */
export const DEFAULT_INBOUND_RULES: readonly NsgRule[] = [
  {
    name: "AllowVnetInBound",
    priority: 65000,
    access: "Allow",
    protocol: "*",
    sourceAddressPrefixes: ["VirtualNetwork"],
    sourcePortRanges: ["*"],
    destinationAddressPrefixes: ["VirtualNetwork"],
    destinationPortRanges: ["*"],
  },
  {
    name: "AllowAzureLoadBalancerInBound",
    priority: 65001,
    access: "Allow",
    protocol: "*",
    sourceAddressPrefixes: ["AzureLoadBalancer"],
    sourcePortRanges: ["*"],
    destinationAddressPrefixes: ["*"],
    destinationPortRanges: ["*"],
  },
  {
    name: "DenyAllInBound",
    priority: 65500,
    access: "Deny",
    protocol: "*",
    sourceAddressPrefixes: ["*"],
    sourcePortRanges: ["*"],
    destinationAddressPrefixes: ["*"],
    destinationPortRanges: ["*"],
  },
];

/** The virtual IP of Azure's host, the only address of the AzureLoadBalancer tag; nothing in the sandbox has it. */
const AZURE_HOST_VIP = "168.63.129.16";

const NIC_TYPE = "azure-native:network:NetworkInterface";
const NSG_TYPE = "azure-native:network:NetworkSecurityGroup";
const SUBNET_TYPE = "azure-native:network:Subnet";
const STANDALONE_RULE_TYPE = "azure-native:network:SecurityRule";

// ---- reading the rendered stack ----

type Fields = Record<string, unknown>;

function fields(value: unknown): Fields {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Fields) : {};
}

/** The NIC holding the VM's private address: the sandbox gave the mocks these addresses (stack.ts). */
function nicOf(stack: Evaluation, vm: Vm): EvaluatedResource {
  const nics = stack.resources.filter(
    (r) =>
      r.type === NIC_TYPE && asList(r.state.ipConfigurations).some((c) => fields(c).privateIPAddress === vm.privateIp),
  );
  if (nics.length !== 1) {
    throw new SandboxError(
      `the rendered stack has ${nics.length} network interfaces with ${vm.name}'s private address ${vm.privateIp}; the sandbox needs exactly one`,
    );
  }
  return nics[0];
}

/** The one resource an Azure id points at (resourcesById). */
function resourceById(stack: Evaluation, type: string, id: unknown, what: string): EvaluatedResource {
  const found = resourcesById(stack, type, id);
  if (found.length !== 1) {
    throw new SandboxError(
      `${what} refers to ${JSON.stringify(id)}, which names ${found.length} resources of type ${type} in the rendered stack`,
    );
  }
  return found[0];
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** What the sandbox cannot model next to a NIC's NSG, refused rather than left out. */
function refuseOtherFilters(stack: Evaluation, nic: EvaluatedResource, nsg: EvaluatedResource): void {
  for (const config of asList(nic.state.ipConfigurations)) {
    const subnet = resourceById(stack, SUBNET_TYPE, fields(fields(config).subnet).id, `${nic.name}'s IP configuration`);
    if (subnet.state.networkSecurityGroup !== undefined) {
      throw new SandboxError(
        `${subnet.name} has a network security group of its own; Azure would apply it before ${nsg.name}, and the sandbox applies NIC NSGs only`,
      );
    }
  }
  const standalone = stack.resources.find(
    (r) => r.type === STANDALONE_RULE_TYPE && r.state.networkSecurityGroupName === nsg.state.name,
  );
  if (standalone) {
    throw new SandboxError(
      `${standalone.name} is a standalone rule of ${nsg.name}; the sandbox reads the NSG's inline securityRules only`,
    );
  }
}

function ruleError(where: string, field: string, value: unknown, problem: string): SandboxError {
  return new SandboxError(`${where}: ${field} ${JSON.stringify(value)} ${problem}`);
}

/** Azure takes either the single field or the list, never both; one of them is required. */
function oneOrMany(raw: Fields, single: string, plural: string, where: string): string[] {
  const one = raw[single];
  const many = asList(raw[plural]);
  const hasOne = one !== undefined && one !== "";
  if (hasOne && many.length > 0) {
    throw ruleError(where, plural, many, `is set next to ${single} ${JSON.stringify(one)}; Azure takes one of them`);
  }
  const values = hasOne ? [one] : many;
  if (values.length === 0) {
    throw new SandboxError(`${where}: neither ${single} nor ${plural} is set`);
  }
  const bad = values.find((v) => typeof v !== "string");
  if (bad !== undefined) {
    throw ruleError(where, hasOne ? single : plural, bad, "is not a string");
  }
  return values as string[];
}

function pick<T extends string>(
  raw: Fields,
  field: string,
  accepted: readonly T[],
  where: string,
  refused: Record<string, string> = {},
): T {
  const value = raw[field];
  const found = accepted.find((a) => typeof value === "string" && a.toLowerCase() === value.toLowerCase());
  if (found !== undefined) {
    return found;
  }
  const reason = typeof value === "string" ? refused[value.toLowerCase()] : undefined;
  throw ruleError(where, field, value, reason ?? `is not one of ${accepted.join(", ")}`);
}

/** Outbound rules are Azure's business on the way out: not enforced here yet, and not checked. */
function isInbound(value: unknown): boolean {
  const raw = fields(value);
  return pick(raw, "direction", ["Inbound", "Outbound"], `rule ${JSON.stringify(raw.name)}`) === "Inbound";
}

/** One inbound rule of the NSG as the program declared it. */
function readRule(value: unknown): NsgRule {
  const raw = fields(value);
  const where = `rule ${JSON.stringify(raw.name)}`;
  for (const field of ["sourceApplicationSecurityGroups", "destinationApplicationSecurityGroups"]) {
    if (asList(raw[field]).length > 0) {
      throw ruleError(where, field, raw[field], "is set; the sandbox does not model application security groups");
    }
  }
  if (typeof raw.name !== "string") {
    throw ruleError(where, "name", raw.name, "is not a string");
  }
  const priority = raw.priority;
  if (typeof priority !== "number" || !Number.isInteger(priority) || priority < 100 || priority > 4096) {
    throw ruleError(where, "priority", priority, "is not a whole number from 100 to 4096, the range Azure takes");
  }
  return {
    name: raw.name,
    priority,
    access: pick(raw, "access", ["Allow", "Deny"], where),
    protocol: pick(raw, "protocol", ["Tcp", "Udp", "Icmp", "*"], where, {
      esp: "is a protocol Azure takes but the sandbox does not enforce (Tcp, Udp, Icmp or *)",
      ah: "is a protocol Azure takes but the sandbox does not enforce (Tcp, Udp, Icmp or *)",
    }),
    sourceAddressPrefixes: oneOrMany(raw, "sourceAddressPrefix", "sourceAddressPrefixes", where),
    sourcePortRanges: oneOrMany(raw, "sourcePortRange", "sourcePortRanges", where),
    destinationAddressPrefixes: oneOrMany(raw, "destinationAddressPrefix", "destinationAddressPrefixes", where),
    destinationPortRanges: oneOrMany(raw, "destinationPortRange", "destinationPortRanges", where),
  };
}

/**
 * The inbound rules Azure evaluates for traffic to `vm`: those of the NSG on the VM's NIC, then
 * Azure's defaults, by priority. Outbound rules are left out. Anything the sandbox cannot enforce
 * as Azure would is refused with a SandboxError naming the NSG, the rule and the field.
 */
export function nsgRules(stack: Evaluation, vm: Vm): NsgRule[] {
  const nic = nicOf(stack, vm);
  const nsgRef = fields(nic.state.networkSecurityGroup).id;
  if (nsgRef === undefined) {
    throw new SandboxError(
      `${nic.name} has no network security group; Azure would let every packet in, which the sandbox does not model`,
    );
  }
  const nsg = resourceById(stack, NSG_TYPE, nsgRef, `${nic.name}'s networkSecurityGroup`);
  refuseOtherFilters(stack, nic, nsg);
  try {
    const inbound = asList(nsg.state.securityRules).filter(isInbound).map(readRule);
    const rules = [...inbound, ...DEFAULT_INBOUND_RULES].sort((a, b) => a.priority - b.priority);
    // Translating checks the names, prefixes, ports and priorities, in one place.
    nsgRuleset(rules, vm);
    return rules;
  } catch (err) {
    throw err instanceof SandboxError ? new SandboxError(`${nsg.name} (the NSG of ${vm.name}), ${err.message}`) : err;
  }
}

// ---- nftables ----

/** The VM's legs of its Azure NIC (network.ts): eth0 on the VNet, eth1 on the internet bridge for the public IP. */
function nicInterfaces(vm: Vm): string[] {
  return vm.publicIp === undefined ? ["eth0"] : ["eth0", "eth1"];
}

/**
 * What the VirtualNetwork tag covers for this VM: its VNet and the VNets peered with it. The
 * sandbox's router joins every VNet, as the program peers every pair; nothing else the tag
 * covers (gateways, on-premises, UDR prefixes, the host's virtual IP) exists in the sandbox.
 */
function virtualNetworkPrefixes(vm: Vm): string[] {
  const own = VNETS[vm.vnet];
  return [
    own.addressSpace,
    ...Object.values(VNETS)
      .filter((v) => v !== own)
      .map((v) => v.addressSpace),
  ];
}

function nftSet(items: readonly string[]): string {
  return items.length === 1 ? items[0] : `{ ${items.join(", ")} }`;
}

const TAGS = ["Internet", "VirtualNetwork", "AzureLoadBalancer"] as const;
type Address = { any: true } | { tag: (typeof TAGS)[number] } | { cidr: Cidr };

function readAddress(text: string, where: string, field: string): Address {
  if (text === "*") {
    return { any: true };
  }
  const tag = TAGS.find((t) => t.toLowerCase() === text.toLowerCase());
  if (tag !== undefined) {
    return { tag };
  }
  if (text.includes(":")) {
    throw ruleError(where, field, text, "is IPv6; the sandbox's networks are IPv4 only");
  }
  if (!/^[\d./]+$/.test(text)) {
    throw ruleError(
      where,
      field,
      text,
      `is not an IPv4 address, a CIDR, "*" or a tag the sandbox models (${TAGS.join(", ")})`,
    );
  }
  const cidr = parseCidr(text.includes("/") ? text : `${text}/32`);
  if (typeof cidr === "string") {
    throw ruleError(where, field, text, cidr);
  }
  return { cidr };
}

/**
 * The source matches of a rule, one per nft line: a list mixing Internet (a negated set) with
 * addresses cannot be one nft match, and consecutive lines with the same verdict match their union.
 * "" means any source.
 */
function sourceMatches(rule: NsgRule, vm: Vm, where: string): string[] {
  const addresses = rule.sourceAddressPrefixes.map((p) => readAddress(p, where, "sourceAddressPrefix(es)"));
  if (addresses.some((a) => "any" in a)) {
    return [""];
  }
  const vnet = virtualNetworkPrefixes(vm);
  const covered = (a: Address): string[] => {
    if ("cidr" in a) return [a.cidr.text];
    if ("tag" in a && a.tag === "VirtualNetwork") return vnet;
    if ("tag" in a && a.tag === "AzureLoadBalancer") return [AZURE_HOST_VIP];
    return [];
  };
  const included = [...new Set(addresses.flatMap(covered))];
  const matches = included.length > 0 ? [`ip saddr ${nftSet(included)}`] : [];
  if (addresses.some((a) => "tag" in a && a.tag === "Internet")) {
    matches.push(`ip saddr != ${nftSet(vnet)}`);
  }
  return matches;
}

/**
 * Whether the rule's destination covers the VM. Azure translates a public IP to the NIC's private
 * address before inbound rules see the packet (NSG overview, above), so the destination is always
 * the private address, on either leg; a rule whose destination excludes it never matches this VM.
 */
function destinationCoversVm(rule: NsgRule, vm: Vm, where: string): boolean {
  const vmAddress = parseCidr(`${vm.privateIp}/32`);
  if (typeof vmAddress === "string") {
    throw new SandboxError(`${vm.name}'s private address ${vm.privateIp} ${vmAddress}`);
  }
  return rule.destinationAddressPrefixes.some((p) => {
    const address = readAddress(p, where, "destinationAddressPrefix(es)");
    if ("any" in address) return true;
    if ("tag" in address) return address.tag === "VirtualNetwork";
    return cidrContains(address.cidr, vmAddress);
  });
}

/** "N" or "N-M" for nft, or undefined for any port. */
function portMatch(ranges: readonly string[], where: string, field: string): string | undefined {
  if (ranges.includes("*")) {
    return undefined;
  }
  const parts = ranges.map((range) => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(range);
    const [low, high] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [NaN, NaN];
    if (!(low >= 0 && high <= 65535 && low <= high)) {
      throw ruleError(where, field, range, `is not "*", a port or a range N-M within 0-65535`);
    }
    return low === high ? String(low) : `${low}-${high}`;
  });
  return nftSet(parts);
}

/** The protocol and port matches. Ports exist only in TCP and UDP, so "*" with ports means those two. */
function protocolMatch(rule: NsgRule, where: string): string {
  const sport = portMatch(rule.sourcePortRanges, where, "sourcePortRange(s)");
  const dport = portMatch(rule.destinationPortRanges, where, "destinationPortRange(s)");
  const ports = (proto: string) =>
    [sport && `${proto} sport ${sport}`, dport && `${proto} dport ${dport}`].filter(Boolean).join(" ");
  switch (rule.protocol) {
    case "Tcp":
    case "Udp": {
      const proto = rule.protocol.toLowerCase();
      return ports(proto) || `meta l4proto ${proto}`;
    }
    case "Icmp":
      if (sport !== undefined || dport !== undefined) {
        throw ruleError(where, "protocol", rule.protocol, `has no ports; its port ranges must be "*"`);
      }
      // Azure's Icmp is ICMP for IPv4; ICMPv6 is another protocol number.
      return "meta l4proto icmp";
    case "*":
      return sport === undefined && dport === undefined ? "" : `meta l4proto { tcp, udp } ${ports("th")}`;
  }
}

/** A rule's nft lines: one per source match, each carrying the Azure name and priority. */
function ruleLines(rule: NsgRule, vm: Vm): string[] {
  const where = `rule ${JSON.stringify(rule.name)} (priority ${rule.priority})`;
  // Azure's names are word characters, '.', '-' and '_'; anything else could break out of the comment.
  if (!/^\w(?:[\w.-]{0,78}[\w])?$/.test(rule.name)) {
    throw ruleError(
      where,
      "name",
      rule.name,
      "is not a rule name Azure takes (up to 80 word characters, '.', '-' and '_', starting and ending with a word character)",
    );
  }
  const sources = sourceMatches(rule, vm, where);
  const protocol = protocolMatch(rule, where);
  const label = `${rule.name} priority ${rule.priority}`;
  if (!destinationCoversVm(rule, vm, where)) {
    return [`# ${label}: its destination does not cover ${vm.privateIp}, so it never matches here`];
  }
  const verdict = rule.access === "Allow" ? "accept" : "drop";
  return sources.map((source) => [source, protocol, verdict, `comment "${label}"`].filter(Boolean).join(" "));
}

/**
 * An nftables script for the VM's namespace that enforces `rules` as Azure would. It replaces the
 * table `inet azure_nsg` in one transaction (declare it, delete it, declare it again), so applying
 * it again, after a rule changed, leaves exactly the new rules. The filter runs in prerouting at
 * priority -150: after conntrack (-200), so flows already allowed pass on their state, and before
 * Docker's DNAT (-100, iptables-nft in the same namespace), so the port it sees is the one Azure
 * sees. Only packets arriving on the NIC's legs are filtered; lo and docker0 are the VM's inside.
 */
export function nsgRuleset(rules: readonly NsgRule[], vm: Vm): string {
  const ordered = [...rules].sort((a, b) => a.priority - b.priority);
  const clash = ordered.find((r, i) => i > 0 && ordered[i - 1].priority === r.priority);
  if (clash) {
    throw ruleError(
      `rule ${JSON.stringify(clash.name)}`,
      "priority",
      clash.priority,
      "is taken by another inbound rule; Azure refuses two with one priority",
    );
  }
  const interfaces = nftSet(nicInterfaces(vm).map((i) => `"${i}"`));
  return [
    `# Azure NSG rules for ${vm.name}, from the rendered stack (sandbox/networks/nsg.ts).`,
    "table inet azure_nsg",
    "delete table inet azure_nsg",
    "table inet azure_nsg {",
    "\tchain prerouting {",
    "\t\ttype filter hook prerouting priority -150; policy accept;",
    `\t\tiifname ${interfaces} jump inbound`,
    "\t}",
    "\tchain inbound {",
    `\t\tct state established,related accept comment "flows already allowed, as Azure's flow records"`,
    ...ordered.flatMap((rule) => ruleLines(rule, vm)).map((line) => `\t\t${line}`),
    "\t}",
    "}",
    "",
  ].join("\n");
}

/**
 * Applies the NSG of each of `vms` (the stack's VMs) in its namespace. Every script is made first,
 * so a rule the sandbox refuses stops before any namespace changes.
 */
export async function applyNsgs(stack: Evaluation, vms: readonly Vm[]): Promise<void> {
  const scripts = vms.map((vm) => ({ vm, script: nsgRuleset(nsgRules(stack, vm), vm) }));
  for (const { vm, script } of scripts) {
    await check("ip", ["netns", "exec", netnsOf(vm), "nft", "-f", "-"], { input: script });
  }
}
