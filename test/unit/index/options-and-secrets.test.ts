// Resource options that protect running VMs, and where secrets may and may not appear.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { signerAddress } from "../../../lib/signer";
import { decodeScript, Evaluation } from "../../../plan/evaluation";
import { EVERY_OPTION, evaluated, everyOptionRequest, validRequest } from "../../support/program";

const NOT_SECRET = ["clickhouseHost", "clickhouseDatabase", "clickhouseUsername"];

describe("resource options", () => {
  let result: Evaluation;
  before(async () => {
    result = await evaluated(validRequest());
  });
  const optionsOf = (name: string) => result.resources.find((r) => r.name === name)!.options;

  test("VMs ignore changes to osProfile", () => {
    for (const vm of ["vm-eastus", "vm-westeurope", "vm-builderhub"]) {
      assert.deepEqual(optionsOf(vm).ignoreChanges, ["osProfile"], vm);
    }
  });

  test("FlowProxy extensions wait for the BuilderHub extension", () => {
    for (const vm of ["vm-eastus", "vm-westeurope"]) {
      assert.ok(optionsOf(`provision-${vm}`).dependsOn.includes("provision-vm-builderhub"), vm);
    }
    assert.ok(!optionsOf("provision-vm-builderhub").dependsOn.some((d) => d.startsWith("provision-")));
  });
});

describe("secrets", () => {
  let result: Evaluation;
  let signerKeys: string[];
  let secretValues: string[];
  before(async () => {
    result = await evaluated(everyOptionRequest());
    signerKeys = result.resources
      .filter((r) => r.type === "random:index/randomBytes:RandomBytes")
      .map((r) => String(r.state.hex));
    secretValues = [
      ...Object.entries(EVERY_OPTION)
        .filter(([k]) => !NOT_SECRET.includes(k))
        .map(([, v]) => v),
      ...signerKeys,
    ];
  });

  test("every extension keeps its script in protectedSettings, marked secret", () => {
    assert.equal(result.extensions.length, 3);
    for (const ext of result.extensions) {
      assert.equal(ext.protectedSettingsSecret, true, ext.vmName);
      assert.ok(decodeScript(ext.script).startsWith("#!/bin/bash\n"), ext.vmName);
    }
  });

  test("the scripts carry the secrets they need", () => {
    const east = decodeScript(result.extensions.find((e) => e.vmName === "vm-eastus")!.script);
    for (const value of secretValues.filter((v) => v !== signerKeys[1])) assert.ok(east.includes(value));
  });

  test("public settings, tags and other inputs hold no secret", () => {
    for (const resource of result.resources) {
      const { protectedSettings, ...publicInputs } = resource.inputs;
      void protectedSettings;
      const text = JSON.stringify(publicInputs);
      for (const value of secretValues) {
        const inSecretEnvelope = text.includes(`{"$secret":"${value}"}`);
        assert.ok(!text.includes(value) || inSecretEnvelope, `${resource.name} exposes a secret`);
      }
    }
  });

  test("no stack output holds or is marked as a secret", () => {
    const text = JSON.stringify(result.outputs);
    for (const value of secretValues) assert.ok(!text.includes(value), "an output contains a secret value");
    for (const [name, output] of Object.entries(result.outputs)) assert.equal(output.secret, false, name);
  });

  test("the signer address output is the address of the stack's key", () => {
    const eastKey = result.resources.find((r) => r.name === "signer-key-vm-eastus")!.state.hex as string;
    assert.equal(result.outputs.eastSignerAddress.value, signerAddress(eastKey));
  });
});

describe("signerKeySource: vm", () => {
  let result: Evaluation;
  before(async () => {
    result = await evaluated(validRequest({ signerKeySource: "vm" }));
  });

  test("generates no key in the stack and puts none in the scripts", () => {
    assert.equal(result.resources.filter((r) => r.type.startsWith("random:")).length, 0);
    const east = decodeScript(result.extensions.find((e) => e.vmName === "vm-eastus")!.script);
    assert.match(east, /^readonly SIGNER_KEY_SOURCE='vm'$/m);
    assert.match(east, /^readonly SIGNER_KEY=''$/m);
  });

  test("says where to find the address instead of exporting one", () => {
    assert.match(String(result.outputs.eastSignerAddress.value), /\/etc\/flowproxy\/signer\.address/);
  });
});
