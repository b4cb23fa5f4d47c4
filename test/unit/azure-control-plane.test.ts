// What Azure's control plane needs and Pulumi's mocks never enforce: ordered writes to each VNet,
// FlowProxy extensions that wait for the network they register over, outbound access that does
// not depend on the API version, and the options that let a VM be replaced and the stack be
// destroyed. The ordering rules are stated over the dependency graph (test/support/vnet-writes.ts),
// so a resource added later is held to them too.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderStack, validRequest } from "../support/stack";
import { extensionsAheadOfNetwork, networkPrerequisites, unorderedVnetWrites, vnetWriters } from "../support/vnet-writes";

const THREE_REGIONS = JSON.stringify([
  { name: "east", location: "eastus", vnetCidr: "10.10.0.0/16", subnetCidr: "10.10.1.0/24" },
  { name: "west", location: "westeurope", vnetCidr: "10.20.0.0/16", subnetCidr: "10.20.1.0/24" },
  { name: "central", location: "centralus", vnetCidr: "10.30.0.0/16", subnetCidr: "10.30.1.0/24" },
]);

const tables: [string, ReturnType<typeof validRequest>, number][] = [
  ["default regions", validRequest(), 2],
  ["three regions", validRequest({ regions: THREE_REGIONS }), 3],
];

for (const [label, request, regions] of tables) {
  describe(`Azure control plane, ${label}`, () => {
    const result = renderStack(request);

    test("finds every write to each VNet: itself, its subnet, its peerings both ways and its DNS link", () => {
      const writers = vnetWriters(result);
      assert.equal(writers.size, regions);
      for (const [vnet, names] of writers) {
        const location = vnet.replace(/^vnet-/, "");
        assert.ok(names.includes(`subnet-${location}`), `${vnet}: ${names.join(", ")}`);
        assert.ok(names.includes(`dns-link-${location}`), `${vnet}: ${names.join(", ")}`);
        assert.equal(names.filter((n) => n.startsWith("peer-")).length, 2 * (regions - 1), `${vnet}: ${names.join(", ")}`);
      }
    });

    test("no two writes to one VNet can run at the same time", () => {
      assert.deepEqual(unorderedVnetWrites(result), []);
    });

    test("every FlowProxy extension waits for all peerings, all DNS links and the builderhub record", () => {
      assert.equal(networkPrerequisites(result).length, regions * (regions - 1) + regions + 1);
      assert.deepEqual(extensionsAheadOfNetwork(result), []);
    });

    test("every subnet states its outbound access: default outbound access on, or a NAT gateway", () => {
      const subnets = result.resources.filter((r) => r.type === "azure-native:network:Subnet");
      assert.equal(subnets.length, regions);
      for (const subnet of subnets) {
        const { defaultOutboundAccess, natGateway } = subnet.inputs as { defaultOutboundAccess?: boolean; natGateway?: { id?: string } };
        assert.ok(defaultOutboundAccess === true || Boolean(natGateway?.id), `${subnet.name} leaves outbound access to the API version`);
      }
    });
  });
}

describe("replacement and destroy", () => {
  const result = renderStack(validRequest());
  const options = result.options;
  const ofType = (type: string) => result.resources.filter((r) => r.type === `azure-native:${type}`);
  const groupOf = (inputs: Record<string, unknown>) => {
    const group = result.resources.find((r) => r.type === "azure-native:resources:ResourceGroup" && r.state.name === inputs.resourceGroupName);
    assert.ok(group, `a resource group named ${String(inputs.resourceGroupName)}`);
    return group.name;
  };

  test("a VM is replaced delete-first, on a new image too, and leaves its NIC to the new VM", () => {
    for (const vm of ofType("compute:VirtualMachine")) {
      assert.equal(options[vm.name].deleteBeforeReplace, true, vm.name);
      assert.deepEqual(options[vm.name].replaceOnChanges, ["storageProfile.imageReference"], vm.name);
      const nics = (vm.inputs.networkProfile as { networkInterfaces: { deleteOption?: string }[] }).networkInterfaces;
      assert.deepEqual(nics.map((n) => n.deleteOption), ["Detach"], vm.name);
    }
  });

  test("an extension goes with its VM and is replaced delete-first", () => {
    const extensions = ofType("compute:VirtualMachineExtension");
    assert.equal(extensions.length, 3);
    for (const ext of extensions) {
      assert.equal(options[ext.name].deletedWith, ext.name.replace(/^provision-/, ""), ext.name);
      assert.equal(options[ext.name].deleteBeforeReplace, true, ext.name);
    }
  });

  test("what lives only in a region's group goes with the group, so Pulumi never deletes a NIC itself", () => {
    const contained = ["network:VirtualNetwork", "network:Subnet", "network:NetworkSecurityGroup", "network:PublicIPAddress", "network:NetworkInterface", "compute:VirtualMachine"];
    for (const type of contained) {
      for (const r of ofType(type)) assert.equal(options[r.name].deletedWith, groupOf(r.inputs), `${type} ${r.name}`);
    }
    const acrossGroups = ["network:VirtualNetworkPeering", "privatedns:VirtualNetworkLink", "privatedns:PrivateRecordSet", "privatedns:PrivateZone"];
    for (const type of acrossGroups) {
      for (const r of ofType(type)) assert.equal(options[r.name].deletedWith, "", `${type} ${r.name} is deleted by Pulumi`);
    }
  });

  test("resources with a fixed Azure name or one per VNet are replaced delete-first", () => {
    const unique = ["compute:VirtualMachineExtension", "privatedns:PrivateZone", "privatedns:PrivateRecordSet", "privatedns:VirtualNetworkLink", "network:VirtualNetworkPeering"];
    for (const type of unique) {
      const resources = ofType(type);
      assert.ok(resources.length > 0, type);
      for (const r of resources) assert.equal(options[r.name].deleteBeforeReplace, true, `${type} ${r.name}`);
    }
  });
});
