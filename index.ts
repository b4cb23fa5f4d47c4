// FlowProxy staging on Azure: FlowProxy VMs (HAProxy in front of FlowProxy), as many per region of
// the region table as it says, an internal-only BuilderHub VM in the first region, VNet peering
// between all regions, the private DNS zone flowproxy.internal that ties them together and a
// reverse zone per subnet that names each VM's address after the VM.
import * as pulumi from "@pulumi/pulumi";
import * as pulumiConfig from "@pulumi/pulumi/runtime/config";
import * as random from "@pulumi/random";
import * as compute from "@pulumi/azure-native/compute";
import * as devtestlab from "@pulumi/azure-native/devtestlab";
import * as network from "@pulumi/azure-native/network";
import * as privatedns from "@pulumi/azure-native/privatedns";
import * as resources from "@pulumi/azure-native/resources";
import { AutoShutdown, ConfigError, Region, Settings, loadSettings } from "./lib/config";
import {
  AUTO_SHUTDOWN,
  BUILDERHUB,
  BUILDERHUB_ENDPOINT,
  DNS_ZONE,
  FLOWPROXY_LISTEN,
  LOOPBACK,
  METRICS_PORTS,
  PORTS,
  PROJECT,
  Role,
  TAG,
  UBUNTU_IMAGE,
  VM_PATHS,
  fqdnOf,
} from "./lib/contract";
import { FleetVm, fleetPlan, reverseRecordName, reverseZoneOf } from "./lib/fleet";
import { BUILDERHUB_OUTPUTS, vmOutputNames } from "./lib/outputs";
import { prometheusConfig, readAlertRules } from "./lib/monitoring";
import {
  ScriptVariable,
  contractVariables,
  forceUpdateTag,
  haproxyEnvironment,
  hookScript,
  readProvisionFile,
  readRoleSources,
  renderScript,
  toBase64,
} from "./lib/provision";
import { signerAddress } from "./lib/signer";

// ---------------------------------------------------------------------------------------------
// Configuration: read and validated in full before any resource is declared.

function readSettings(): Settings {
  const config = new pulumi.Config(PROJECT);
  // isConfigSecret is how the SDK itself tells secret keys apart; it is not in the public typings.
  const { isConfigSecret } = pulumiConfig as unknown as { isConfigSecret: (key: string) => boolean };
  try {
    return loadSettings(
      {
        get: (key) => config.get(key),
        isSecret: (key) => isConfigSecret(`${PROJECT}:${key}`),
        // Every key the stack sets, this project's included, as Pulumi passed them (PULUMI_CONFIG).
        keys: () => Object.keys(pulumi.runtime.allConfig()),
      },
      __dirname,
    );
  } catch (err) {
    // RunError ends the program with its message alone, without a stack trace.
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

const settings = readSettings();

/**
 * A region's resource group carries the project and the stack in its Azure name, so two stacks
 * share a subscription without colliding and the portal tells whose group it is.
 */
function resourceGroupName(location: string): string {
  return `rg-${PROJECT}-${pulumi.getStack()}-${location}`;
}

// Azure takes resource group names of up to 90 characters; a long stack name is refused here, before
// any resource, rather than by Azure halfway through `pulumi up`.
const GROUP_NAME_LIMIT = 90;
const longGroupName = settings.regions
  .map((r) => resourceGroupName(r.location))
  .find((name) => name.length > GROUP_NAME_LIMIT);
if (longGroupName) {
  throw new pulumi.RunError(
    `The stack name "${pulumi.getStack()}" makes the resource group name ${longGroupName} ${longGroupName.length} characters long; ` +
      `Azure takes at most ${GROUP_NAME_LIMIT}. Use a shorter stack name, such as "dev".`,
  );
}

// HAProxy's system frontend speaks the generation's protocol (see haproxy.cfg).
const SYSTEM_API_MODE = { 1: "http", 2: "tcp" } as const;
const tags = { project: PROJECT, stack: pulumi.getStack() };

/** The tags of a resource that belongs to one VM: the plan, the sandbox and the policy pack read them. */
function vmTags(vmName: string, role: Role): Record<string, string> {
  return { ...tags, [TAG.vm]: vmName, [TAG.role]: role };
}

// ---------------------------------------------------------------------------------------------
// Networks: a resource group, VNet and subnet per region.

interface RegionNetwork {
  region: Region;
  resourceGroup: resources.ResourceGroup;
  vnet: network.VirtualNetwork;
  subnet: network.Subnet;
}

/**
 * What lives only inside a region's resource group goes with the group: `pulumi destroy` (or a
 * region dropped from the table) deletes the group, and Azure deletes its contents in its own
 * order. One by one, Pulumi would trip over Azure: a NIC deleted right after its VM is refused for
 * 180 s (400 NicReservedForAnotherVm, gardenlinux#4133, AzureTRE#4474), and the subnet, NSG and
 * public IP that NIC holds cannot go before it. Peerings, DNS links and records reach across
 * groups; Pulumi still deletes those first.
 */
function goesWithGroup(resourceGroup: resources.ResourceGroup): pulumi.CustomResourceOptions {
  return { deletedWith: resourceGroup };
}

/**
 * A resource of a region's group whose Azure name is its name in the program, as the portal and
 * `az` show it. A replacement created first under the same name would be refused ("cannot create
 * already existing resource", pulumi-azure-native#1050), so the old one goes first (docs/AZURE.md
 * says what that costs).
 */
function namedInGroup(resourceGroup: resources.ResourceGroup): pulumi.CustomResourceOptions {
  return { ...goesWithGroup(resourceGroup), deleteBeforeReplace: true };
}

function regionNetwork(region: Region): RegionNetwork {
  const resourceGroup = new resources.ResourceGroup(`rg-${region.location}`, {
    resourceGroupName: resourceGroupName(region.location),
    location: region.location,
    tags,
  });
  // Subnets and peerings are separate resources and never listed inline, so updating the VNet
  // cannot remove them.
  const vnet = new network.VirtualNetwork(
    `vnet-${region.location}`,
    {
      resourceGroupName: resourceGroup.name,
      location: region.location,
      addressSpace: { addressPrefixes: [region.vnetCidr] },
      tags,
    },
    goesWithGroup(resourceGroup),
  );
  const subnet = new network.Subnet(
    `subnet-${region.location}`,
    {
      resourceGroupName: resourceGroup.name,
      virtualNetworkName: vnet.name,
      addressPrefix: region.subnetCidr,
      // BuilderHub has no public IP and reaches apt, Docker Hub and GitHub through Azure's default
      // outbound access. Network API 2025-07-01 and later make new subnets private unless this is
      // set, so it is stated rather than left to the API version the provider happens to use.
      defaultOutboundAccess: true,
    },
    goesWithGroup(resourceGroup),
  );
  return { region, resourceGroup, vnet, subnet };
}

const networks = settings.regions.map(regionNetwork);
const builderhubNetwork = networks[0];

// ---------------------------------------------------------------------------------------------
// Firewalls. Rules are inline only: no standalone SecurityRule exists for these NSGs.

type Rule = {
  name: string;
  priority: number;
  protocol: string;
  port: string;
  source: pulumi.Input<string>;
  access?: "Allow" | "Deny";
};

function firewall(
  name: string,
  net: RegionNetwork,
  vmName: string,
  role: Role,
  rules: Rule[],
): network.NetworkSecurityGroup {
  return new network.NetworkSecurityGroup(
    name,
    {
      resourceGroupName: net.resourceGroup.name,
      networkSecurityGroupName: name,
      location: net.region.location,
      securityRules: rules.map((r) => ({
        name: r.name,
        priority: r.priority,
        direction: "Inbound",
        access: r.access ?? "Allow",
        protocol: r.protocol,
        sourceAddressPrefix: r.source,
        sourcePortRange: "*",
        destinationAddressPrefix: "*",
        destinationPortRange: r.port,
      })),
      tags: vmTags(vmName, role),
    },
    namedInGroup(net.resourceGroup),
  );
}

/**
 * With monitoring on, FlowProxy's and HAProxy's metrics listen on the VM's private address: each port
 * is allowed from BuilderHub's Prometheus alone, then denied to the rest of the VNets, which Azure's
 * AllowVnetInBound (65000) would let in; from the internet the default DenyAllInBound keeps them.
 */
function metricsRules(scraperIp: pulumi.Output<string>): Rule[] {
  if (!settings.monitoring) return [];
  return METRICS_PORTS.flatMap((port, i) => [
    {
      name: `metrics-${port}-from-prometheus`,
      priority: 140 + i,
      protocol: "Tcp",
      port: String(port),
      source: scraperIp.apply((ip) => `${ip}/32`),
    },
    {
      name: `metrics-${port}-from-vnets`,
      priority: 150 + i,
      protocol: "Tcp",
      port: String(port),
      source: "VirtualNetwork",
      access: "Deny" as const,
    },
  ]);
}

/**
 * The NSG of a FlowProxy VM: SSH from allowedSshCidr, orderflow from anywhere, ping from the other
 * VNets (its own VNet's proxies reach it under Azure's AllowVnetInBound), and the metrics ports to
 * BuilderHub's Prometheus only when monitoring is on. Each VM has its own, so a proxy added to or
 * removed from a region leaves the others' rules as they were.
 */
function flowProxyFirewall(
  net: RegionNetwork,
  vm: FleetVm,
  scraperIp: pulumi.Output<string>,
): network.NetworkSecurityGroup {
  const peers = networks.filter((other) => other !== net);
  return firewall(`nsg-${vm.site}`, net, vm.vmName, "flowproxy", [
    { name: "ssh", priority: 100, protocol: "Tcp", port: String(PORTS.ssh), source: settings.allowedSshCidr },
    { name: "http", priority: 110, protocol: "Tcp", port: String(PORTS.http), source: "*" },
    { name: "https", priority: 120, protocol: "Tcp", port: String(PORTS.https), source: "*" },
    { name: "system-orderflow", priority: 130, protocol: "Tcp", port: String(PORTS.system), source: "*" },
    ...metricsRules(scraperIp),
    ...peers.map((peer, i) => ({
      name: `icmp-from-${peer.region.location}`,
      priority: 200 + i,
      protocol: "Icmp",
      port: "*",
      source: peer.region.vnetCidr,
    })),
  ]);
}

/** BuilderHub has no public IP; its API and SSH are open to the VNets only. */
function builderhubFirewall(net: RegionNetwork): network.NetworkSecurityGroup {
  return firewall("nsg-builderhub", net, BUILDERHUB.vmName, "builderhub", [
    ...networks.map((n, i) => ({
      name: `builderhub-api-from-${n.region.location}`,
      priority: 100 + i,
      protocol: "Tcp",
      port: String(BUILDERHUB.port),
      source: n.region.vnetCidr,
    })),
    ...networks.map((n, i) => ({
      name: `ssh-from-${n.region.location}`,
      priority: 200 + i,
      protocol: "Tcp",
      port: String(PORTS.ssh),
      source: n.region.vnetCidr,
    })),
    ...networks.map((n, i) => ({
      name: `icmp-from-${n.region.location}`,
      priority: 300 + i,
      protocol: "Icmp",
      port: "*",
      source: n.region.vnetCidr,
    })),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Addresses: a static public IP per FlowProxy VM and a NIC per VM with its internal DNS label.

function publicAddress(net: RegionNetwork, vm: FleetVm): network.PublicIPAddress {
  const name = `pip-${vm.site}`;
  return new network.PublicIPAddress(
    name,
    {
      resourceGroupName: net.resourceGroup.name,
      publicIpAddressName: name,
      location: net.region.location,
      publicIPAllocationMethod: "Static",
      publicIPAddressVersion: "IPv4",
      sku: { name: "Standard" },
      tags: vmTags(vm.vmName, "flowproxy"),
    },
    namedInGroup(net.resourceGroup),
  );
}

function networkInterface(
  vmName: string,
  role: Role,
  net: RegionNetwork,
  nsg: network.NetworkSecurityGroup,
  pip?: network.PublicIPAddress,
) {
  const name = `nic-${vmName}`;
  return new network.NetworkInterface(
    name,
    {
      resourceGroupName: net.resourceGroup.name,
      networkInterfaceName: name,
      location: net.region.location,
      networkSecurityGroup: { id: nsg.id },
      dnsSettings: { internalDnsNameLabel: vmName },
      ipConfigurations: [
        {
          name: "primary",
          subnet: { id: net.subnet.id },
          privateIPAllocationMethod: "Dynamic",
          publicIPAddress: pip ? { id: pip.id } : undefined,
        },
      ],
      tags: vmTags(vmName, role),
    },
    namedInGroup(net.resourceGroup),
  );
}

function privateIpOf(nic: network.NetworkInterface): pulumi.Output<string> {
  return nic.ipConfigurations.apply((configs) => configs?.[0]?.privateIPAddress ?? "");
}

function nicFqdnOf(nic: network.NetworkInterface): pulumi.Output<string> {
  return nic.dnsSettings.apply((dns) => dns?.internalFqdn ?? "");
}

interface FlowProxySite {
  net: RegionNetwork;
  vm: FleetVm;
  vmName: string;
  nsg: network.NetworkSecurityGroup;
  pip: network.PublicIPAddress;
  nic: network.NetworkInterface;
  privateIp: pulumi.Output<string>;
}

// Every FlowProxy VM has resources of its own only: adding one to a region declares new resources
// and changes none of the others'.
const fleet = fleetPlan(settings.regions);

// BuilderHub's NIC comes first: its address is the scraper's, which the proxies' NSGs admit.
const builderhubNic = networkInterface(
  BUILDERHUB.vmName,
  "builderhub",
  builderhubNetwork,
  builderhubFirewall(builderhubNetwork),
);
const builderhubPrivateIp = privateIpOf(builderhubNic);

const sites: FlowProxySite[] = fleet
  .filter((vm) => vm.role === "flowproxy")
  .map((vm) => {
    const net = networks[vm.region];
    const nsg = flowProxyFirewall(net, vm, builderhubPrivateIp);
    const pip = publicAddress(net, vm);
    const nic = networkInterface(vm.vmName, "flowproxy", net, nsg, pip);
    return { net, vm, vmName: vm.vmName, nsg, pip, nic, privateIp: privateIpOf(nic) };
  });

// ---------------------------------------------------------------------------------------------
// One write at a time per VNet. Azure refuses a peering or DNS link while a subnet of either VNet
// is still being written (400 ReferencedResourceNotProvisioned ... PutSubnetOperation), and
// azure-native does not retry that answer (pulumi-azure-native#4340, terraform-provider-azurerm#2605).
// So every VNet write after the subnets waits for the one declared before it, whatever the number
// of regions; test/unit/index/azure-readiness.test.ts checks the rule on the dependency graph.

let lastVnetWrite: pulumi.Resource[] = networks.map((net) => net.subnet);

function afterLastVnetWrite<T extends pulumi.Resource>(declare: (dependsOn: pulumi.Resource[]) => T): T {
  const resource = declare(lastVnetWrite);
  lastVnetWrite = [resource];
  return resource;
}

// ---------------------------------------------------------------------------------------------
// Peering: every pair of VNets, in both directions.

const peerings = networks.flatMap((from) =>
  networks
    .filter((to) => to !== from)
    .map((to) =>
      afterLastVnetWrite(
        (dependsOn) =>
          new network.VirtualNetworkPeering(
            `peer-${from.region.location}-to-${to.region.location}`,
            {
              resourceGroupName: from.resourceGroup.name,
              virtualNetworkName: from.vnet.name,
              remoteVirtualNetwork: { id: to.vnet.id },
              allowVirtualNetworkAccess: true,
              allowForwardedTraffic: false,
              allowGatewayTransit: false,
              useRemoteGateways: false,
            },
            // A VNet holds one peering per remote VNet, so the old one must go before its replacement.
            { dependsOn, deleteBeforeReplace: true },
          ),
      ),
    ),
);

// ---------------------------------------------------------------------------------------------
// Private DNS: flowproxy.internal, linked to every VNet, with an A record per VM.

/** A private zone, kept with BuilderHub's network. */
function privateZone(name: string, zoneName: string): privatedns.PrivateZone {
  return new privatedns.PrivateZone(
    name,
    {
      resourceGroupName: builderhubNetwork.resourceGroup.name,
      privateZoneName: zoneName,
      location: "Global",
      tags,
    },
    {
      // Its Azure name is fixed, and a VNet cannot be linked to two zones of the same name (400
      // BadRequest "overlapping namespaces"), so a replacement goes after the old zone is gone.
      deleteBeforeReplace: true,
    },
  );
}

/** A zone's link to a VNet: a write to that VNet, so it waits for the one before it. */
function zoneLink(name: string, zone: privatedns.PrivateZone, net: RegionNetwork): privatedns.VirtualNetworkLink {
  return afterLastVnetWrite(
    (dependsOn) =>
      new privatedns.VirtualNetworkLink(
        name,
        {
          resourceGroupName: builderhubNetwork.resourceGroup.name,
          privateZoneName: zone.name,
          location: "Global",
          virtualNetwork: { id: net.vnet.id },
          registrationEnabled: false,
          tags,
        },
        // One link per zone and VNet: the old link must go before its replacement.
        { dependsOn, deleteBeforeReplace: true },
      ),
  );
}

const zone = privateZone("dns-zone", DNS_ZONE);
const dnsLinks = networks.map((net) => zoneLink(`dns-link-${net.region.location}`, zone, net));

function dnsRecord(label: string, ip: pulumi.Output<string>): { fqdn: string; record: privatedns.PrivateRecordSet } {
  const record = new privatedns.PrivateRecordSet(
    `dns-${label}`,
    {
      resourceGroupName: builderhubNetwork.resourceGroup.name,
      privateZoneName: zone.name,
      recordType: "A",
      relativeRecordSetName: label,
      ttl: 300,
      aRecords: [{ ipv4Address: ip }],
    },
    {
      // The record's Azure name is its label: a replacement would be the same record set.
      deleteBeforeReplace: true,
    },
  );
  return { fqdn: fqdnOf(label), record };
}

const builderhubDns = dnsRecord(BUILDERHUB.dnsLabel, builderhubPrivateIp);
const builderhubFqdn = builderhubDns.fqdn;
const siteFqdns = sites.map((site) => dnsRecord(site.vmName, site.privateIp).fqdn);

// ---------------------------------------------------------------------------------------------
// Reverse DNS: a zone per subnet (10.10.1.0/24 gives 1.10.10.in-addr.arpa), linked to every VNet
// like flowproxy.internal, with a PTR record per VM naming the A record of its address. mockhub
// names each builder after the first label of its registering address's reverse name, else after
// its signer (simulation/mockhub/src/main.rs at b56e719), so BuilderHub lists each proxy by its VM.

const reverseZones = networks.map((net) => ({
  net,
  zone: privateZone(`dns-reverse-${net.region.location}`, reverseZoneOf(net.region.subnetCidr)),
}));

const reverseLinks = reverseZones.flatMap(({ net: zoneNet, zone }) =>
  networks.map((net) => zoneLink(`dns-reverse-${zoneNet.region.location}-link-${net.region.location}`, zone, net)),
);

/** The PTR record of a VM's address, naming `fqdn`, the A record of that address. */
function reverseRecord(
  vmName: string,
  net: RegionNetwork,
  ip: pulumi.Output<string>,
  fqdn: string,
): privatedns.PrivateRecordSet {
  const { zone } = reverseZones.find((z) => z.net === net)!;
  const zoneName = reverseZoneOf(net.region.subnetCidr);
  return new privatedns.PrivateRecordSet(
    `dns-ptr-${vmName}`,
    {
      resourceGroupName: builderhubNetwork.resourceGroup.name,
      privateZoneName: zone.name,
      recordType: "PTR",
      relativeRecordSetName: ip.apply((address) => reverseRecordName(address, zoneName)),
      ttl: 300,
      ptrRecords: [{ ptrdname: fqdn }],
    },
    {
      // Named by the address: a VM whose address changed gets its record under the new name, after the old one is gone.
      deleteBeforeReplace: true,
    },
  );
}

reverseRecord(BUILDERHUB.vmName, builderhubNetwork, builderhubPrivateIp, builderhubFqdn);
const sitePtrRecords = sites.map((site, i) => reverseRecord(site.vmName, site.net, site.privateIp, siteFqdns[i]));

// ---------------------------------------------------------------------------------------------
// Virtual machines: Ubuntu 22.04, SSH keys only.

function ubuntuVm(
  vmName: string,
  role: Role,
  net: RegionNetwork,
  nic: network.NetworkInterface,
  vmSize: string,
): compute.VirtualMachine {
  return new compute.VirtualMachine(
    vmName,
    {
      resourceGroupName: net.resourceGroup.name,
      vmName,
      location: net.region.location,
      hardwareProfile: { vmSize },
      storageProfile: {
        imageReference: { ...UBUNTU_IMAGE, version: "latest" },
        // The disk keeps Azure's name for it, the VM's name and a new id (vm-eastus_OsDisk_1_<id>):
        // the portal shows whose disk it is, and a replaced VM's disk never shares the old one's name.
        osDisk: {
          createOption: "FromImage",
          deleteOption: "Delete",
          managedDisk: { storageAccountType: "StandardSSD_LRS" },
        },
      },
      // Serial log and screenshot in the portal even when SSH never comes up; without a storageUri
      // Azure keeps them in storage of its own, so the stack has no storage account to manage.
      diagnosticsProfile: { bootDiagnostics: { enabled: true } },
      // The NIC outlives the VM (deleteOption Detach), so a replaced VM keeps its private and public
      // IP and its DNS names. Its TLS certificate is new (it lives on the OS disk), which BuilderHub's
      // mock, keeping a signer's first registration, refuses until it restarts (docs/OPERATIONS.md, "Other Azure errors").
      networkProfile: { networkInterfaces: [{ id: nic.id, primary: true, deleteOption: "Detach" }] },
      osProfile: {
        computerName: vmName,
        adminUsername: settings.adminUsername,
        linuxConfiguration: {
          disablePasswordAuthentication: true,
          ssh: {
            publicKeys: [
              {
                path: `/home/${settings.adminUsername}/.ssh/authorized_keys`,
                keyData: pulumi.secret(settings.sshPublicKey),
              },
            ],
          },
        },
      },
      tags: vmTags(vmName, role),
    },
    {
      // A changed key or user name in config must not recreate a VM with its keys and registration.
      ignoreChanges: ["osProfile"],
      // Azure refuses to change the image of an existing VM; a new image replaces it.
      replaceOnChanges: ["storageProfile.imageReference"],
      // The new VM takes the old one's name and attaches its NIC, which Azure releases only when the
      // old VM is deleted (400 NicInUse on a create-before-delete replacement, pulumi/pulumi-azure#441 and #811).
      ...namedInGroup(net.resourceGroup),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Provisioning: each VM's CustomScript extension carries its whole script in protectedSettings.

const tailscaleKey: ScriptVariable = {
  name: "TAILSCALE_AUTH_KEY",
  value: settings.tailscaleAuthKey ?? "",
  secret: true,
};
/** Every VM logs in to Docker Hub with these before it pulls (both empty: anonymous pulls). */
const dockerHubLogin: ScriptVariable[] = [
  { name: "DOCKER_HUB_USERNAME", value: settings.dockerHub?.username ?? "" },
  { name: "DOCKER_HUB_TOKEN", value: settings.dockerHub?.token ?? "", secret: true },
];

/**
 * A VM's CustomScript extension: its role's bash, preceded by the VM's name, the Tailscale key, the Docker Hub login,
 * the contract's names and places, and `settings`, the stack's values for this VM.
 */
function provisioningExtension(
  vmName: string,
  role: Role,
  net: RegionNetwork,
  vm: compute.VirtualMachine,
  settingsForVm: pulumi.Output<ScriptVariable[]>,
  dependsOn: pulumi.Resource[],
): compute.VirtualMachineExtension {
  const sources = readRoleSources(__dirname, role);
  const variables = settingsForVm.apply((vars) => [
    { name: "VM_NAME", value: vmName },
    tailscaleKey,
    ...dockerHubLogin,
    ...contractVariables(role, vmName),
    ...vars,
  ]);
  const script = variables.apply((vars) => renderScript(vmName, sources, vars));
  const tag = variables.apply((vars) =>
    forceUpdateTag(renderScript(vmName, sources, vars, true), settings.provisioningRun),
  );
  return new compute.VirtualMachineExtension(
    `provision-${vmName}`,
    {
      resourceGroupName: net.resourceGroup.name,
      location: net.region.location,
      vmName: vm.name,
      vmExtensionName: "flowproxy-provision",
      publisher: "Microsoft.Azure.Extensions",
      type: "CustomScript",
      typeHandlerVersion: "2.1",
      autoUpgradeMinorVersion: true,
      forceUpdateTag: pulumi.unsecret(tag),
      protectedSettings: pulumi.secret(script.apply((text) => ({ script: toBase64(text) }))),
      tags: vmTags(vmName, role),
    },
    {
      dependsOn,
      // vmExtensionName is fixed: a replacement on the same VM would be the same extension.
      deleteBeforeReplace: true,
      // Deleting the VM deletes its extensions, while deleting the extension of a deallocated VM
      // is refused (409 OperationNotAllowed "Cannot modify extensions in the VM when the VM is not
      // running", hashicorp/terraform-provider-azurerm#477, redhat-developer/mapt#208).
      deletedWith: vm,
    },
  );
}

const builderhubVm = ubuntuVm(BUILDERHUB.vmName, "builderhub", builderhubNetwork, builderhubNic, settings.vmSize);

/**
 * The FlowProxy VMs BuilderHub keeps its registry to: mockhub keeps a registration until it
 * restarts, so builderhub-prune restarts it once a listed proxy has left this list and no longer
 * answers, and the other proxies' timers register them again within 20 s. Only BuilderHub's script
 * carries the fleet: a proxy added or removed reruns BuilderHub's extension, whose steps converge
 * without touching mockhub, and no other.
 */
const fleetIps = pulumi.all(sites.map((site) => site.privateIp));
const fleetFile = fleetIps.apply((ips) => sites.map((site, i) => `${site.vmName} ${ips[i]}\n`).join(""));
/**
 * Monitoring: Prometheus's configuration, generated from the same fleet (every proxy's metrics ports
 * at its private address, labelled with its VM and region), and the alert rules. Empty when off, so
 * turning monitoring on or off reruns BuilderHub's extension and none other but the proxies' own.
 */
const scrapeConfig = fleetIps.apply((ips) =>
  settings.monitoring
    ? prometheusConfig(
        sites.map((site, i) => ({ vmName: site.vmName, location: site.net.region.location, privateIp: ips[i] })),
        BUILDERHUB.vmName,
      )
    : "",
);
const monitoringFile = (name: string, read: () => string): ScriptVariable => ({
  name,
  value: settings.monitoring ? read() : "",
});
const builderhubExtension = provisioningExtension(
  BUILDERHUB.vmName,
  "builderhub",
  builderhubNetwork,
  builderhubVm,
  pulumi
    .all([fleetFile, scrapeConfig])
    .apply(([fleetText, scrapeText]): ScriptVariable[] => [
      { name: "FLEET", value: fleetText },
      { name: "PRUNE_HOOK", value: hookScript(__dirname, "builderhub-prune.sh") },
      { name: "PRUNE_SERVICE_UNIT", value: readProvisionFile(__dirname, "builderhub-prune.service") },
      { name: "PRUNE_TIMER_UNIT", value: readProvisionFile(__dirname, "builderhub-prune.timer") },
      { name: "MONITORING", value: String(settings.monitoring) },
      { name: "PROMETHEUS_CONFIG", value: scrapeText },
      monitoringFile("ALERT_RULES", () => readAlertRules(__dirname)),
      monitoringFile("LISTING_HOOK", () => hookScript(__dirname, "builderhub-listing.sh")),
      monitoringFile("LISTING_SERVICE_UNIT", () => readProvisionFile(__dirname, "builderhub-listing.service")),
      monitoringFile("LISTING_TIMER_UNIT", () => readProvisionFile(__dirname, "builderhub-listing.timer")),
    ]),
  [],
);

/** Where a proxy's metrics listen: its private address for BuilderHub's Prometheus when monitoring is on, else loopback. */
const metricsBind = (privateIp: string): string => (settings.monitoring ? privateIp : LOOPBACK);

/**
 * flowproxy.env as installed on a VM: the committed settings, then what the program owns (the
 * ClickHouse credentials are added on the VM).
 */
const flowproxyEnv = (privateIp: string): string =>
  [
    settings.files.flowproxyEnv.trimEnd(),
    ...Object.entries({ ...FLOWPROXY_LISTEN, METRICS_ADDR: `${metricsBind(privateIp)}:${PORTS.flowproxyMetrics}` }).map(
      ([name, address]) => `${name}=${address}`,
    ),
    `BUILDERHUB_ENDPOINT=${BUILDERHUB_ENDPOINT}`,
    ...(settings.clickhouse
      ? [
          `CLICKHOUSE_HOST=${settings.clickhouse.host}`,
          `CLICKHOUSE_DATABASE=${settings.clickhouse.database}`,
          `CLICKHOUSE_BACKUP_DISK_DATABASE_PATH=${VM_PATHS.clickhouseBackup}`,
        ]
      : []),
    "",
  ].join("\n");

interface SignerKey {
  hex: pulumi.Output<string>;
  address: pulumi.Output<string>;
}

/** A secp256k1 key kept as a stack secret; it survives VM replacement and every `pulumi up`. */
function stackSignerKey(vmName: string): SignerKey {
  const bytes = new random.RandomBytes(`signer-key-${vmName}`, { length: 32 });
  return { hex: pulumi.secret(bytes.hex), address: pulumi.unsecret(bytes.hex.apply(signerAddress)) };
}

const flowProxyVms = sites.map((site, i) => {
  const vm = ubuntuVm(site.vmName, "flowproxy", site.net, site.nic, site.net.region.vmSize);
  const signer = settings.signerKeySource === "stack" ? stackSignerKey(site.vmName) : undefined;
  const settingsForVm = pulumi
    .all([site.privateIp, site.pip.ipAddress, nicFqdnOf(site.nic), signer?.hex ?? "", signer?.address ?? ""])
    .apply(([privateIp, publicIp, nicFqdn, key, address]): ScriptVariable[] => [
      { name: "HAPROXY_IMAGE", value: `haproxy:${settings.haProxyVersion}` },
      { name: "HAPROXY_CFG", value: settings.files.haproxyCfg },
      {
        name: "HAPROXY_ENVIRONMENT",
        value: haproxyEnvironment(SYSTEM_API_MODE[settings.flowProxyGeneration], metricsBind(privateIp)),
      },
      {
        name: "CERT_SANS",
        value: [
          "DNS:localhost",
          "IP:127.0.0.1",
          `IP:${privateIp}`,
          `DNS:${siteFqdns[i]}`,
          nicFqdn && `DNS:${nicFqdn}`,
          publicIp && `IP:${publicIp}`,
        ]
          .filter(Boolean)
          .join(","),
      },
      { name: "ARTIFACT_URL", value: settings.flowProxyArtifact.apiZipUrl },
      { name: "FLOWPROXY_SHA256", value: settings.flowProxySha256 ?? "" },
      { name: "GITHUB_TOKEN", value: settings.githubToken, secret: true },
      { name: "FLOWPROXY_GENERATION", value: String(settings.flowProxyGeneration) },
      { name: "FLOWPROXY_UNIT", value: settings.files.flowproxyUnit },
      { name: "FLOWPROXY_ENV", value: flowproxyEnv(privateIp) },
      { name: "SIGNER_KEY_SOURCE", value: settings.signerKeySource },
      { name: "SIGNER_KEY", value: key ? `0x${key}` : "", secret: true },
      { name: "SIGNER_ADDRESS", value: address },
      { name: "CLICKHOUSE_USERNAME", value: settings.clickhouse?.username ?? "" },
      { name: "CLICKHOUSE_PASSWORD", value: settings.clickhouse?.password ?? "", secret: true },
      { name: "REGISTRATION_HOOK", value: hookScript(__dirname, "flowproxy-register.sh") },
      { name: "REGISTRATION_SERVICE_UNIT", value: readProvisionFile(__dirname, "flowproxy-registration.service") },
      { name: "REGISTRATION_TIMER_UNIT", value: readProvisionFile(__dirname, "flowproxy-registration.timer") },
    ]);
  provisioningExtension(
    site.vmName,
    "flowproxy",
    site.net,
    vm,
    settingsForVm,
    // FlowProxy registers with BuilderHub, so BuilderHub must be provisioned first, and it reaches
    // builderhub.flowproxy.internal over the peerings, which resolves through the DNS links. BuilderHub
    // names the registration after the reverse name of its address, which it resolves through the
    // reverse zones' links.
    [builderhubExtension, ...peerings, ...dnsLinks, ...reverseLinks, builderhubDns.record, sitePtrRecords[i]],
  );
  return { site, vm, signer };
});

// ---------------------------------------------------------------------------------------------
// Cost: with autoShutdownTime, Azure stops and deallocates every VM daily (docs/COST.md says what
// stays billed and what a stopped VM means for the next `pulumi up`).

/**
 * A VM's auto-shutdown, as the portal's Auto-shutdown blade makes it: a daily schedule aimed at the
 * VM (Microsoft.DevTestLab/schedules, GlobalSchedules_CreateOrUpdate of the DevTestLab REST spec
 * 2018-09-15, the API version azure-native 3.28.0 uses). Its Azure name is fixed by the VM's.
 */
function autoShutdownSchedule(
  vmName: string,
  role: Role,
  net: RegionNetwork,
  vm: compute.VirtualMachine,
  when: AutoShutdown,
): devtestlab.GlobalSchedule {
  return new devtestlab.GlobalSchedule(
    `shutdown-${vmName}`,
    {
      resourceGroupName: net.resourceGroup.name,
      name: AUTO_SHUTDOWN.scheduleName(vmName),
      location: net.region.location,
      targetResourceId: vm.id,
      taskType: AUTO_SHUTDOWN.taskType,
      dailyRecurrence: { time: when.time },
      timeZoneId: when.timeZoneId,
      status: "Enabled",
      tags: vmTags(vmName, role),
    },
    namedInGroup(net.resourceGroup),
  );
}

if (settings.autoShutdown) {
  autoShutdownSchedule(BUILDERHUB.vmName, "builderhub", builderhubNetwork, builderhubVm, settings.autoShutdown);
  for (const { site, vm } of flowProxyVms)
    autoShutdownSchedule(site.vmName, "flowproxy", site.net, vm, settings.autoShutdown);
}

// ---------------------------------------------------------------------------------------------
// Outputs, named by lib/outputs.ts: per FlowProxy VM <name>PublicIp, <name>PrivateIp, ssh<Name>,
// <name>PrivateFqdn, <name>NicPrivateFqdn and <name>SignerAddress, plus BuilderHub's. <name> is the
// region's name for its first VM (east, so a stack keeps its outputs as its regions grow), then the
// region's name and the VM's number (east2).

const admin = settings.adminUsername;
const jumpSite = sites.find((s) => s.net === builderhubNetwork && s.vm.number === 1)!;
const outputs: Record<string, pulumi.Output<string> | string> = {};

flowProxyVms.forEach(({ site, signer }, i) => {
  const names = vmOutputNames(site.vm.outputName);
  outputs[names.publicIp] = site.pip.ipAddress.apply((ip) => ip ?? "");
  outputs[names.privateIp] = site.privateIp;
  outputs[names.ssh] = pulumi.interpolate`ssh ${admin}@${site.pip.ipAddress}`;
  outputs[names.privateFqdn] = siteFqdns[i];
  outputs[names.nicPrivateFqdn] = nicFqdnOf(site.nic);
  outputs[names.signerAddress] =
    signer?.address ?? `generated on ${site.vmName}: ssh in and read ${VM_PATHS.signerAddress}`;
});

outputs[BUILDERHUB_OUTPUTS.privateIp] = builderhubPrivateIp;
outputs[BUILDERHUB_OUTPUTS.privateFqdn] = builderhubFqdn;
outputs[BUILDERHUB_OUTPUTS.nicPrivateFqdn] = nicFqdnOf(builderhubNic);
/** SSH to BuilderHub through the first proxy of its region as jump host, with `options` before the destination. */
const sshToBuilderhub = (options: string): pulumi.Output<string> =>
  pulumi.interpolate`ssh ${options}-J ${admin}@${jumpSite.pip.ipAddress} ${admin}@${builderhubPrivateIp}`;

outputs[BUILDERHUB_OUTPUTS.ssh] = sshToBuilderhub("");
outputs[BUILDERHUB_OUTPUTS.sshNote] =
  `BuilderHub has no public IP: ${BUILDERHUB_OUTPUTS.ssh} goes through ${jumpSite.vmName} as jump host${
    settings.tailscaleAuthKey ? `; over Tailscale, ssh ${admin}@${BUILDERHUB.vmName} works too` : ""
  }`;
if (settings.monitoring) {
  // Prometheus listens on BuilderHub's loopback: the tunnel brings its page to the same port on this machine.
  outputs[BUILDERHUB_OUTPUTS.prometheusTunnel] = sshToBuilderhub(
    `-N -L ${PORTS.prometheus}:${LOOPBACK}:${PORTS.prometheus} `,
  );
}

export = outputs;
