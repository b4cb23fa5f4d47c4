// The names Azure shows (portal, `az vm list`): VMs, NICs, public IPs and NSGs carry the names the
// program and the docs use, resource groups the stack's name, and what a fixed name costs on
// replacement is paid delete-first. Every VM keeps boot diagnostics in Azure-managed storage.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { unmarkSecrets } from "../../../plan/evaluation";
import type { EvaluatedResource, Evaluation } from "../../../plan/evaluation";
import { evaluated, outcomeOf, validRequest } from "../../support/program";

/** Each type the program names itself in Azure, and the input that carries the name. */
const NAMED = {
  "azure-native:compute:VirtualMachine": "vmName",
  "azure-native:network:NetworkInterface": "networkInterfaceName",
  "azure-native:network:PublicIPAddress": "publicIpAddressName",
  "azure-native:network:NetworkSecurityGroup": "networkSecurityGroupName",
} as const;
const RESOURCE_GROUP = "azure-native:resources:ResourceGroup";

const ofType = (stack: Evaluation, type: string): EvaluatedResource[] => stack.resources.filter((r) => r.type === type);
const named = (stack: Evaluation): EvaluatedResource[] => stack.resources.filter((r) => r.type in NAMED);
const azureName = (r: EvaluatedResource): unknown => r.inputs[NAMED[r.type as keyof typeof NAMED]];
const groupNames = (stack: Evaluation): string[] =>
  ofType(stack, RESOURCE_GROUP).map((g) => String(g.inputs.resourceGroupName));

describe("Azure names", () => {
  let dev: Evaluation;
  let qa: Evaluation;
  before(async () => {
    [dev, qa] = await Promise.all([evaluated(validRequest()), evaluated({ ...validRequest(), stack: "qa" })]);
  });

  test("VMs, NICs, public IPs and NSGs are named in Azure as in the program and the docs", () => {
    const names = Object.fromEntries(Object.keys(NAMED).map((type) => [type, ofType(dev, type).map(azureName).sort()]));
    assert.deepEqual(names, {
      "azure-native:compute:VirtualMachine": ["vm-builderhub", "vm-eastus", "vm-westeurope"],
      "azure-native:network:NetworkInterface": ["nic-vm-builderhub", "nic-vm-eastus", "nic-vm-westeurope"],
      "azure-native:network:PublicIPAddress": ["pip-eastus", "pip-westeurope"],
      "azure-native:network:NetworkSecurityGroup": ["nsg-builderhub", "nsg-eastus", "nsg-westeurope"],
    });
    for (const r of named(dev)) assert.equal(azureName(r), r.name, `${r.name} has its program name in Azure`);
    for (const vm of ofType(dev, "azure-native:compute:VirtualMachine")) {
      assert.equal(
        (unmarkSecrets(vm.inputs.osProfile) as { computerName?: unknown }).computerName,
        vm.name,
        `${vm.name}'s host name`,
      );
    }
  });

  test("Azure answers with those names, and no two resources of the stack share one", () => {
    for (const r of named(dev)) assert.equal(r.state.name, azureName(r), r.name);
    const names = named(dev).map(azureName);
    assert.equal(new Set(names).size, names.length, `duplicates among ${names.join(", ")}`);
  });

  test("resource groups carry the stack's name, so two stacks in one subscription do not collide", () => {
    assert.deepEqual(groupNames(dev).sort(), [
      "rg-flowproxy-staging-dev-eastus",
      "rg-flowproxy-staging-dev-westeurope",
    ]);
    assert.deepEqual(groupNames(qa).sort(), ["rg-flowproxy-staging-qa-eastus", "rg-flowproxy-staging-qa-westeurope"]);
    // What the two stacks name alike lives in groups of their own.
    for (const r of named(qa))
      assert.ok(
        !groupNames(dev).includes(String(r.inputs.resourceGroupName)),
        `qa's ${r.name} is in one of qa's groups`,
      );
  });

  test("a stack name that makes a resource group name longer than Azure takes is refused before any resource", async () => {
    // rg-flowproxy-staging-<stack>-eastus fits in 90 characters; the westeurope one does not.
    const stack = "s".repeat(60);
    const outcome = await outcomeOf({ ...validRequest(), stack });
    assert.equal(outcome.kind, "refused");
    if (outcome.kind !== "refused") return;
    assert.equal(outcome.refusal.declared, 0);
    assert.match(
      outcome.refusal.message,
      new RegExp(
        `The stack name "${stack}" makes the resource group name rg-flowproxy-staging-${stack}-westeurope 92 characters long; Azure takes at most 90`,
      ),
    );
  });

  test("what carries a fixed name is replaced delete-first: a second one under that name would be refused", () => {
    for (const r of named(dev)) assert.equal(r.options.deleteBeforeReplace, true, r.name);
  });

  test("every VM, BuilderHub's too, has boot diagnostics in Azure-managed storage (no storageUri)", () => {
    const vms = ofType(dev, "azure-native:compute:VirtualMachine");
    assert.equal(vms.length, 3);
    for (const vm of vms) {
      assert.deepEqual(
        (vm.inputs.diagnosticsProfile as Record<string, unknown>)?.bootDiagnostics,
        { enabled: true },
        vm.name,
      );
    }
  });
});
