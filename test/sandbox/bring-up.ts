// The one sandbox the whole end-to-end suite runs on: brought up before its first test, removed
// after its last (set SANDBOX_KEEP=1 to keep it for a look). A sandbox that cannot start fails the
// before hook, and with it every test: nothing here is ever skipped.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { PORTS } from "../../lib/contract";
import { vmOutputNames } from "../../lib/outputs";
import type { ExtensionInfo } from "../../plan/evaluation";
import { setGithubFault } from "../../sandbox/internet/github";
import { servesLivez } from "../../sandbox/probe";
import { down, up, UpReport } from "../../sandbox/sandbox";
import { flowproxyVms, Vm } from "../../sandbox/base/topology";

let brought: UpReport | undefined;

before(async () => {
  await down();
  brought = await up({ log: (line) => console.log(line) });
  // HAProxy started before FlowProxy on the first run, so its health checks must first see the
  // backend rise; until then the public endpoints answer 503.
  const provisioned = Date.now();
  for (const vm of flowproxyVms()) {
    await servesLivez(vm);
    await servesLivez(vm, undefined, PORTS.system);
  }
  console.log(
    `public endpoints served ${((Date.now() - provisioned) / 1000).toFixed(1)} s after provisioning finished`,
  );
});

after(async () => {
  setGithubFault(undefined);
  if (process.env.SANDBOX_KEEP !== "1") {
    await down();
  }
});

/** What the first `up` did: the committed stack's evaluation, the boots and the extension runs. */
export function firstUp(): UpReport {
  assert.ok(brought, "the sandbox was brought up");
  return brought;
}

export function extensionOf(vm: Vm): ExtensionInfo {
  const extension = firstUp().stack.extensions.find((e) => e.vmName === vm.name);
  assert.ok(extension, `the stack has an extension for ${vm.name}`);
  return extension;
}

/** The stack output holding a VM's signer address: eastSignerAddress for vm-eastus, east2SignerAddress for vm-eastus-2. */
export const signerOutput = (vm: Vm): string =>
  String(firstUp().stack.outputs[vmOutputNames(vm.outputName!).signerAddress]?.value);
