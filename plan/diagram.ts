// The architecture diagram, read from the program's resource graph and drawn as SVG by hand:
// regions side by side, each with its VNets, subnets and VMs (public and private endpoints, open
// ports, provisioning extension); the internet above, VNet peerings between the regions, and the
// private DNS zone with its records and links below. The output depends on the graph alone (no
// dates, sorted input), so the committed docs/architecture.svg can be compared byte for byte.
import { PlanGraph, PlanNode } from "./graph";
import type {
  IpConfigurationInputs,
  NicInputs,
  NicState,
  NsgInputs,
  PeeringInputs,
  RecordSetInputs,
  SecurityRuleInputs,
  SubnetInputs,
  VmInputs,
  VnetInputs,
  VnetLinkInputs,
} from "../lib/azure-inputs";
import { asText } from "../lib/azure-inputs";

// ---------------------------------------------------------------------------------------------
// What is drawn, read from the graph.

interface VmBox {
  name: string;
  size: string;
  image: string;
  nic?: string;
  privateIp?: string;
  publicIp?: string;
  publicIpName?: string;
  dnsNames: string[];
  firewall?: string;
  open: string[];
  extension?: string;
  extensionAfter: string[];
}

interface SubnetBox {
  name: string;
  cidr: string;
  vms: VmBox[];
}

interface VnetBox {
  name: string;
  cidrs: string[];
  subnets: SubnetBox[];
}

interface RegionBox {
  location: string;
  groups: string[];
  vnets: VnetBox[];
  /** VMs whose NIC sits in no subnet of this stack. */
  looseVms: VmBox[];
}

interface PeeringEdge {
  from: string;
  to: string;
  bothWays: boolean;
}

interface DnsZoneBox {
  name: string;
  resource: string;
  records: { fqdn: string; targets: string[]; type: string }[];
  links: { vnet: string; link: string }[];
}

export interface Diagram {
  title: string;
  footer: string;
  regions: RegionBox[];
  peerings: PeeringEdge[];
  zones: DnsZoneBox[];
}

const T = {
  rg: "azure-native:resources:ResourceGroup",
  vnet: "azure-native:network:VirtualNetwork",
  subnet: "azure-native:network:Subnet",
  peering: "azure-native:network:VirtualNetworkPeering",
  nsg: "azure-native:network:NetworkSecurityGroup",
  nic: "azure-native:network:NetworkInterface",
  vm: "azure-native:compute:VirtualMachine",
  extension: "azure-native:compute:VirtualMachineExtension",
  zone: "azure-native:privatedns:PrivateZone",
  link: "azure-native:privatedns:VirtualNetworkLink",
  record: "azure-native:privatedns:PrivateRecordSet",
};

export function buildDiagram(graph: PlanGraph, title: string, footer: string): Diagram {
  const zones = graph.ofType(T.zone).map((zone) => zoneBox(graph, zone));
  const vmBoxes = graph.ofType(T.vm).map((vm) => vmBox(graph, vm, zones));
  const vmNic = new Map(vmBoxes.map((vm) => [vm, vm.nic ? graph.get(vm.nic) : undefined]));
  const subnetOfVm = (vm: VmBox) =>
    graph.ref((vmNic.get(vm)?.inputs as NicInputs | undefined)?.ipConfigurations?.[0]?.subnet?.id)?.name;

  const regions = graph.regions.map((location): RegionBox => {
    const inRegion = (n: PlanNode) => graph.regionOf(n) === location;
    const vnets = graph
      .ofType(T.vnet)
      .filter(inRegion)
      .map((vnet): VnetBox => ({
        name: vnet.name,
        cidrs: strings((vnet.inputs as VnetInputs).addressSpace?.addressPrefixes),
        subnets: graph
          .ofType(T.subnet)
          .filter((s) => graph.ref(s.inputs.virtualNetworkName) === vnet)
          .map((subnet) => ({
            name: subnet.name,
            cidr: asText(
              (subnet.inputs as SubnetInputs).addressPrefix,
              strings(subnet.inputs.addressPrefixes).join(", "),
            ),
            vms: vmBoxes.filter((vm) => subnetOfVm(vm) === subnet.name).sort(publicFirst),
          })),
      }));
    const placed = new Set(vnets.flatMap((v) => v.subnets.flatMap((s) => s.vms)));
    return {
      location,
      // The group's name in Azure, the one to look for in the portal, when the program gives one.
      groups: graph
        .ofType(T.rg)
        .filter(inRegion)
        .map((g) => asText(g.inputs.resourceGroupName, g.name)),
      vnets,
      looseVms: vmBoxes.filter((vm) => !placed.has(vm) && graph.regionOf(graph.get(vm.name)!) === location),
    };
  });

  const peerings: PeeringEdge[] = [];
  for (const p of graph.ofType(T.peering)) {
    const from = graph.refName(p.inputs.virtualNetworkName);
    const to = graph.refName((p.inputs as PeeringInputs).remoteVirtualNetwork?.id);
    const reverse = peerings.find((e) => e.from === to && e.to === from);
    if (reverse) reverse.bothWays = true;
    else if (!peerings.some((e) => e.from === from && e.to === to)) peerings.push({ from, to, bothWays: false });
  }
  return { title, footer, regions, peerings, zones };
}

function zoneBox(graph: PlanGraph, zone: PlanNode): DnsZoneBox {
  const name = asText(zone.inputs.privateZoneName, zone.name);
  const ofZone = (n: PlanNode) => graph.ref(n.inputs.privateZoneName) === zone;
  return {
    name,
    resource: zone.name,
    records: graph
      .ofType(T.record)
      .filter(ofZone)
      .map((r) => ({
        fqdn: `${String((r.inputs as RecordSetInputs).relativeRecordSetName)}.${name}`,
        type: asText(r.inputs.recordType, "A"),
        targets: [
          ...((r.inputs as RecordSetInputs).aRecords ?? []).map((a) => String(a.ipv4Address)),
          ...((r.inputs as RecordSetInputs).ptrRecords ?? []).map((p) => String(p.ptrdname)),
        ],
      })),
    links: graph
      .ofType(T.link)
      .filter(ofZone)
      .map((l) => ({ vnet: graph.refName((l.inputs as VnetLinkInputs).virtualNetwork?.id), link: l.name })),
  };
}

function vmBox(graph: PlanGraph, vm: PlanNode, zones: DnsZoneBox[]): VmBox {
  const p = vm.inputs as VmInputs;
  const nic = graph.ref(p.networkProfile?.networkInterfaces?.[0]?.id);
  const nicInputs = nic?.inputs as NicInputs | undefined;
  const ipConfig: IpConfigurationInputs = nicInputs?.ipConfigurations?.[0] ?? {};
  const privateIp = (nic?.state as NicState | undefined)?.ipConfigurations?.[0]?.privateIPAddress as string | undefined;
  const pip = graph.ref(ipConfig.publicIPAddress?.id);
  const nsg = graph.ref(nicInputs?.networkSecurityGroup?.id);
  const extension = graph.ofType(T.extension).find((e) => graph.ref(e.inputs.vmName) === vm);
  const image = p.storageProfile?.imageReference ?? {};
  return {
    name: vm.name,
    size: asText(p.hardwareProfile?.vmSize, "?"),
    image: image.id ? asText(image.id) : `${asText(image.publisher, "?")} ${asText(image.sku, "?")}`,
    nic: nic?.name,
    privateIp,
    publicIp: pip ? asText(pip.state.ipAddress, "(allocated at deploy)") : undefined,
    publicIpName: pip?.name,
    dnsNames: zones.flatMap((z) =>
      z.records.filter((r) => privateIp !== undefined && r.targets.includes(privateIp)).map((r) => r.fqdn),
    ),
    firewall: nsg?.name,
    open: nsg ? openPorts(nsg) : [],
    extension: extension ? `${extension.name} (${asText(extension.inputs.type, "extension")})` : undefined,
    extensionAfter: extension ? extension.dependsOn.filter((d) => graph.get(d)?.type === T.extension) : [],
  };
}

/** Inbound allow rules as "80, 443/tcp from any", grouped by source and protocol in priority order. */
function openPorts(nsg: PlanNode): string[] {
  const rules = ((nsg.inputs as NsgInputs).securityRules ?? []) as SecurityRuleInputs[];
  const inbound = rules
    .filter((r) => /^inbound$/i.test(String(r.direction)) && /^allow$/i.test(String(r.access)))
    .sort((a, b) => Number(a.priority) - Number(b.priority));
  const groups: { source: string; protocol: string; ports: string[] }[] = [];
  for (const r of inbound) {
    const source = asText(r.sourceAddressPrefix, strings(r.sourceAddressPrefixes).join(", "));
    const protocol = asText(r.protocol, "*").toLowerCase();
    const ports =
      r.destinationPortRange !== undefined ? [asText(r.destinationPortRange)] : strings(r.destinationPortRanges);
    const group = groups.find((g) => g.source === source && g.protocol === protocol);
    if (group) group.ports.push(...ports.filter((port) => !group.ports.includes(port)));
    else groups.push({ source, protocol, ports });
  }
  return groups.map((g) => {
    const from = g.source === "*" ? "any" : g.source;
    if (g.protocol === "icmp") return `icmp from ${from}`;
    const ports = g.ports.join(", ");
    return `${ports === "*" ? "all ports" : ports}/${g.protocol === "*" ? "any" : g.protocol} from ${from}`;
  });
}

function publicFirst(a: VmBox, b: VmBox): number {
  return Number(b.publicIp !== undefined) - Number(a.publicIp !== undefined) || a.name.localeCompare(b.name);
}

function strings(values: unknown): string[] {
  return Array.isArray(values) ? values.map(String) : [];
}

// ---------------------------------------------------------------------------------------------
// Layout and drawing. Text is measured with fixed advances: monospace body text is exact, and the
// bold sans-serif titles get a generous estimate.

const MONO_SIZE = 11;
const MONO_ADVANCE = MONO_SIZE * 0.61;
const LINE = 15;
const TITLE_SIZE = 13;
const TITLE_ADVANCE = TITLE_SIZE * 0.82; // bold sans-serif runs wide (DejaVu Sans Bold, Verdana Bold)
const GAP = 140; // between regions: room for the peering label

const COLORS = {
  ink: "#1f2933",
  muted: "#52606d",
  region: { fill: "#f4f6f8", stroke: "#7b8794" },
  vnet: { fill: "#e8f1fb", stroke: "#2f6fb3" },
  subnet: { fill: "#f7fbff", stroke: "#7ea6d3" },
  publicVm: { fill: "#fff4e5", stroke: "#c26d00" },
  privateVm: { fill: "#eaf7ee", stroke: "#2f8f4e" },
  internet: { fill: "#fdecea", stroke: "#b3261e" },
  dns: { fill: "#f3ecfa", stroke: "#6b3fa0" },
  peering: "#2f6fb3",
};

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface CardLine {
  text: string;
  kind: "label" | "value" | "title";
}

function textWidth(text: string, advance = MONO_ADVANCE): number {
  return Math.ceil(text.length * advance);
}

function vmCardLines(vm: VmBox): CardLine[] {
  const lines: CardLine[] = [{ text: `${vm.size} · ${vm.image}`, kind: "value" }];
  lines.push({ text: vm.publicIp ? `public  ${vm.publicIp} (${vm.publicIpName})` : "public  none", kind: "value" });
  if (vm.privateIp) lines.push({ text: `private ${vm.privateIp} (${vm.nic})`, kind: "value" });
  for (const dns of vm.dnsNames) lines.push({ text: `dns     ${dns}`, kind: "value" });
  if (vm.firewall) {
    lines.push({ text: `open ports (${vm.firewall}):`, kind: "label" });
    for (const rule of vm.open) lines.push({ text: `  ${rule}`, kind: "value" });
  }
  if (vm.extension) {
    lines.push({ text: `provisioned by ${vm.extension}`, kind: "label" });
    if (vm.extensionAfter.length > 0) lines.push({ text: `  after ${vm.extensionAfter.join(", ")}`, kind: "value" });
  }
  return lines;
}

interface Svg {
  parts: string[];
}

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function rect(svg: Svg, r: Rect, fill: string, stroke: string, extra = ""): void {
  svg.parts.push(
    `<rect x="${r.x}" y="${r.y}" width="${r.w}" height="${r.h}" rx="6" fill="${fill}" stroke="${stroke}"${extra}/>`,
  );
}

function text(
  svg: Svg,
  x: number,
  y: number,
  content: string,
  cls: string,
  anchor: "start" | "middle" = "start",
): void {
  // Monospace lines keep their spaces (indents, aligned columns).
  const keepSpaces = cls.split(" ").includes("mono") ? ' xml:space="preserve"' : "";
  svg.parts.push(
    `<text x="${x}" y="${y}" class="${cls}"${anchor === "middle" ? ' text-anchor="middle"' : ""}${keepSpaces}>${esc(content)}</text>`,
  );
}

/** Where the arrow from the internet meets a public VM's card. */
function arrowX(c: VmLayout): number {
  return Math.round(c.rect.x + c.rect.w * 0.72);
}

interface VmLayout {
  vm: VmBox;
  rect: Rect;
  lines: CardLine[];
}

function cardSize(vm: VmBox): { w: number; h: number; lines: CardLine[] } {
  const lines = vmCardLines(vm);
  const w = Math.max(textWidth(vm.name, TITLE_ADVANCE), ...lines.map((l) => textWidth(l.text))) + 20;
  return { w, h: 30 + lines.length * LINE + 6, lines };
}

interface BoxLayout {
  rect: Rect;
}

interface SubnetLayout extends BoxLayout {
  subnet: SubnetBox;
  vms: VmLayout[];
}

interface VnetLayout extends BoxLayout {
  vnet: VnetBox;
  subnets: SubnetLayout[];
}

interface RegionLayout extends BoxLayout {
  region: RegionBox;
  vnets: VnetLayout[];
  looseVms: VmLayout[];
}

/** Lays out a row of VM cards starting at (x, y); returns the cards and the row's size. */
function layoutVmRow(vms: VmBox[], x: number, y: number): { cards: VmLayout[]; w: number; h: number } {
  const cards: VmLayout[] = [];
  let cx = x;
  let h = 0;
  for (const vm of vms) {
    const size = cardSize(vm);
    cards.push({ vm, rect: { x: cx, y, w: size.w, h: size.h }, lines: size.lines });
    cx += size.w + 16;
    h = Math.max(h, size.h);
  }
  return { cards, w: Math.max(0, cx - x - 16), h };
}

function subnetLabel(s: SubnetBox): string {
  return `${s.name} ${s.cidr}`;
}

function vnetLabel(v: VnetBox): string {
  return `${v.name} ${v.cidrs.join(", ")}`;
}

function regionLabel(r: RegionBox): string {
  return [r.location, ...r.groups].join(" · ");
}

function layoutRegion(region: RegionBox, x: number, y: number): RegionLayout {
  const pad = 14;
  let cy = y + 34;
  let innerW = textWidth(regionLabel(region), TITLE_ADVANCE);
  const vnets: VnetLayout[] = [];
  for (const vnet of region.vnets) {
    const vx = x + pad;
    let sy = cy + 30;
    let vnetInnerW = textWidth(vnetLabel(vnet), TITLE_ADVANCE);
    const subnets: SubnetLayout[] = [];
    for (const subnet of vnet.subnets) {
      const sx = vx + 12;
      const row = layoutVmRow(subnet.vms, sx + 12, sy + 28);
      const w = Math.max(row.w, textWidth(subnetLabel(subnet), TITLE_ADVANCE * 0.9)) + 24;
      const h = 28 + row.h + 12;
      subnets.push({ subnet, vms: row.cards, rect: { x: sx, y: sy, w, h } });
      vnetInnerW = Math.max(vnetInnerW, w);
      sy += h + 12;
    }
    const h = Math.max(sy - cy, 44);
    vnets.push({ vnet, subnets, rect: { x: vx, y: cy, w: vnetInnerW + 24, h } });
    innerW = Math.max(innerW, vnetInnerW + 24);
    cy += h + 14;
  }
  const loose = layoutVmRow(region.looseVms, x + pad, cy);
  if (loose.cards.length > 0) cy += loose.h + 14;
  innerW = Math.max(innerW, loose.w);
  // Every VNet of a region gets the region's full inner width, so the boxes line up.
  for (const v of vnets) {
    v.rect.w = innerW;
    for (const s of v.subnets) s.rect.w = innerW - 24;
  }
  return { region, vnets, looseVms: loose.cards, rect: { x, y, w: innerW + 2 * pad, h: cy - y } };
}

export function renderSvg(diagram: Diagram): string {
  const margin = 24;
  const top = margin + 28; // below the title
  const internet: Rect = { x: margin, y: top, w: 0, h: 34 };
  const regionsTop = internet.y + internet.h + 56;

  // Regions side by side, all as tall as the tallest.
  let x = margin;
  const regions: RegionLayout[] = [];
  for (const region of diagram.regions) {
    const layout = layoutRegion(region, x, regionsTop);
    regions.push(layout);
    x += layout.rect.w + GAP;
  }
  const regionsBottom = Math.max(regionsTop + 80, ...regions.map((r) => r.rect.y + r.rect.h));
  for (const r of regions) r.rect.h = regionsBottom - r.rect.y;
  let width = Math.max(x - GAP + margin, 640);

  const vnetRect = new Map<string, Rect>();
  const regionIndex = new Map<string, number>();
  regions.forEach((r, i) =>
    r.vnets.forEach((v) => {
      vnetRect.set(v.vnet.name, v.rect);
      regionIndex.set(v.vnet.name, i);
    }),
  );

  // Peerings between neighbouring regions cross the gap; others arc below the regions.
  const adjacent = diagram.peerings.filter(
    (p) => Math.abs((regionIndex.get(p.from) ?? -9) - (regionIndex.get(p.to) ?? -9)) === 1,
  );
  const arcs = diagram.peerings.filter((p) => !adjacent.includes(p) && vnetRect.has(p.from) && vnetRect.has(p.to));
  const arcDepth = (p: PeeringEdge) => 30 + 22 * Math.abs(regionIndex.get(p.from)! - regionIndex.get(p.to)!);
  const arcsBottom = regionsBottom + Math.max(0, ...arcs.map(arcDepth)) + (arcs.length > 0 ? 24 : 0);

  // DNS zones below, full width.
  const zoneTop = arcsBottom + 50;
  const zoneLayouts = diagram.zones.map((zone) => {
    const title = `private DNS zone ${zone.name} (${zone.resource})`;
    const lines = [
      ...zone.records.map(
        (r) =>
          `${r.fqdn.padEnd(Math.max(...zone.records.map((q) => q.fqdn.length)))}  ${r.type}  ${r.targets.join(", ")}`,
      ),
      `linked to ${zone.links.map((l) => l.vnet).join(", ") || "no VNet"} (${zone.links.map((l) => l.link).join(", ")})`,
    ];
    return { zone, title, lines };
  });
  let zy = zoneTop;
  const zones = zoneLayouts.map((z) => {
    const w = Math.max(textWidth(z.title, TITLE_ADVANCE), ...z.lines.map((l) => textWidth(l))) + 28;
    const r: Rect = { x: margin, y: zy, w, h: 34 + z.lines.length * LINE + 6 };
    zy += r.h + 16;
    return { ...z, rect: r };
  });
  width = Math.max(width, ...zones.map((z) => z.rect.w + 2 * margin));
  const cards = regions.flatMap((r) => [...r.vnets.flatMap((v) => v.subnets.flatMap((s) => s.vms)), ...r.looseVms]);
  const publicCards = cards.filter((c) => c.vm.publicIp !== undefined);
  width = Math.max(
    width,
    ...publicCards.map((c) => arrowX(c) + 6 + textWidth(`public IP ${c.vm.publicIp}`, 11 * 0.62) + margin),
  );
  for (const z of zones) z.rect.w = width - 2 * margin;
  internet.w = width - 2 * margin;
  const footerY = (zones.length > 0 ? zy : arcsBottom + 20) + 14;
  const height = footerY + 20 + margin;

  const svg: Svg = { parts: [] };
  svg.parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    "<style>",
    `text { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; fill: ${COLORS.ink}; }`,
    `.mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: ${MONO_SIZE}px; }`,
    `.muted { fill: ${COLORS.muted}; }`,
    `.title { font-size: 17px; font-weight: bold; }`,
    `.h { font-size: ${TITLE_SIZE}px; font-weight: bold; }`,
    `.hs { font-size: ${Math.round(TITLE_SIZE * 0.9)}px; font-weight: bold; }`,
    `.small { font-size: 11px; }`,
    ".halo { paint-order: stroke; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; }",
    "</style>",
    "<defs>",
    `<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${COLORS.internet.stroke}"/></marker>`,
    `<marker id="peer" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${COLORS.peering}"/></marker>`,
    "</defs>",
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
  );
  text(svg, margin, margin + 12, diagram.title, "title");

  // The internet, with an arrow to every public endpoint.
  rect(svg, internet, COLORS.internet.fill, COLORS.internet.stroke);
  text(svg, internet.x + internet.w / 2, internet.y + 22, "Internet", "h", "middle");

  // Boxes first, then the lines that cross them, then labels (with a white halo) and VM cards on top.
  for (const r of regions) {
    rect(svg, r.rect, COLORS.region.fill, COLORS.region.stroke);
    for (const v of r.vnets) {
      rect(svg, v.rect, COLORS.vnet.fill, COLORS.vnet.stroke);
      for (const s of v.subnets) rect(svg, s.rect, COLORS.subnet.fill, COLORS.subnet.stroke, ' stroke-dasharray="5 3"');
    }
  }

  for (const card of publicCards) {
    const ax = arrowX(card);
    svg.parts.push(
      `<line x1="${ax}" y1="${internet.y + internet.h}" x2="${ax}" y2="${card.rect.y - 1}" stroke="${COLORS.internet.stroke}" stroke-width="1.6" marker-end="url(#arrow)"/>`,
    );
  }

  for (const p of adjacent) {
    const a = vnetRect.get(p.from)!;
    const b = vnetRect.get(p.to)!;
    const [left, right] = a.x < b.x ? [a, b] : [b, a];
    const y = Math.round(Math.max(left.y, right.y) + Math.min(left.h, right.h, 160) / 2);
    const x1 = left.x + left.w;
    const x2 = right.x;
    const tail = p.bothWays ? ' marker-start="url(#peer)"' : "";
    const [s1, s2] = a.x < b.x ? [x1, x2] : [x2, x1];
    svg.parts.push(
      `<line x1="${s1}" y1="${y}" x2="${s2}" y2="${y}" stroke="${COLORS.peering}" stroke-width="2" marker-end="url(#peer)"${tail}/>`,
    );
    text(svg, Math.round((x1 + x2) / 2), y - 10, "VNet peering", "small halo", "middle");
    text(
      svg,
      Math.round((x1 + x2) / 2),
      y + 18,
      p.bothWays ? "both directions" : `${p.from} -> ${p.to}`,
      "small muted halo",
      "middle",
    );
  }
  for (const p of arcs) {
    const a = vnetRect.get(p.from)!;
    const b = vnetRect.get(p.to)!;
    const ax = Math.round(a.x + a.w * 0.66);
    const bx = Math.round(b.x + b.w * 0.66);
    const depth = arcDepth(p);
    const y0 = regionsBottom;
    svg.parts.push(
      `<path d="M${ax},${y0} C${ax},${y0 + depth} ${bx},${y0 + depth} ${bx},${y0}" fill="none" stroke="${COLORS.peering}" stroke-width="2" marker-end="url(#peer)"${p.bothWays ? ' marker-start="url(#peer)"' : ""}/>`,
    );
    // A curve with both controls at y0 + depth bottoms out at y0 + 3/4 depth; the label sits below.
    const [left, right] = p.bothWays && b.x < a.x ? [p.to, p.from] : [p.from, p.to];
    text(
      svg,
      Math.round((ax + bx) / 2),
      y0 + Math.round(depth * 0.75) + 16,
      `VNet peering ${left} ${p.bothWays ? "<->" : "->"} ${right}`,
      "small halo",
      "middle",
    );
  }

  // DNS links: dashed from each zone up to the VNets it serves.
  for (const z of zones) {
    for (const link of z.zone.links) {
      const v = vnetRect.get(link.vnet);
      if (!v) continue;
      const lx = Math.round(v.x + v.w * 0.3);
      svg.parts.push(
        `<line x1="${lx}" y1="${z.rect.y}" x2="${lx}" y2="${v.y + v.h}" stroke="${COLORS.dns.stroke}" stroke-width="1.4" stroke-dasharray="6 4"/>`,
      );
      text(svg, lx + 6, z.rect.y - 8, `DNS link ${link.link}`, "small muted halo");
    }
  }

  for (const r of regions) {
    text(svg, r.rect.x + 14, r.rect.y + 22, regionLabel(r.region), "h halo");
    for (const v of r.vnets) {
      text(svg, v.rect.x + 12, v.rect.y + 20, vnetLabel(v.vnet), "h halo");
      for (const s of v.subnets) text(svg, s.rect.x + 12, s.rect.y + 19, subnetLabel(s.subnet), "hs halo");
    }
  }
  for (const card of cards) {
    const colors = card.vm.publicIp !== undefined ? COLORS.publicVm : COLORS.privateVm;
    rect(svg, card.rect, colors.fill, colors.stroke, ' stroke-width="1.5"');
    text(svg, card.rect.x + 10, card.rect.y + 20, card.vm.name, "h");
    card.lines.forEach((line, i) =>
      text(
        svg,
        card.rect.x + 10,
        card.rect.y + 38 + i * LINE,
        line.text,
        line.kind === "label" ? "mono muted" : "mono",
      ),
    );
  }
  for (const card of publicCards) {
    text(svg, arrowX(card) + 6, internet.y + internet.h + 22, `public IP ${card.vm.publicIp}`, "small halo");
  }

  for (const z of zones) {
    rect(svg, z.rect, COLORS.dns.fill, COLORS.dns.stroke);
    text(svg, z.rect.x + 14, z.rect.y + 22, z.title, "h");
    z.lines.forEach((line, i) => text(svg, z.rect.x + 14, z.rect.y + 40 + i * LINE, line, "mono"));
  }

  const legend = [
    { colors: COLORS.publicVm, label: "VM with a public IP" },
    { colors: COLORS.privateVm, label: "VM reachable inside the VNets only" },
  ];
  let lx = margin;
  for (const item of legend) {
    svg.parts.push(
      `<rect x="${lx}" y="${footerY - 10}" width="14" height="12" rx="2" fill="${item.colors.fill}" stroke="${item.colors.stroke}"/>`,
    );
    text(svg, lx + 20, footerY, item.label, "small");
    lx += 20 + textWidth(item.label, 11 * 0.62) + 24;
  }
  text(svg, margin, footerY + 20, diagram.footer, "small muted");
  svg.parts.push("</svg>");
  return svg.parts.join("\n") + "\n";
}
