// forceUpdateTag decides whether Azure reruns an extension: stable for unchanged inputs, new for
// each changed input.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { provisioningRunProblems } from "../support/azure-readiness";
import { renderStack, validRequest, withEditedProject } from "../support/stack";
import type { RenderResult } from "../support/render-stack";

const tagOf = (result: RenderResult, vm: string) => result.extensions.find((e) => e.vmName === vm)!.forceUpdateTag;
const baseline = renderStack(validRequest());

function renderWithEdit(file: string, edit: (text: string) => string): Promise<RenderResult> {
  return withEditedProject(file, edit, (projectDir) => renderStack({ ...validRequest(), projectDir }));
}

describe("forceUpdateTag", () => {
  test("is a SHA-256 in hex", () => {
    assert.match(tagOf(baseline, "vm-eastus"), /^[0-9a-f]{64}$/);
  });

  test("is the same on a second evaluation with unchanged inputs", () => {
    const again = renderStack(validRequest());
    for (const ext of baseline.extensions) assert.equal(tagOf(again, ext.vmName), ext.forceUpdateTag, ext.vmName);
  });

  test("differs between VMs", () => {
    assert.notEqual(tagOf(baseline, "vm-eastus"), tagOf(baseline, "vm-westeurope"));
  });

  const fileEdits: [string, (t: string) => string][] = [
    ["haproxy.cfg", (t) => t.replace("timeout client 30s", "timeout client 31s")],
    ["flowproxy.env", (t) => t.replace("RUST_LOG=info", "RUST_LOG=debug")],
    ["flowproxy@.service", (t) => t.replace("RestartSec=5s", "RestartSec=6s")],
    ["provision/flowproxy.sh", (t) => t.replace("ensure_base_packages() {", "ensure_base_packages() {\n  log \"  checking packages\"")],
    ["provision/common.sh", (t) => t + "\n# a changed comment is a changed script\n"],
  ];
  for (const [file, edit] of fileEdits) {
    test(`changes when ${file} changes`, async () => {
      const changed = await renderWithEdit(file, edit);
      assert.notEqual(tagOf(changed, "vm-eastus"), tagOf(baseline, "vm-eastus"));
    });
  }

  test("changes when haProxyVersion changes", () => {
    const changed = renderStack(validRequest({ haProxyVersion: "3.0.7" }));
    assert.notEqual(tagOf(changed, "vm-eastus"), tagOf(baseline, "vm-eastus"));
  });

  test("changes when flowProxyArtifact changes", () => {
    const changed = renderStack(validRequest({ flowProxyArtifact: "https://github.com/flashbots/flowproxy/actions/runs/1234/artifacts/5679" }));
    assert.notEqual(tagOf(changed, "vm-eastus"), tagOf(baseline, "vm-eastus"));
  });

  test("leaves BuilderHub's tag alone when only FlowProxy's files change", async () => {
    const changed = await renderWithEdit("haproxy.cfg", (t) => t.replace("timeout client 30s", "timeout client 31s"));
    assert.equal(tagOf(changed, "vm-builderhub"), tagOf(baseline, "vm-builderhub"));
  });

  test("changes for every extension when provisioningRun is raised, with the scripts unchanged", () => {
    assert.deepEqual(provisioningRunProblems(baseline, renderStack(validRequest({ provisioningRun: "1" }))), []);
  });

  test("is the same for an unset provisioningRun and provisioningRun 0", () => {
    const zero = renderStack(validRequest({ provisioningRun: "0" }));
    for (const ext of baseline.extensions) assert.equal(tagOf(zero, ext.vmName), ext.forceUpdateTag, ext.vmName);
  });

  test("does not contain or depend on secret values", () => {
    const rotated = renderStack(validRequest({ githubToken: "ghp_ROTATEDtoken0123456789abcdefghijklmn" }));
    assert.equal(tagOf(rotated, "vm-eastus"), tagOf(baseline, "vm-eastus"));
  });
});
