// What Azure's control plane needs and Pulumi's mocks never enforce: ordered writes to each VNet,
// FlowProxy extensions that wait for the network they register over, outbound access that does
// not depend on the API version, and the options that let a VM be replaced and the stack be
// destroyed. The ordering rules are stated over the dependency graph (test/support/vnet-writes.ts),
// so a resource added later is held to them too.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { outboundProblems, replacementProblems } from "../support/azure-readiness";
import type { RenderResult } from "../support/render-stack";
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
      assert.equal(result.resources.filter((r) => r.type === "azure-native:network:Subnet").length, regions);
      assert.deepEqual(outboundProblems(result), []);
    });
  });
}

describe("replacement and destroy", () => {
  const result = renderStack(validRequest());

  test("VMs are replaced delete-first and leave their NIC to the next; extensions go with their VM; group contents with their group", () => {
    assert.deepEqual(replacementProblems(result), []);
  });

  test("the check names each option a resource lacks", () => {
    const broken: RenderResult = JSON.parse(JSON.stringify(result));
    broken.options["vm-eastus"].deleteBeforeReplace = false;
    broken.options["provision-vm-eastus"].deletedWith = "";
    broken.options["nic-vm-westeurope"].deletedWith = "";
    broken.options["dns-link-eastus"].deletedWith = "rg-eastus";
    assert.deepEqual(replacementProblems(broken).sort(), [
      "dns-link-eastus reaches across groups but is left to a deletion",
      "nic-vm-westeurope is not deleted with its resource group",
      "provision-vm-eastus is not deleted with its VM",
      "vm-eastus is not replaced delete-first",
    ]);
  });
});
