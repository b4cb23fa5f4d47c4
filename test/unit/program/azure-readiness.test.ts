// What Azure's control plane and a VM's first boot need and Pulumi's mocks never enforce: ordered
// writes to each VNet, FlowProxy extensions that wait for the network they register over, outbound
// access that does not depend on the API version, the options that let a VM be replaced and the
// stack be destroyed, a knob that reruns every extension, and a script that copes with a fresh
// Ubuntu VM. The ordering rules are stated over the dependency graph (test/support/vnet-writes.ts),
// so a resource added later is held to them too. The reliability report shows these checks.
import assert from "node:assert/strict";
import * as os from "node:os";
import { before, test } from "node:test";
import type { Evaluation } from "../../../plan/evaluation";
import { firstBootProblems, outboundProblems, provisioningRunProblems, replacementProblems, replacementReview, subnetOutbound, waitForHeldLock } from "../../support/azure-readiness";
import { reportSection } from "../../support/evidence";
import { evaluated, everyOptionRequest, threeRegionRequest, validRequest } from "../../support/program";
import { AZURE_READINESS, AZURE_READINESS_CHECKS, REGION_TABLES } from "../../support/report-sections";
import { extensionsAheadOfNetwork, networkPrerequisites, unorderedVnetWrites, vnetWriters } from "../../support/vnet-writes";

/** How long the script waits for a held apt lock in these checks; 600 s on a VM. */
const LOCK_WAIT_SECONDS = 2;

let base: Evaluation;
let threeRegions: Evaluation;
before(async () => {
  [base, threeRegions] = await Promise.all([evaluated(validRequest()), evaluated(threeRegionRequest())]);
});

const eastScript = () => base.extensions.find((e) => e.vmName === "vm-eastus")!.script;

reportSection(AZURE_READINESS, (check) => {
  const tables: Record<(typeof REGION_TABLES)[number], [() => Evaluation, number]> = {
    "default regions": [() => base, 2],
    "three regions": [() => threeRegions, 3],
  };
  for (const label of REGION_TABLES) {
    const [result, regions] = tables[label];
    check(AZURE_READINESS_CHECKS.vnetWriters(label), () => {
      const writers = vnetWriters(result());
      assert.equal(writers.size, regions);
      for (const [vnet, names] of writers) {
        const location = vnet.replace(/^vnet-/, "");
        assert.ok(names.includes(`subnet-${location}`), `${vnet}: ${names.join(", ")}`);
        assert.ok(names.includes(`dns-link-${location}`), `${vnet}: ${names.join(", ")}`);
        assert.equal(names.filter((n) => n.startsWith("peer-")).length, 2 * (regions - 1), `${vnet}: ${names.join(", ")}`);
      }
      return [[...writers].map(([vnet, names]) => `${vnet}: ${names.length} writers`).join("; ")];
    });

    check(AZURE_READINESS_CHECKS.orderedVnetWrites(label), () => {
      assert.deepEqual(unorderedVnetWrites(result()), []);
      const pairs = [...vnetWriters(result()).values()].reduce((n, writers) => n + (writers.length * (writers.length - 1)) / 2, 0);
      return [`${pairs} pairs of writes over ${regions} VNets, each ordered by a dependency`];
    });

    check(AZURE_READINESS_CHECKS.extensionsAfterNetwork(label), () => {
      assert.equal(networkPrerequisites(result()).length, regions * (regions - 1) + regions + 1);
      assert.deepEqual(extensionsAheadOfNetwork(result()), []);
      return [`each of ${regions} waits for all ${networkPrerequisites(result()).length}`];
    });

    check(AZURE_READINESS_CHECKS.outboundAccess(label), () => {
      const outbound = subnetOutbound(result());
      assert.equal(outbound.subnets.length, regions);
      assert.deepEqual(outboundProblems(result()), []);
      return [
        `${outbound.subnets.length} subnets: defaultOutboundAccess true on ${outbound.defaultOutboundAccess.length}, ` +
          `a NAT gateway on ${outbound.natGateway.length}`,
      ];
    });
  }

  check(AZURE_READINESS_CHECKS.replacement, () => {
    const { problems, reviewed } = replacementReview(base);
    assert.deepEqual(problems, []);
    return [
      `${reviewed.vms} VMs replaced on a new image with their ${reviewed.nics} NICs' deleteOption Detach; ${reviewed.extensions} extensions ` +
        `deletedWith their VM; ${reviewed.groupContents} group contents deletedWith their group; ${reviewed.acrossGroups} resources ` +
        `across groups left to Pulumi's own deletion; ${reviewed.deleteFirst} with a fixed name or once per VNet deleteBeforeReplace`,
    ];
  });

  check(AZURE_READINESS_CHECKS.provisioningRun, async () => {
    assert.deepEqual(provisioningRunProblems(base, await evaluated(validRequest({ provisioningRun: "1" }))), []);
    return [`all ${base.extensions.length} forceUpdateTags change from provisioningRun 0 to 1; the scripts stay the same`];
  });

  check(AZURE_READINESS_CHECKS.firstBoot, async () => {
    const configurations = await Promise.all([evaluated(everyOptionRequest()), evaluated(validRequest({ signerKeySource: "vm" }))]);
    const scripts = [base, ...configurations].flatMap((e) => e.extensions);
    for (const extension of scripts) assert.deepEqual(firstBootProblems(extension.script), [], extension.vmName);
    return [`all ${scripts.length} scripts: the default configuration, every option set, keys made on the VMs`];
  });

  check(AZURE_READINESS_CHECKS.heldAptLock, async () => {
    const wait = await waitForHeldLock(eastScript(), 30, LOCK_WAIT_SECONDS);
    assert.equal(wait.status, 1, wait.stdout);
    assert.match(wait.stdout, new RegExp(`^  waiting for ${wait.lockFile}, which another apt or dpkg run holds$`, "m"));
    const last = wait.stdout.trimEnd().split("\n").pop() ?? "";
    assert.match(last, new RegExp(`^FAILED: vm-eastus, step 0/0 \\(ensure base packages\\): ${wait.lockFile} was still locked after [2-9]\\.\\d{3} s`));
    // The lock file has a random name; the report shows where it was, not which one.
    return [`exit ${wait.status} after ${wait.seconds.toFixed(1)} s (${LOCK_WAIT_SECONDS} s here, 600 s on a VM): ${last.split(os.tmpdir()).join("$TMPDIR")}`];
  });

  check(AZURE_READINESS_CHECKS.freedAptLock, async () => {
    const wait = await waitForHeldLock(eastScript(), 1, 30);
    assert.equal(wait.status, 0, wait.stdout);
    const freed = /apt's locks are free after \d+\.\d{3} s/.exec(wait.stdout)?.[0];
    assert.ok(freed, wait.stdout);
    return [`exit 0 after ${wait.seconds.toFixed(1)} s: ${freed}`];
  });
});

test("the check names each option a resource lacks", () => {
  const broken: Evaluation = structuredClone(base);
  const options = (name: string) => broken.resources.find((r) => r.name === name)!.options;
  options("vm-eastus").deleteBeforeReplace = false;
  options("provision-vm-eastus").deletedWith = "";
  options("nic-vm-westeurope").deletedWith = "";
  options("dns-link-eastus").deletedWith = "rg-eastus";
  assert.deepEqual(replacementProblems(broken).sort(), [
    "dns-link-eastus reaches across groups but is left to a deletion",
    "nic-vm-westeurope is not deleted with its resource group",
    "provision-vm-eastus is not deleted with its VM",
    "vm-eastus is not replaced delete-first",
  ]);
});

test("the outbound check counts a subnet behind a NAT gateway apart from default outbound access, and names one with neither", () => {
  const changed: Evaluation = structuredClone(base);
  const [first, second] = changed.resources.filter((r) => r.type === "azure-native:network:Subnet");
  first.inputs = { ...first.inputs, defaultOutboundAccess: false, natGateway: { id: "/subscriptions/s/natGateways/nat-eastus" } };
  assert.deepEqual(subnetOutbound(changed), {
    subnets: [first.name, second.name],
    defaultOutboundAccess: [second.name],
    natGateway: [first.name],
  });
  assert.deepEqual(outboundProblems(changed), []);
  second.inputs = { ...second.inputs, defaultOutboundAccess: false };
  assert.deepEqual(outboundProblems(changed), [`${second.name} leaves its outbound access to the API version`]);
});
