// The rules of the flowproxy-staging policy pack as pure functions over resource-like objects
// ({type, name, props}), so tests can run them without the Pulumi engine. Each returns the
// violations it finds as messages; an empty list means compliant. Messages name the resource, the
// property and the fix, and never repeat a secret value.
import { Cidr, cidrContains, parseAddressRange } from "../lib/cidr";
import { AZURE_VM_SIZE, BUILDERHUB, METRICS_PORTS, PORTS, TAG, UBUNTU_IMAGE } from "../lib/contract";
import { AZURE_RESERVED_ADDRESSES, usableAddresses } from "../lib/fleet";
import type { NicInputs, SecurityRuleInputs, VmInputs, VnetInputs } from "../lib/azure-inputs";
import { asText, items } from "../lib/azure-inputs";

/** What the policy engine hands a rule: a resource's type, logical name and properties. */
export interface ResourceLike {
  type: string;
  name: string;
  props: Record<string, unknown>;
}

export const TYPES = {
  nsg: "azure-native:network:NetworkSecurityGroup",
  securityRule: "azure-native:network:SecurityRule",
  nic: "azure-native:network:NetworkInterface",
  publicIp: "azure-native:network:PublicIPAddress",
  vnet: "azure-native:network:VirtualNetwork",
  subnet: "azure-native:network:Subnet",
  vm: "azure-native:compute:VirtualMachine",
  extension: "azure-native:compute:VirtualMachineExtension",
  stack: "pulumi:pulumi:Stack",
} as const;

/** The spec's ports: FlowProxy VMs take SSH, HAProxy's user and system ports (TCP) and ICMP from the VNets. */
const FLOWPROXY_TCP_PORTS: readonly number[] = [PORTS.ssh, PORTS.http, PORTS.https, PORTS.system];
/** BuilderHub takes its API, SSH and ICMP, from the VNets only. */
const BUILDERHUB_TCP_PORTS: readonly number[] = [BUILDERHUB.port, PORTS.ssh];

/** Stacks whose name says production get the strict version of the SSH rule. */
const PRODUCTION_STACK = /prod/i;

/** The stack a resource belongs to, from its URN (urn:pulumi:<stack>::<project>::<type>::<name>). */
export function stackFromUrn(urn: string | undefined): string | undefined {
  const m = /^urn:pulumi:([^:]+)::/.exec(urn ?? "");
  return m ? m[1] : undefined;
}

export function isProductionStack(stack: string | undefined): boolean {
  return stack !== undefined && PRODUCTION_STACK.test(stack);
}

/**
 * Whether a resource belongs to BuilderHub's VM, by the tags the program puts on it (lib/contract.ts)
 * or, for a NIC, its internal DNS label, which Azure names the VM by.
 */
function isBuilderhub(resource: ResourceLike): boolean {
  const tags = (resource.props.tags ?? {}) as Record<string, unknown>;
  return (
    tags[TAG.role] === "builderhub" ||
    tags[TAG.vm] === BUILDERHUB.vmName ||
    (resource.props as NicInputs).dnsSettings?.internalDnsNameLabel === BUILDERHUB.vmName
  );
}

// ---------------------------------------------------------------------------------------------
// Addresses and ports

/** Sources that mean "anyone on the internet". */
function isWorldSource(source: string): boolean {
  const s = source.trim();
  if (["*", "internet", "any", "::/0"].includes(s.toLowerCase())) return true;
  const cidr = parseAddressRange(s);
  return cidr !== undefined && cidr.prefix === 0;
}

const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/**
 * Whether a source lies inside the stack's VNets (or, when the VNets are not known, inside the
 * private address ranges). Azure's VirtualNetwork service tag counts as inside.
 */
function isVnetSource(source: string, vnetCidrs: string[]): boolean {
  if (source.trim().toLowerCase() === "virtualnetwork") return true;
  const cidr = parseAddressRange(source);
  if (!cidr) return false;
  const ranges = (vnetCidrs.length > 0 ? vnetCidrs : PRIVATE_RANGES)
    .map(parseAddressRange)
    .filter((c): c is Cidr => c !== undefined);
  return ranges.some((range) => cidrContains(range, cidr));
}

/** A destination port range as Azure writes it ("22", "1000-2000", "*") as [low, high]. */
function portSpan(range: string): [number, number] | undefined {
  const r = range.trim();
  if (r === "*") return [0, 65535];
  const m = /^(\d+)(?:-(\d+))?$/.exec(r);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

/** An inbound allow rule, flattened from an NSG's inline rule or a standalone SecurityRule. */
interface RuleView {
  nsg: string;
  name: string;
  protocol: string;
  ports: string[];
  sources: string[];
}

/** The inbound allow rules of an NSG (inline securityRules) or of a standalone SecurityRule. */
function inboundAllowRules(resource: ResourceLike): RuleView[] {
  const raw = (
    resource.type === TYPES.nsg
      ? items(resource.props.securityRules)
      : resource.type === TYPES.securityRule
        ? [resource.props]
        : []
  ) as SecurityRuleInputs[];
  return raw
    .filter((r) => /^inbound$/i.test(asText(r.direction)) && /^allow$/i.test(asText(r.access)))
    .map((r) => ({
      nsg: resource.name,
      name: asText(r.name, resource.name),
      protocol: asText(r.protocol, "*").toLowerCase(),
      ports: [r.destinationPortRange, ...items(r.destinationPortRanges)]
        .filter((p) => p !== undefined && p !== null && p !== "")
        .map((p) => asText(p)),
      sources: [r.sourceAddressPrefix, ...items(r.sourceAddressPrefixes)]
        .filter((s) => s !== undefined && s !== null && s !== "")
        .map((s) => asText(s)),
    }));
}

function coversTcp(rule: RuleView): boolean {
  return rule.protocol === "tcp" || rule.protocol === "*";
}

/** A rule without a destination port allows every port. */
function portsOf(rule: RuleView): string[] {
  return rule.ports.length > 0 ? rule.ports : ["*"];
}

function sourcesOf(rule: RuleView): string[] {
  return rule.sources.length > 0 ? rule.sources : ["*"];
}

// ---------------------------------------------------------------------------------------------
// Rule: SSH is not open to the whole internet.

export function sshOpenToWorld(resource: ResourceLike): string[] {
  return inboundAllowRules(resource)
    .filter(
      (rule) =>
        coversTcp(rule) &&
        portsOf(rule).some((p) => {
          const span = portSpan(p);
          return span !== undefined && span[0] <= 22 && 22 <= span[1];
        }),
    )
    .flatMap((rule) =>
      sourcesOf(rule)
        .filter(isWorldSource)
        .map(
          (source) =>
            `${rule.nsg}: rule "${rule.name}" lets anyone on the internet (${source}) reach SSH (22/tcp). ` +
            "Narrow it to your office or VPN: pulumi config set flowproxy-staging:allowedSshCidr 203.0.113.0/24",
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// Rule: BuilderHub never gets a public IP.

export function builderhubPublicIp(resource: ResourceLike): string[] {
  const p = resource.props;
  if (resource.type === TYPES.publicIp && isBuilderhub(resource)) {
    return [
      `${resource.name}: a public IP address for BuilderHub; BuilderHub is reached through the VNets only, so delete it`,
    ];
  }
  if (resource.type === TYPES.nic && isBuilderhub(resource)) {
    const configs = items((p as NicInputs).ipConfigurations) as NonNullable<NicInputs["ipConfigurations"]>;
    return configs
      .filter((c) => c.publicIPAddress !== undefined && c.publicIPAddress !== null)
      .map(
        (c) =>
          `${resource.name}: IP configuration "${asText(c.name, "?")}" attaches a public IP to BuilderHub's NIC; remove publicIPAddress`,
      );
  }
  if (resource.type === TYPES.vm && isBuilderhub(resource)) {
    const configs = (p as VmInputs).networkProfile?.networkInterfaceConfigurations ?? [];
    return configs
      .flatMap((c) => items(c.ipConfigurations) as { publicIPAddressConfiguration?: unknown }[])
      .filter((ip) => ip.publicIPAddressConfiguration !== undefined && ip.publicIPAddressConfiguration !== null)
      .map(
        () => `${resource.name}: its network profile gives BuilderHub a public IP; remove publicIPAddressConfiguration`,
      );
  }
  return [];
}

// ---------------------------------------------------------------------------------------------
// Rule: no secret in an extension's public settings or in the stack outputs.

const SECRET_PATTERNS: { what: string; pattern: RegExp }[] = [
  { what: "a GitHub token", pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,})/ },
  { what: "a Tailscale key", pattern: /\btskey-[A-Za-z0-9][A-Za-z0-9-]{6,}/ },
  { what: "a private key (0x and 64 hex digits)", pattern: /\b0x[0-9a-fA-F]{64}\b/ },
  { what: "a PEM private key", pattern: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/ },
];

/** Names that hold secrets: as object keys, and as shell variables assigned in a script. */
const SECRET_NAME = /(?:password|passwd|secret|token|private_?key|auth_?key|api_?key|signer_?key)$/i;
const SECRET_ASSIGNMENT =
  /\b([A-Za-z_][A-Za-z0-9_]*?(?:PASSWORD|SECRET|TOKEN|PRIVATE_KEY|AUTH_KEY|API_KEY|SIGNER_KEY))=(?:'([^'\n]*)'|"([^"\n]*)"|([^\s'";]*))/g;

/** What in a text looks like a secret: "a GitHub token", "a value for GITHUB_TOKEN", ... */
function secretsInText(text: string): string[] {
  const found = SECRET_PATTERNS.filter(({ pattern }) => pattern.test(text)).map(({ what }) => what);
  for (const m of text.matchAll(SECRET_ASSIGNMENT)) {
    const value = m[2] ?? m[3] ?? m[4] ?? "";
    if (value !== "" && !value.startsWith("$")) found.push(`a value for ${m[1]}`);
  }
  return [...new Set(found)];
}

/** Base64 text (such as CustomScript's settings.script) decoded, when it decodes to readable text. */
function decodedBase64(text: string): string | undefined {
  const t = text.trim();
  if (t.length < 16 || t.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(t)) return undefined;
  const decoded = Buffer.from(t, "base64").toString("utf8");
  const printable = decoded.replace(/[^\x20-\x7e\t\r\n]/g, "").length;
  return printable >= decoded.length * 0.9 ? decoded : undefined;
}

/**
 * Every place in a value that holds something secret-looking, as "path: what". Values the engine
 * does not know yet (during preview) cannot leak and are skipped.
 */
export function findSecrets(value: unknown, path: string): string[] {
  if (typeof value === "string") {
    const direct = secretsInText(value);
    const decoded = decodedBase64(value);
    const inDecoded = decoded === undefined ? [] : secretsInText(decoded).map((what) => `${what} (base64-encoded)`);
    return [...direct, ...inDecoded].map((what) => `${path} holds ${what}`);
  }
  if (value && typeof value === "object") {
    const found: string[] = [];
    const array = Array.isArray(value);
    for (const key of Object.keys(value)) {
      let child: unknown;
      try {
        child = (value as Record<string, unknown>)[key];
      } catch {
        continue; // the engine throws on reading a value it does not know yet (preview)
      }
      const childPath = array ? `${path}[${key}]` : path ? `${path}.${key}` : key;
      if (!array && SECRET_NAME.test(key) && typeof child === "string" && child !== "")
        found.push(`${childPath} is named like a secret and set`);
      found.push(...findSecrets(child, childPath));
    }
    return found;
  }
  return [];
}

export function secretsInPublicSettings(resource: ResourceLike): string[] {
  if (resource.type !== TYPES.extension) return [];
  return findSecrets(resource.props.settings, "settings").map(
    (where) => `${resource.name}: ${where}; Azure stores public settings in the clear, so move it to protectedSettings`,
  );
}

/** The stack resource's properties are its outputs. */
export function secretsInStackOutputs(stack: ResourceLike): string[] {
  if (stack.type !== TYPES.stack) return [];
  return findSecrets(stack.props, "").map(
    (where) => `stack output ${where}; outputs are readable by anyone with stack access, so do not export it`,
  );
}

// ---------------------------------------------------------------------------------------------
// Rule: VMs keep password login disabled.

export function passwordLoginEnabled(resource: ResourceLike): string[] {
  if (resource.type !== TYPES.vm) return [];
  const os = (resource.props as VmInputs).osProfile;
  if (os === undefined || os === null) return []; // attached from an existing disk: nothing to log in with
  const problems: string[] = [];
  if (os.linuxConfiguration?.disablePasswordAuthentication !== true) {
    problems.push(
      `${resource.name}: osProfile.linuxConfiguration.disablePasswordAuthentication must be true (SSH keys only)`,
    );
  }
  if (os.adminPassword !== undefined && os.adminPassword !== null && os.adminPassword !== "") {
    problems.push(`${resource.name}: osProfile.adminPassword is set; log in with SSH keys only and remove it`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Rule: NSGs open only the spec's ports.

/** A single address inside the VNets (a /32): BuilderHub's Prometheus, the one scraper of the metrics ports. */
function isOneVnetAddress(source: string, vnetCidrs: string[]): boolean {
  return /\/32$/.test(source.trim()) && isVnetSource(source, vnetCidrs);
}

/**
 * Inbound allow rules beyond the spec. FlowProxy NSGs: 22, 80, 443 and 5544 over TCP (where SSH
 * may come from is the SSH rule's business), ICMP from the VNets, and with monitoring on the metrics
 * ports (8090, 8405) from one address inside the VNets. BuilderHub's NSG: 3000 and 22 over TCP and
 * ICMP, all from the VNets.
 */
export function nsgPortsOutsideSpec(resource: ResourceLike, vnetCidrs: string[]): string[] {
  const builderhub = isBuilderhub(resource);
  const allowedTcp = builderhub ? BUILDERHUB_TCP_PORTS : FLOWPROXY_TCP_PORTS;
  const problems: string[] = [];
  for (const rule of inboundAllowRules(resource)) {
    const where = `${rule.nsg}: rule "${rule.name}"`;
    const outsideVnets = sourcesOf(rule).filter((s) => !isVnetSource(s, vnetCidrs));
    if (rule.protocol === "icmp") {
      if (outsideVnets.length > 0)
        problems.push(`${where} allows ICMP from ${outsideVnets.join(", ")}; ICMP is for the peered VNets only`);
      continue;
    }
    if (rule.protocol !== "tcp") {
      problems.push(
        `${where} allows protocol ${rule.protocol === "*" ? "* (every protocol)" : rule.protocol}; the spec opens TCP ports and ICMP only`,
      );
      continue;
    }
    for (const range of portsOf(rule)) {
      const span = portSpan(range);
      const scraped =
        !builderhub &&
        span !== undefined &&
        span[0] === span[1] &&
        (METRICS_PORTS as readonly number[]).includes(span[0]);
      if (scraped && sourcesOf(rule).every((s) => isOneVnetAddress(s, vnetCidrs))) continue;
      if (scraped) {
        problems.push(
          `${where} opens metrics port ${range}/tcp to ${sourcesOf(rule).join(", ")}; only BuilderHub's Prometheus, one address inside the VNets (a /32), may reach it`,
        );
      } else if (span === undefined || span[0] !== span[1] || !allowedTcp.includes(span[0])) {
        problems.push(
          `${where} opens ${range === "*" ? "every port" : `port ${range}`}/tcp; ${builderhub ? "BuilderHub" : "a FlowProxy VM"} takes only ${allowedTcp.join(", ")}`,
        );
      }
    }
    if (builderhub && outsideVnets.length > 0) {
      problems.push(`${where} lets ${outsideVnets.join(", ")} in; BuilderHub takes traffic from the VNets only`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Rule: VM images pinned to the supported Ubuntu release.

export function unsupportedImage(resource: ResourceLike): string[] {
  if (resource.type !== TYPES.vm) return [];
  const image = (resource.props as VmInputs).storageProfile?.imageReference;
  const wanted = `${UBUNTU_IMAGE.publisher} ${UBUNTU_IMAGE.offer} ${UBUNTU_IMAGE.sku}`;
  if (!image) return [`${resource.name}: storageProfile.imageReference is not set; use ${wanted}`];
  const custom = image.id ?? image.sharedGalleryImageId ?? image.communityGalleryImageId;
  if (custom) return [`${resource.name}: boots the custom image ${asText(custom)}; use ${wanted}`];
  const same = (a: unknown, b: string) => asText(a).toLowerCase() === b.toLowerCase();
  if (
    same(image.publisher, UBUNTU_IMAGE.publisher) &&
    same(image.offer, UBUNTU_IMAGE.offer) &&
    same(image.sku, UBUNTU_IMAGE.sku)
  )
    return [];
  return [
    `${resource.name}: boots ${asText(image.publisher, "?")} ${asText(image.offer, "?")} ${asText(image.sku, "?")}; the provisioning supports ${wanted} (Ubuntu 22.04 LTS) only`,
  ];
}

// ---------------------------------------------------------------------------------------------
// Rules: the fleet. VM sizes are Azure's, every region runs a FlowProxy VM, and a region's NICs fit
// the addresses Azure hands out in its subnet.

const REGIONS_KEY = "flowproxy-staging:regions";

export function vmSizeUnknown(resource: ResourceLike): string[] {
  if (resource.type !== TYPES.vm) return [];
  const size = (resource.props as VmInputs).hardwareProfile?.vmSize;
  if (typeof size === "string" && AZURE_VM_SIZE.test(size)) return [];
  return [
    `${resource.name}: hardwareProfile.vmSize ${JSON.stringify(size ?? null)} is not an Azure VM size such as Standard_B2s; ` +
      `set the vmSize of its region in ${REGIONS_KEY}, or flowproxy-staging:vmSize`,
  ];
}

/** A property the engine may not know yet (during preview): undefined then. */
function known<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** Each VNet of the stack with its location and the subnets inside its address space. */
function regionsOf(
  resources: ResourceLike[],
): { vnet: string; location: string; subnets: { name: string; cidr: string }[] }[] {
  const subnets = resources
    .filter((r) => r.type === TYPES.subnet)
    .map((r) => ({ name: r.name, cidr: known(() => asText(r.props.addressPrefix)) ?? "" }))
    .filter((s) => parseAddressRange(s.cidr) !== undefined);
  return resources
    .filter((r) => r.type === TYPES.vnet)
    .map((r) => {
      const spaces = (known(() => (r.props as VnetInputs).addressSpace?.addressPrefixes) ?? []) as unknown[];
      const ranges = spaces.map((p) => parseAddressRange(String(p))).filter((c): c is Cidr => c !== undefined);
      return {
        vnet: r.name,
        location: asText(known(() => r.props.location)).toLowerCase(),
        subnets: subnets.filter((s) => ranges.some((range) => cidrContains(range, parseAddressRange(s.cidr)!))),
      };
    });
}

/** A VNet without a FlowProxy VM in its location: a region of the table must run one at least. */
export function regionsWithoutFlowProxy(resources: ResourceLike[]): string[] {
  const proxyLocations = new Set(
    resources
      .filter((r) => r.type === TYPES.vm && ((r.props.tags ?? {}) as Record<string, unknown>)[TAG.role] === "flowproxy")
      .map((r) => asText(known(() => r.props.location)).toLowerCase()),
  );
  return regionsOf(resources)
    .filter((region) => region.location !== "" && !proxyLocations.has(region.location))
    .map(
      (region) =>
        `${region.vnet}: no FlowProxy VM runs in ${region.location}; a region runs 1 or more (its proxies in ${REGIONS_KEY}), or leave the region out`,
    );
}

/**
 * A subnet holding more NICs than Azure hands out addresses in it: the rest would fail to deploy
 * (SubnetIsFull). NICs are counted by their location, which is their region's VNet.
 */
export function subnetsOverfull(resources: ResourceLike[]): string[] {
  const nicsIn = (location: string) =>
    resources.filter((r) => r.type === TYPES.nic && asText(known(() => r.props.location)).toLowerCase() === location)
      .length;
  return regionsOf(resources)
    .filter((region) => region.subnets.length === 1)
    .flatMap((region) => {
      const [subnet] = region.subnets;
      const nics = nicsIn(region.location);
      const usable = usableAddresses(subnet.cidr);
      if (nics <= usable) return [];
      return [
        `${subnet.name} (${subnet.cidr}) would hold ${nics} NICs in ${region.location}, but Azure hands out ${usable} addresses in it ` +
          `(it keeps ${AZURE_RESERVED_ADDRESSES} of every subnet); lower that region's proxies or give it a larger subnetCidr in ${REGIONS_KEY}`,
      ];
    });
}

/** The address spaces of the stack's VNets. */
export function vnetCidrsOf(resources: ResourceLike[]): string[] {
  return resources
    .filter((r) => r.type === TYPES.vnet)
    .flatMap((r) => {
      try {
        const prefixes = (r.props as VnetInputs).addressSpace?.addressPrefixes;
        return items(prefixes).map((p) => asText(p));
      } catch {
        return []; // unknown during preview
      }
    });
}
