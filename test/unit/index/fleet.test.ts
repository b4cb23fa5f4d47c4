// Regions of several FlowProxy VMs: each VM's own resources and names, the sizes per region, the
// reverse zones that name every VM's address, and what growing a region from one proxy to two (and
// shrinking it back) changes: the new VM's resources, BuilderHub's record of the fleet, nothing else.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { fleetPlan, reverseRecordName, reverseZoneOf } from "../../../lib/fleet";
import { scriptVariable } from "../../../lib/provision";
import { decodeScript, Evaluation, EvaluatedResource, unmarkSecrets, vmOf } from "../../../plan/evaluation";
import { evaluated, grownRequest, threeRegionRequest, validRequest } from "../../support/program";
import type { NicInputs } from "../../../lib/azure-inputs";

const NEW_VM = "vm-eastus-2";
/** Everything the second proxy of eastus owns, by resource name. */
const NEW_VM_RESOURCES = [
  "dns-ptr-vm-eastus-2",
  "dns-vm-eastus-2",
  "nic-vm-eastus-2",
  "nsg-eastus-2",
  "pip-eastus-2",
  "provision-vm-eastus-2",
  "signer-key-vm-eastus-2",
  "vm-eastus-2",
];

const byName = (result: Evaluation) =>
  new Map(result.resources.filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => [r.name, r]));
const scriptOf = (result: Evaluation, vm: string) =>
  decodeScript(result.extensions.find((e) => e.vmName === vm)!.script);
/** A script without its FLEET line: what BuilderHub's extension carries besides the fleet. */
const withoutFleet = (script: string) => script.replace(/^readonly FLEET='[^']*'$/m, "");

/** Resources of `from` that `to` declares otherwise, and those only one of them declares. */
function difference(from: Evaluation, to: Evaluation): { changed: string[]; added: string[]; removed: string[] } {
  const [a, b] = [byName(from), byName(to)];
  const same = (x: EvaluatedResource, y: EvaluatedResource) => JSON.stringify(x.inputs) === JSON.stringify(y.inputs);
  return {
    changed: [...a.keys()].filter((name) => b.has(name) && !same(a.get(name)!, b.get(name)!)).sort(),
    added: [...b.keys()].filter((name) => !a.has(name)).sort(),
    removed: [...a.keys()].filter((name) => !b.has(name)).sort(),
  };
}

describe("a region of two proxies", () => {
  let one: Evaluation;
  let two: Evaluation;
  let three: Evaluation;
  before(async () => {
    [one, two, three] = await Promise.all([
      evaluated(validRequest()),
      evaluated(grownRequest()),
      evaluated(threeRegionRequest()),
    ]);
  });

  test("gives the second proxy its own NSG, public IP, NIC, VM, extension, signer key and DNS records, named with its number", () => {
    const resources = byName(two);
    for (const name of NEW_VM_RESOURCES) assert.ok(resources.has(name), `${name} is declared`);
    for (const name of ["nsg-eastus-2", "pip-eastus-2", "nic-vm-eastus-2", "vm-eastus-2", "provision-vm-eastus-2"]) {
      assert.equal(vmOf(resources.get(name)!.inputs), NEW_VM, `${name} is tagged with its VM`);
    }
    const nic = unmarkSecrets(resources.get("nic-vm-eastus-2")!.inputs) as NicInputs;
    assert.equal(nic.dnsSettings?.internalDnsNameLabel, NEW_VM);
    const certificateNames = scriptVariable(scriptOf(two, NEW_VM), "CERT_SANS")!;
    assert.match(certificateNames, /IP:10\.10\.1\.6,DNS:vm-eastus-2\.flowproxy\.internal,.*IP:203\.0\.113\.26/);
    const keys = ["vm-eastus", NEW_VM].map((vm) => scriptVariable(scriptOf(two, vm), "SIGNER_KEY"));
    assert.notEqual(keys[0], keys[1], "each proxy signs with its own key");
  });

  test("opens every proxy's system port to every source, so proxies of one region and of the others reach each other", () => {
    const nsgs = two.resources.filter(
      (r) => r.type === "azure-native:network:NetworkSecurityGroup" && r.name !== "nsg-builderhub",
    );
    assert.deepEqual(nsgs.map((r) => r.name).sort(), ["nsg-eastus", "nsg-eastus-2", "nsg-westeurope"]);
    for (const nsg of nsgs) {
      const rules = (
        unmarkSecrets(nsg.inputs) as { securityRules: { destinationPortRange: string; sourceAddressPrefix: string }[] }
      ).securityRules;
      assert.ok(
        rules.some((r) => r.destinationPortRange === "5544" && r.sourceAddressPrefix === "*"),
        `${nsg.name} takes system flow from anywhere`,
      );
    }
  });

  test("exports the first proxy's outputs under the region's name and the second's under the name and its number", () => {
    for (const [name, output] of Object.entries(one.outputs)) {
      assert.deepEqual(two.outputs[name], output, `${name} is unchanged`);
    }
    const added = Object.keys(two.outputs)
      .filter((name) => !(name in one.outputs))
      .sort();
    assert.deepEqual(added, [
      "east2NicPrivateFqdn",
      "east2PrivateFqdn",
      "east2PrivateIp",
      "east2PublicIp",
      "east2SignerAddress",
      "sshEast2",
    ]);
    assert.equal(two.outputs.east2PrivateFqdn.value, "vm-eastus-2.flowproxy.internal");
    assert.equal(two.outputs.sshEast2.value, "ssh azureuser@203.0.113.26");
  });

  test("names every VM's address in its subnet's reverse zone after the VM, as its A record does", () => {
    for (const result of [two, three]) {
      const forward = new Map(result.dnsRecords.map((r) => [r.fqdn, r.ip]));
      assert.equal(result.reverseRecords.length, result.dnsRecords.length, "a PTR record for each A record");
      for (const ptr of result.reverseRecords) {
        const ip = forward.get(ptr.target);
        assert.ok(ip, `${ptr.name} names ${ptr.target}, which has an A record`);
        assert.equal(
          ptr.name,
          `${ip.split(".").reverse().join(".")}.in-addr.arpa`,
          `${ptr.target}'s A and PTR records agree`,
        );
      }
    }
    assert.ok(
      two.reverseRecords.some(
        (r) => r.name === "6.1.10.10.in-addr.arpa" && r.target === "vm-eastus-2.flowproxy.internal",
      ),
    );
  });

  test("lets each proxy register only once BuilderHub can name it: after its own PTR record and every reverse zone's links", () => {
    for (const extension of two.extensions.filter((e) => e.role === "flowproxy")) {
      assert.ok(
        extension.dependsOn.includes(`dns-ptr-${extension.vmName}`),
        `${extension.resource} waits for its PTR record`,
      );
      for (const link of two.resources.filter(
        (r) => r.name.startsWith("dns-reverse-") && r.type === "azure-native:privatedns:VirtualNetworkLink",
      )) {
        assert.ok(extension.dependsOn.includes(link.name), `${extension.resource} waits for ${link.name}`);
      }
    }
  });

  test("gives BuilderHub the fleet: every FlowProxy VM's name and private address", () => {
    assert.equal(
      scriptVariable(scriptOf(two, "vm-builderhub"), "FLEET"),
      "vm-eastus 10.10.1.4\nvm-eastus-2 10.10.1.6\nvm-westeurope 10.20.1.4\n",
    );
    assert.equal(
      scriptVariable(scriptOf(one, "vm-builderhub"), "FLEET"),
      "vm-eastus 10.10.1.4\nvm-westeurope 10.20.1.4\n",
    );
  });

  test("sizes a region's FlowProxy VMs by its vmSize, the others and BuilderHub by the stack's", () => {
    const sizes = Object.fromEntries(
      three.resources
        .filter((r) => r.type === "azure-native:compute:VirtualMachine")
        .map((r) => [
          r.name,
          (unmarkSecrets(r.inputs) as { hardwareProfile: { vmSize: string } }).hardwareProfile.vmSize,
        ]),
    );
    assert.deepEqual(sizes, {
      "vm-builderhub": "Standard_B2s",
      "vm-eastus": "Standard_B2s",
      "vm-westeurope": "Standard_B2s",
      "vm-centralus": "Standard_B2ls_v2",
    });
  });

  test("growing eastus from one proxy to two adds only the new proxy's resources and changes no other resource but BuilderHub's fleet", () => {
    const diff = difference(one, two);
    assert.deepEqual(diff.added, NEW_VM_RESOURCES);
    assert.deepEqual(diff.removed, []);
    assert.deepEqual(diff.changed, ["provision-vm-builderhub"]);
    assert.equal(
      withoutFleet(scriptOf(two, "vm-builderhub")),
      withoutFleet(scriptOf(one, "vm-builderhub")),
      "BuilderHub's script differs in its fleet alone",
    );
    for (const vm of ["vm-eastus", "vm-westeurope"]) {
      const [before, after] = [one, two].map((r) => r.extensions.find((e) => e.vmName === vm)!);
      assert.equal(after.forceUpdateTag, before.forceUpdateTag, `${vm}'s extension is not run again`);
      assert.equal(after.script, before.script, `${vm}'s script is unchanged`);
    }
  });

  test("shrinking eastus back to one proxy removes only that proxy's resources and takes it out of BuilderHub's fleet", () => {
    const diff = difference(two, one);
    assert.deepEqual(diff.removed, NEW_VM_RESOURCES);
    assert.deepEqual(diff.added, []);
    assert.deepEqual(diff.changed, ["provision-vm-builderhub"]);
    assert.doesNotMatch(scriptVariable(scriptOf(one, "vm-builderhub"), "FLEET")!, /vm-eastus-2/);
  });
});

describe("the fleet's plan (lib/fleet.ts)", () => {
  test("numbers a region's later proxies after BuilderHub in the first region, as Azure hands out addresses to a grown stack", () => {
    const plan = fleetPlan([
      { name: "east", location: "eastus", subnetCidr: "10.10.1.0/24", proxies: 3 },
      { name: "west", location: "westeurope", subnetCidr: "10.20.1.0/24", proxies: 2 },
    ]);
    assert.deepEqual(
      plan.map((vm) => `${vm.vmName} ${vm.outputName} .${vm.hostNumber}`),
      [
        "vm-builderhub builderhub .5",
        "vm-eastus east .4",
        "vm-eastus-2 east2 .6",
        "vm-eastus-3 east3 .7",
        "vm-westeurope west .4",
        "vm-westeurope-2 west2 .5",
      ],
    );
  });

  test("derives a subnet's reverse zone from the octets its prefix fixes, and each address's record in it", () => {
    assert.equal(reverseZoneOf("10.10.1.0/24"), "1.10.10.in-addr.arpa");
    assert.equal(reverseZoneOf("10.10.1.16/28"), "1.10.10.in-addr.arpa");
    assert.equal(reverseZoneOf("10.10.0.0/23"), "10.10.in-addr.arpa");
    assert.equal(reverseRecordName("10.10.1.6", "1.10.10.in-addr.arpa"), "6");
    assert.equal(reverseRecordName("10.10.1.7", "10.10.in-addr.arpa"), "7.1");
    assert.throws(() => reverseRecordName("10.20.1.4", "1.10.10.in-addr.arpa"), /outside the reverse zone/);
  });
});
