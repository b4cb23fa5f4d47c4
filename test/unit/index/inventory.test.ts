// What the program declares for the default two-region table and for a three-region table.
// test/unit/index/fleet.test.ts has regions of several proxies.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { Evaluation } from "../../../plan/evaluation";
import { unmarkSecrets } from "../../../plan/evaluation";
import { evaluated, threeRegionRequest, validRequest } from "../../support/program";
import type {
  NicInputs,
  NsgInputs,
  PublicIpInputs,
  SecurityRuleInputs,
  VmInputs,
  VnetInputs,
} from "../../../lib/azure-inputs";

type Inputs = Record<string, unknown>;

/** The resources of a type, their inputs read in the shape `T` of that type. */
function byType<T = Inputs>(result: Evaluation, type: string): { name: string; inputs: T }[] {
  return result.resources
    .filter((r) => r.type === `azure-native:${type}` || r.type === type)
    .map((r) => ({ name: r.name, inputs: unmarkSecrets(r.inputs) as T }));
}

function names(result: Evaluation, type: string): string[] {
  return byType(result, type)
    .map((r) => r.name)
    .sort();
}

function one<T = Inputs>(result: Evaluation, type: string, name: string): T {
  const found = byType<T>(result, type).find((r) => r.name === name);
  assert.ok(found, `${type} ${name} is declared`);
  return found.inputs;
}

describe("default configuration", () => {
  let result: Evaluation;
  before(async () => {
    result = await evaluated(validRequest());
  });

  test("declares 39 resources besides the stack", () => {
    assert.equal(result.resources.filter((r) => r.type !== "pulumi:pulumi:Stack").length, 39);
  });

  test("has a resource group, VNet, subnet, NSG, public IP, NIC, VM and extension per region", () => {
    assert.deepEqual(names(result, "resources:ResourceGroup"), ["rg-eastus", "rg-westeurope"]);
    assert.deepEqual(names(result, "network:VirtualNetwork"), ["vnet-eastus", "vnet-westeurope"]);
    assert.deepEqual(names(result, "network:Subnet"), ["subnet-eastus", "subnet-westeurope"]);
    assert.deepEqual(names(result, "network:NetworkSecurityGroup"), ["nsg-builderhub", "nsg-eastus", "nsg-westeurope"]);
    assert.deepEqual(names(result, "network:PublicIPAddress"), ["pip-eastus", "pip-westeurope"]);
    assert.deepEqual(names(result, "network:NetworkInterface"), [
      "nic-vm-builderhub",
      "nic-vm-eastus",
      "nic-vm-westeurope",
    ]);
    assert.deepEqual(names(result, "compute:VirtualMachine"), ["vm-builderhub", "vm-eastus", "vm-westeurope"]);
    assert.deepEqual(names(result, "compute:VirtualMachineExtension"), [
      "provision-vm-builderhub",
      "provision-vm-eastus",
      "provision-vm-westeurope",
    ]);
  });

  test("uses the spec's address plan", () => {
    assert.deepEqual(one<VnetInputs>(result, "network:VirtualNetwork", "vnet-eastus").addressSpace?.addressPrefixes, [
      "10.10.0.0/16",
    ]);
    assert.deepEqual(
      one<VnetInputs>(result, "network:VirtualNetwork", "vnet-westeurope").addressSpace?.addressPrefixes,
      ["10.20.0.0/16"],
    );
    assert.equal(one(result, "network:Subnet", "subnet-eastus").addressPrefix, "10.10.1.0/24");
    assert.equal(one(result, "network:Subnet", "subnet-westeurope").addressPrefix, "10.20.1.0/24");
    assert.equal(one(result, "resources:ResourceGroup", "rg-westeurope").location, "westeurope");
  });

  test("declares no subnet or peering inline on a VNet and no standalone NSG rule", () => {
    for (const vnet of byType(result, "network:VirtualNetwork")) {
      assert.equal(vnet.inputs.subnets, undefined, `${vnet.name} has no inline subnets`);
      assert.equal(vnet.inputs.virtualNetworkPeerings, undefined, `${vnet.name} has no inline peerings`);
    }
    assert.equal(byType(result, "network:SecurityRule").length, 0);
  });

  test("opens SSH from allowedSshCidr, 80, 443 and 5544, and ICMP from the peer VNet on a FlowProxy NSG", () => {
    const rules = one<NsgInputs>(result, "network:NetworkSecurityGroup", "nsg-eastus")
      .securityRules as SecurityRuleInputs[];
    const summary = rules
      .map((r) => `${String(r.protocol)}/${String(r.destinationPortRange)} from ${String(r.sourceAddressPrefix)}`)
      .sort();
    assert.deepEqual(summary, [
      "Icmp/* from 10.20.0.0/16",
      "Tcp/22 from 0.0.0.0/0",
      "Tcp/443 from *",
      "Tcp/5544 from *",
      "Tcp/80 from *",
    ]);
    assert.ok(rules.every((r) => r.direction === "Inbound" && r.access === "Allow"));
  });

  test("applies allowedSshCidr to SSH", async () => {
    const narrowed = await evaluated(validRequest({ allowedSshCidr: "198.51.100.0/24" }));
    const ssh = (
      one<NsgInputs>(narrowed, "network:NetworkSecurityGroup", "nsg-westeurope").securityRules as SecurityRuleInputs[]
    ).find((r) => r.destinationPortRange === "22");
    assert.equal(ssh?.sourceAddressPrefix, "198.51.100.0/24");
  });

  test("gives FlowProxy VMs a static Standard public IP and BuilderHub none", () => {
    const pip = one<PublicIpInputs>(result, "network:PublicIPAddress", "pip-eastus");
    assert.equal(pip.publicIPAllocationMethod, "Static");
    assert.equal(pip.sku?.name, "Standard");
    const builderhubNic = one<NicInputs>(result, "network:NetworkInterface", "nic-vm-builderhub");
    assert.equal(builderhubNic.ipConfigurations?.[0].publicIPAddress, undefined);
    assert.ok(
      one<NicInputs>(result, "network:NetworkInterface", "nic-vm-eastus").ipConfigurations?.[0].publicIPAddress?.id,
    );
  });

  test("labels every NIC with its VM name for Azure's internal DNS", () => {
    for (const vm of ["vm-eastus", "vm-westeurope", "vm-builderhub"]) {
      assert.equal(
        one<NicInputs>(result, "network:NetworkInterface", `nic-${vm}`).dnsSettings?.internalDnsNameLabel,
        vm,
      );
    }
  });

  test("runs Ubuntu 22.04 LTS on Standard_B2s with SSH-key-only login", () => {
    for (const vm of byType<VmInputs>(result, "compute:VirtualMachine")) {
      assert.equal(vm.inputs.hardwareProfile?.vmSize, "Standard_B2s");
      assert.deepEqual(vm.inputs.storageProfile?.imageReference, {
        publisher: "Canonical",
        offer: "0001-com-ubuntu-server-jammy",
        sku: "22_04-lts-gen2",
        version: "latest",
      });
      const linux = vm.inputs.osProfile?.linuxConfiguration;
      assert.equal(linux?.disablePasswordAuthentication, true);
      assert.equal(vm.inputs.osProfile?.adminPassword, undefined);
      assert.match(String(linux?.ssh?.publicKeys?.[0].keyData), /^ssh-ed25519 /);
      assert.equal(linux?.ssh?.publicKeys?.[0].path, "/home/azureuser/.ssh/authorized_keys");
      assert.equal(vm.inputs.osProfile?.computerName, vm.name);
    }
  });

  test("uses the CustomScript 2.1 extension on every VM", () => {
    for (const ext of byType(result, "compute:VirtualMachineExtension")) {
      assert.equal(ext.inputs.publisher, "Microsoft.Azure.Extensions");
      assert.equal(ext.inputs.type, "CustomScript");
      assert.equal(ext.inputs.typeHandlerVersion, "2.1");
    }
  });

  test("peers the two VNets in both directions", () => {
    assert.deepEqual(names(result, "network:VirtualNetworkPeering"), [
      "peer-eastus-to-westeurope",
      "peer-westeurope-to-eastus",
    ]);
    assert.equal(
      one(result, "network:VirtualNetworkPeering", "peer-eastus-to-westeurope").allowVirtualNetworkAccess,
      true,
    );
  });

  test("serves flowproxy.internal to every VNet with A records for BuilderHub and both proxies", () => {
    assert.equal(one(result, "privatedns:PrivateZone", "dns-zone").privateZoneName, "flowproxy.internal");
    assert.deepEqual(
      names(result, "privatedns:VirtualNetworkLink").filter((n) => n.startsWith("dns-link-")),
      ["dns-link-eastus", "dns-link-westeurope"],
    );
    assert.deepEqual(
      [...result.dnsRecords].sort((a, b) => a.fqdn.localeCompare(b.fqdn)),
      [
        { fqdn: "builderhub.flowproxy.internal", ip: "10.10.1.5" },
        { fqdn: "vm-eastus.flowproxy.internal", ip: "10.10.1.4" },
        { fqdn: "vm-westeurope.flowproxy.internal", ip: "10.20.1.4" },
      ],
    );
  });

  test("serves each subnet's reverse zone to every VNet, with a PTR record per VM naming its A record", () => {
    assert.equal(one(result, "privatedns:PrivateZone", "dns-reverse-eastus").privateZoneName, "1.10.10.in-addr.arpa");
    assert.equal(
      one(result, "privatedns:PrivateZone", "dns-reverse-westeurope").privateZoneName,
      "1.20.10.in-addr.arpa",
    );
    assert.deepEqual(
      names(result, "privatedns:VirtualNetworkLink").filter((n) => n.startsWith("dns-reverse-")),
      [
        "dns-reverse-eastus-link-eastus",
        "dns-reverse-eastus-link-westeurope",
        "dns-reverse-westeurope-link-eastus",
        "dns-reverse-westeurope-link-westeurope",
      ],
    );
    assert.deepEqual(
      [...result.reverseRecords].sort((a, b) => a.name.localeCompare(b.name)),
      [
        { name: "4.1.10.10.in-addr.arpa", target: "vm-eastus.flowproxy.internal" },
        { name: "4.1.20.10.in-addr.arpa", target: "vm-westeurope.flowproxy.internal" },
        { name: "5.1.10.10.in-addr.arpa", target: "builderhub.flowproxy.internal" },
      ],
    );
  });

  test("exports every output the spec lists plus the signer addresses", () => {
    assert.deepEqual(Object.keys(result.outputs).sort(), [
      "builderhubNicPrivateFqdn",
      "builderhubPrivateFqdn",
      "builderhubPrivateIp",
      "builderhubSshNote",
      "eastNicPrivateFqdn",
      "eastPrivateFqdn",
      "eastPrivateIp",
      "eastPublicIp",
      "eastSignerAddress",
      "sshBuilderhub",
      "sshEast",
      "sshWest",
      "westNicPrivateFqdn",
      "westPrivateFqdn",
      "westPrivateIp",
      "westPublicIp",
      "westSignerAddress",
    ]);
    const value = (name: string) => result.outputs[name].value;
    assert.equal(value("eastPublicIp"), "203.0.113.10");
    assert.equal(value("sshEast"), "ssh azureuser@203.0.113.10");
    assert.equal(value("westPrivateFqdn"), "vm-westeurope.flowproxy.internal");
    assert.equal(value("builderhubPrivateFqdn"), "builderhub.flowproxy.internal");
    assert.equal(value("builderhubNicPrivateFqdn"), "vm-builderhub.mockguid.bx.internal.cloudapp.net");
    assert.match(String(value("eastSignerAddress")), /^0x[0-9a-fA-F]{40}$/);
  });

  test("prints a ready-to-use jump-host command for BuilderHub", () => {
    assert.equal(result.outputs.sshBuilderhub.value, "ssh -J azureuser@203.0.113.10 azureuser@10.10.1.5");
    assert.equal(
      result.outputs.builderhubSshNote.value,
      "BuilderHub has no public IP: sshBuilderhub goes through vm-eastus as jump host",
    );
  });
});

describe("three regions", () => {
  let result: Evaluation;
  before(async () => {
    result = await evaluated(threeRegionRequest());
  });

  test("gives the third region its own network, firewall, address, VM and extension", () => {
    one(result, "resources:ResourceGroup", "rg-centralus");
    assert.deepEqual(
      one<VnetInputs>(result, "network:VirtualNetwork", "vnet-centralus").addressSpace?.addressPrefixes,
      ["10.30.0.0/16"],
    );
    assert.equal(one(result, "network:Subnet", "subnet-centralus").addressPrefix, "10.30.1.0/24");
    one(result, "network:PublicIPAddress", "pip-centralus");
    one(result, "compute:VirtualMachine", "vm-centralus");
    one(result, "compute:VirtualMachineExtension", "provision-vm-centralus");
  });

  test("peers every pair of VNets in both directions", () => {
    assert.deepEqual(names(result, "network:VirtualNetworkPeering"), [
      "peer-centralus-to-eastus",
      "peer-centralus-to-westeurope",
      "peer-eastus-to-centralus",
      "peer-eastus-to-westeurope",
      "peer-westeurope-to-centralus",
      "peer-westeurope-to-eastus",
    ]);
  });

  test("allows ICMP from both peers", () => {
    const rules = one<NsgInputs>(result, "network:NetworkSecurityGroup", "nsg-centralus")
      .securityRules as SecurityRuleInputs[];
    assert.deepEqual(
      rules
        .filter((r) => r.protocol === "Icmp")
        .map((r) => r.sourceAddressPrefix)
        .sort(),
      ["10.10.0.0/16", "10.20.0.0/16"],
    );
  });

  test("links the zone to the third VNet and adds its A record", () => {
    one(result, "privatedns:VirtualNetworkLink", "dns-link-centralus");
    assert.ok(result.dnsRecords.some((r) => r.fqdn === "vm-centralus.flowproxy.internal" && r.ip === "10.30.1.4"));
  });

  test("gives the third subnet its reverse zone, linked to every VNet, and every VNet the third's", () => {
    assert.equal(
      one(result, "privatedns:PrivateZone", "dns-reverse-centralus").privateZoneName,
      "1.30.10.in-addr.arpa",
    );
    for (const location of ["eastus", "westeurope", "centralus"]) {
      one(result, "privatedns:VirtualNetworkLink", `dns-reverse-centralus-link-${location}`);
      one(result, "privatedns:VirtualNetworkLink", `dns-reverse-${location}-link-centralus`);
    }
    assert.ok(
      result.reverseRecords.some(
        (r) => r.name === "4.1.30.10.in-addr.arpa" && r.target === "vm-centralus.flowproxy.internal",
      ),
    );
  });

  test("exports the third region's outputs", () => {
    for (const name of [
      "centralPublicIp",
      "centralPrivateIp",
      "sshCentral",
      "centralPrivateFqdn",
      "centralNicPrivateFqdn",
      "centralSignerAddress",
    ]) {
      assert.ok(name in result.outputs, `${name} is exported`);
    }
  });
});
