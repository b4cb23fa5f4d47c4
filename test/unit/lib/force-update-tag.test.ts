// Azure reruns an extension when its settings, protectedSettings or forceUpdateTag change. The
// script in protectedSettings holds every input, secrets included; forceUpdateTag, shown in the
// clear, hashes it without the secrets: stable for unchanged inputs, new for each changed input
// that is not a secret. That raising provisioningRun reruns every extension is in azure-readiness.test.ts.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { Evaluation, withEditedProject } from "../../../plan/evaluation";
import { DEFAULT_REGIONS } from "../../../lib/contract";
import { evaluateAgain, evaluated, validRequest } from "../../support/program";

const tagOf = (result: Evaluation, vm: string) => result.extensions.find((e) => e.vmName === vm)!.forceUpdateTag;

/** A small change to each file the scripts carry or are made of. */
const FILE_EDITS: Record<string, (text: string) => string> = {
  "haproxy.cfg": (t) => t.replace("timeout client 30s", "timeout client 31s"),
  "flowproxy.env": (t) => t.replace("RUST_LOG=info", "RUST_LOG=debug"),
  "flowproxy@.service": (t) => t.replace("RestartSec=5s", "RestartSec=6s"),
  "provision/flowproxy.sh": (t) =>
    t.replace("ensure_base_packages() {", 'ensure_base_packages() {\n  log "  checking packages"'),
  "provision/common.sh": (t) => t + "\n# a changed comment is a changed script\n",
};

/**
 * The tests that compare one evaluation with another use the stack with its first region alone
 * (vm-eastus and BuilderHub): a third fewer resources to evaluate, and the same two scripts.
 */
const oneRegion = (overrides: Record<string, string> = {}) =>
  validRequest({ regions: JSON.stringify(DEFAULT_REGIONS.slice(0, 1)), ...overrides });

const withEdits = new Map<string, Promise<Evaluation>>();

/** The program evaluated with FILE_EDITS[file] made, once per file. */
function evaluatedWithEdit(file: string): Promise<Evaluation> {
  let evaluation = withEdits.get(file);
  if (!evaluation) {
    evaluation = withEditedProject(
      file,
      (text) => {
        const changed = FILE_EDITS[file](text);
        assert.notEqual(changed, text, `the edit of ${file} changes it`);
        return changed;
      },
      (projectDir) => evaluateAgain({ ...oneRegion(), projectDir }),
    );
    withEdits.set(file, evaluation);
  }
  return evaluation;
}

describe("forceUpdateTag", () => {
  let stack: Evaluation;
  let baseline: Evaluation;
  before(async () => {
    [stack, baseline] = await Promise.all([evaluated(validRequest()), evaluated(oneRegion())]);
  });

  test("is a SHA-256 in hex", () => {
    assert.match(tagOf(stack, "vm-eastus"), /^[0-9a-f]{64}$/);
  });

  test("is the same on a second evaluation with unchanged inputs", async () => {
    // A new evaluation, not the shared one: the program runs again.
    const again = await evaluateAgain(oneRegion());
    for (const ext of baseline.extensions) assert.equal(tagOf(again, ext.vmName), ext.forceUpdateTag, ext.vmName);
  });

  test("differs between VMs", () => {
    assert.notEqual(tagOf(stack, "vm-eastus"), tagOf(stack, "vm-westeurope"));
  });

  for (const file of Object.keys(FILE_EDITS)) {
    test(`changes when ${file} changes`, async () => {
      const changed = await evaluatedWithEdit(file);
      assert.notEqual(tagOf(changed, "vm-eastus"), tagOf(baseline, "vm-eastus"));
    });
  }

  test("changes when haProxyVersion changes", async () => {
    const changed = await evaluated(oneRegion({ haProxyVersion: "3.0.7" }));
    assert.notEqual(tagOf(changed, "vm-eastus"), tagOf(baseline, "vm-eastus"));
  });

  test("changes when flowProxyArtifact changes", async () => {
    const changed = await evaluated(
      oneRegion({ flowProxyArtifact: "https://github.com/flashbots/flowproxy/actions/runs/1234/artifacts/5679" }),
    );
    assert.notEqual(tagOf(changed, "vm-eastus"), tagOf(baseline, "vm-eastus"));
  });

  test("leaves BuilderHub's tag alone when only FlowProxy's files change", async () => {
    const changed = await evaluatedWithEdit("haproxy.cfg");
    assert.equal(tagOf(changed, "vm-builderhub"), tagOf(baseline, "vm-builderhub"));
  });

  test("is the same for an unset provisioningRun and provisioningRun 0", async () => {
    const zero = await evaluated(oneRegion({ provisioningRun: "0" }));
    for (const ext of baseline.extensions) assert.equal(tagOf(zero, ext.vmName), ext.forceUpdateTag, ext.vmName);
  });

  const rotatedToken = () => evaluated(oneRegion({ githubToken: "ghp_ROTATEDtoken0123456789abcdefghijklmn" }));

  test("does not contain or depend on secret values", async () => {
    assert.equal(tagOf(await rotatedToken(), "vm-eastus"), tagOf(baseline, "vm-eastus"));
  });

  test("leaves the rerun after a rotated secret to protectedSettings, which change with it", async () => {
    const scriptOf = (result: Evaluation) => result.extensions.find((e) => e.vmName === "vm-eastus")!.script;
    assert.notEqual(scriptOf(await rotatedToken()), scriptOf(baseline));
  });
});
