// The plan as text: every resource the program declares, grouped by region, with the properties a
// reviewer checks. Values come from the redacted inputs, so a secret can only ever print as [secret].
import { PlanGraph, PlanNode, SECRET, redact } from "./graph";
import { isMarkedSecret } from "./evaluation";
import type {
  IpConfigurationInputs,
  LinuxConfiguration,
  NicInputs,
  NicState,
  NsgInputs,
  OsProfile,
  PeeringInputs,
  PublicIpInputs,
  RecordSetInputs,
  ScheduleInputs,
  SecurityRuleInputs,
  SubnetInputs,
  VmInputs,
  VnetInputs,
  VnetLinkInputs,
} from "../lib/azure-inputs";
import { items } from "../lib/azure-inputs";

export interface PlanHeader {
  project: string;
  stack: string;
  configFile: string;
  /** The stack file that was looked for when the example config stands in. */
  missingStackFile?: string;
  placeholders: string[];
}

export function formatPlan(graph: PlanGraph, header: PlanHeader): string {
  const groups = [
    ...graph.regions.map((region) => ({
      title: region,
      nodes: graph.nodes.filter((n) => graph.regionOf(n) === region),
    })),
    {
      title: "shared (global or used across regions)",
      nodes: graph.nodes.filter((n) => graph.regionOf(n) === undefined),
    },
  ].filter((g) => g.nodes.length > 0);
  const typeWidth = Math.max(...graph.nodes.map((n) => n.type.length));

  const out: string[] = [];
  out.push(`${header.project} plan for stack "${header.stack}"`);
  const source = header.missingStackFile
    ? `${header.configFile} (example config: ${header.missingStackFile} does not exist)`
    : header.configFile;
  out.push(`  config:    ${source}`);
  if (header.placeholders.length > 0) {
    out.push(
      `  secrets:   ${header.placeholders.join(", ")} stand in as placeholders (Pulumi alone can decrypt or supply them)`,
    );
  }
  out.push(
    "  evaluated: under mocks, without Azure credentials or the Pulumi CLI; IDs, addresses and random values are mocked",
  );
  out.push(
    `  resources: ${graph.nodes.length} (${groups.map((g) => `${g.title.split(" ")[0]} ${g.nodes.length}`).join(", ")})`,
  );
  for (const group of groups) {
    out.push("", `== ${group.title} ==`);
    for (const node of group.nodes) {
      out.push(`  ${node.type.padEnd(typeWidth)}  ${node.name}`);
      for (const line of resourceDetails(node, graph)) out.push(`      ${line}`);
    }
  }
  const outputs = Object.entries(graph.evaluation.outputs);
  if (outputs.length > 0) {
    const width = Math.max(...outputs.map(([name]) => name.length));
    out.push("", "== stack outputs ==");
    for (const [name, { value, secret }] of outputs) {
      out.push(`  ${name.padEnd(width)}  ${secret ? SECRET : show(redact(value))}`);
    }
  }
  return out.join("\n") + "\n";
}

/** The lines a reviewer reads under a resource. */
function resourceDetails(node: PlanNode, graph: PlanGraph): string[] {
  const p = node.inputs;
  const lines = DESCRIBERS[node.type]?.(node, graph) ?? genericDetails(p);
  if (node.ignoreChanges.length > 0) lines.push(`ignoreChanges: ${node.ignoreChanges.join(", ")}`);
  return lines;
}

type Describer = (node: PlanNode, graph: PlanGraph) => string[];

/** A describer that reads a resource's inputs in the shape of its kind. */
function of<T>(describe: (p: T, node: PlanNode, graph: PlanGraph) => string[]): Describer {
  return (node, graph) => describe(node.inputs as T, node, graph);
}

const DESCRIBERS: Record<string, Describer> = {
  "azure-native:resources:ResourceGroup": ({ inputs: p }) => [
    `location ${show(p.location)}` +
      (p.resourceGroupName === undefined ? "" : `, named ${show(p.resourceGroupName)} in Azure`),
  ],

  "azure-native:network:VirtualNetwork": of<VnetInputs>((p) => [
    `address space ${list(p.addressSpace?.addressPrefixes)}`,
  ]),

  "azure-native:network:Subnet": of<SubnetInputs>((p, _, g) => [
    `${show(p.addressPrefix ?? list(p.addressPrefixes))} in ${g.refName(p.virtualNetworkName)}`,
  ]),

  "azure-native:network:VirtualNetworkPeering": of<PeeringInputs>((p, _, g) => [
    `${g.refName(p.virtualNetworkName)} -> ${g.refName(p.remoteVirtualNetwork?.id)}`,
    `VNet access ${yesNo(p.allowVirtualNetworkAccess)}, forwarded traffic ${yesNo(p.allowForwardedTraffic)}, ` +
      `gateway transit ${yesNo(p.allowGatewayTransit)}, remote gateways ${yesNo(p.useRemoteGateways)}`,
  ]),

  "azure-native:network:NetworkSecurityGroup": of<NsgInputs>((p) => {
    const rules = [...items(p.securityRules)] as SecurityRuleInputs[];
    if (rules.length === 0) return ["no rules: Azure's defaults only (inbound from the internet denied)"];
    rules.sort(
      (a, b) => String(a.direction).localeCompare(String(b.direction)) || Number(a.priority) - Number(b.priority),
    );
    return table(rules.map(ruleColumns));
  }),

  "azure-native:network:SecurityRule": of<SecurityRuleInputs>((p, _, g) => [
    `in ${g.refName(p.networkSecurityGroupName)}`,
    ...table([ruleColumns(p)]),
  ]),

  "azure-native:network:PublicIPAddress": of<PublicIpInputs>((p, { state }) => [
    `${show(p.sku?.name)} SKU, ${show(p.publicIPAllocationMethod)} ${show(p.publicIPAddressVersion)}` +
      (typeof state.ipAddress === "string" ? `, address ${state.ipAddress} (mocked)` : ""),
  ]),

  "azure-native:network:NetworkInterface": of<NicInputs>((p, { state }, g) => {
    const lines = [`firewall ${p.networkSecurityGroup ? g.refName(p.networkSecurityGroup.id) : "none"}`];
    const configs = items(p.ipConfigurations) as IpConfigurationInputs[];
    const stateConfigs = items((state as NicState).ipConfigurations) as NonNullable<NicState["ipConfigurations"]>;
    configs.forEach((c, i) => {
      const ip = stateConfigs[i]?.privateIPAddress;
      lines.push(
        `ip config ${show(c.name)}: subnet ${g.refName(c.subnet?.id)}, private ${show(c.privateIPAllocationMethod)}` +
          (typeof ip === "string" ? ` ${ip} (mocked)` : "") +
          `, public IP ${c.publicIPAddress ? g.refName(c.publicIPAddress.id) : "none"}`,
      );
    });
    if (p.dnsSettings?.internalDnsNameLabel)
      lines.push(`internal DNS label ${show(p.dnsSettings.internalDnsNameLabel)}`);
    return lines;
  }),

  "azure-native:compute:VirtualMachine": of<VmInputs>((p, { markedInputs }, g) => {
    const image = p.storageProfile?.imageReference ?? {};
    const imageText =
      typeof image === "string"
        ? image
        : image.id !== undefined && image.id !== null
          ? show(image.id)
          : [image.publisher, image.offer, image.sku, image.version].map(show).join(" ");
    const nics = p.networkProfile?.networkInterfaces ?? [];
    return [
      `size ${show(p.hardwareProfile?.vmSize)}`,
      `image ${imageText}`,
      `OS disk ${show(p.storageProfile?.osDisk?.managedDisk?.storageAccountType)}, on VM delete: ${show(p.storageProfile?.osDisk?.deleteOption)}`,
      `NIC ${nics.map((n) => g.refName(n.id)).join(", ") || "none"}`,
      bootDiagnosticsLine(p.diagnosticsProfile?.bootDiagnostics),
      osProfileLine(markedInputs.osProfile),
    ];
  }),

  "azure-native:compute:VirtualMachineExtension": (node, g) => {
    const p = node.inputs;
    const after = node.dependsOn.filter((d) => g.get(d)?.type === node.type);
    const protectedSettings = node.markedInputs.protectedSettings;
    return [
      `runs on ${g.refName(p.vmName)}: ${show(p.publisher)} ${show(p.type)} ${show(p.typeHandlerVersion)} (extension name ${show(p.vmExtensionName)})`,
      `forceUpdateTag ${show(p.forceUpdateTag)}`,
      `settings (public) ${p.settings === undefined ? "none" : show(p.settings)}`,
      `protectedSettings ${
        protectedSettings === undefined
          ? "none"
          : isMarkedSecret(protectedSettings)
            ? SECRET
            : `NOT MARKED SECRET: ${show(p.protectedSettings)}`
      }`,
      ...(after.length > 0 ? [`runs after ${after.join(", ")}`] : []),
    ];
  },

  "azure-native:devtestlab:GlobalSchedule": of<ScheduleInputs & Record<string, unknown>>((p, _, g) => [
    `${show(p.name)}: ${show(p.taskType)} of ${g.refName(p.targetResourceId)} daily at ${show(p.dailyRecurrence?.time)} ${show(p.timeZoneId)}, ${show(p.status)}`,
  ]),

  "random:index/randomBytes:RandomBytes": (node, g) => [
    `${show(node.inputs.length)} random bytes, made at deploy time and kept in the stack state; used by ${
      g
        .dependents(node)
        .map((d) => d.name)
        .join(", ") || "nothing"
    }`,
  ],

  "azure-native:privatedns:PrivateZone": ({ inputs: p }) => [`zone ${show(p.privateZoneName)} (${show(p.location)})`],

  "azure-native:privatedns:VirtualNetworkLink": of<VnetLinkInputs>((p, _, g) => [
    `links ${zoneName(p, g)} to ${g.refName(p.virtualNetwork?.id)}, auto-registration ${yesNo(p.registrationEnabled)}`,
  ]),

  "azure-native:privatedns:PrivateRecordSet": of<RecordSetInputs & Record<string, unknown>>((p, _, g) => {
    const targets = [
      ...(p.aRecords ?? []).map((r) => show(r.ipv4Address)),
      ...(p.ptrRecords ?? []).map((r) => show(r.ptrdname)),
    ];
    return [
      `${show(p.recordType)} ${show(p.relativeRecordSetName)}.${zoneName(p, g)} -> ${targets.join(", ") || "-"} (TTL ${show(p.ttl)})`,
    ];
  }),
};

/** Without a storageUri, Azure keeps the serial log and screenshot in storage it manages itself. */
function bootDiagnosticsLine(boot: NonNullable<VmInputs["diagnosticsProfile"]>["bootDiagnostics"]): string {
  if (boot?.enabled !== true) return "boot diagnostics off";
  return `boot diagnostics on, ${boot.storageUri === undefined ? "in Azure-managed storage" : `in ${show(boot.storageUri)}`}`;
}

/**
 * Pulumi marks the whole osProfile secret because the SSH key inside it is. The line names the
 * settings a reviewer checks (user, password login) and shows the keys and any password as [secret].
 */
function osProfileLine(marked: unknown): string {
  if (marked === undefined) return "no OS profile";
  const os = (isMarkedSecret(marked) ? marked.$secret : marked) as OsProfile;
  const plain = (v: unknown) => (isMarkedSecret(v) ? SECRET : show(v));
  const linux = (isMarkedSecret(os.linuxConfiguration) ? os.linuxConfiguration.$secret : os.linuxConfiguration) as
    LinuxConfiguration | undefined;
  const keys = linux?.ssh?.publicKeys;
  const keyCount = Array.isArray(keys) ? keys.length : 0;
  const passwordLogin = linux?.disablePasswordAuthentication === true ? "disabled" : "ENABLED";
  return (
    `OS profile${isMarkedSecret(marked) ? " (secret)" : ""}: admin ${plain(os.adminUsername)}, password login ${passwordLogin}, ` +
    `admin password ${os.adminPassword === undefined ? "none" : SECRET}, SSH keys ${keyCount === 0 ? "none" : Array(keyCount).fill(SECRET).join(", ")}`
  );
}

function zoneName(p: { privateZoneName?: unknown }, g: PlanGraph): string {
  const zone = g.ref(p.privateZoneName);
  return show(zone?.inputs.privateZoneName ?? p.privateZoneName);
}

function ruleColumns(r: SecurityRuleInputs): string[] {
  const ports = r.destinationPortRange ?? list(r.destinationPortRanges);
  const source = r.sourceAddressPrefix ?? list(r.sourceAddressPrefixes);
  return [
    show(r.priority),
    `${orElse(r.direction, "?").toLowerCase()} ${orElse(r.access, "?").toLowerCase()}`,
    show(r.protocol),
    `port ${show(ports)}`,
    `from ${source === "*" ? "* (any)" : show(source)}`,
    `(${show(r.name)})`,
  ];
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join("  "));
}

const SKIPPED_GENERIC = new Set(["resourceGroupName", "tags", "location"]);

function genericDetails(p: Record<string, unknown>): string[] {
  const lines = Object.entries(p)
    .filter(([k]) => !SKIPPED_GENERIC.has(k))
    .map(([k, v]) => `${k} ${show(v)}`);
  return lines.length > 0 ? lines : ["(no properties)"];
}

function show(value: unknown): string {
  if (value === undefined || value === null || value === "") return "-";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** A value as text, or `missing` when there is none. */
function orElse(value: unknown, missing: string): string {
  return value === undefined || value === null ? missing : show(value);
}

function list(values: unknown): string {
  return Array.isArray(values) && values.length > 0 ? values.map(show).join(", ") : "-";
}

function yesNo(value: unknown): string {
  return value === true ? "yes" : value === false ? "no" : "-";
}
