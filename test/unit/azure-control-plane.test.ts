// What Azure's control plane needs and Pulumi's mocks never enforce: ordered writes to each VNet,
// FlowProxy extensions that wait for the network they register over, and outbound access that does
// not depend on the API version. The ordering rules are stated over the dependency graph
// (test/support/vnet-writes.ts), so a resource added later is held to them too.
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
  describe(`Azure ordering, ${label}`, () => {
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
