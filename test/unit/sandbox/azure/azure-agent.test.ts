// The sandbox's stand-in for Azure's VM create (sandbox/azure/azure-agent.ts) refuses the public keys
// Azure refuses, by the program's rule, before it provisions anything from the osProfile.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Evaluation } from "../../../../plan/evaluation";
import { osProfileOf } from "../../../../sandbox/azure/azure-agent";
import { SANDBOX_REGIONS, VMS } from "../../../../sandbox/base/topology";
import { evaluated, validRequest } from "../../../support/program";
import { SSH_KEYS } from "../../../support/ssh-keys";

/**
 * The valid configuration's evaluation with `keyData` in every VM's osProfile: the program refuses
 * such keys itself, so only an osProfile changed after it could carry one to the sandbox.
 */
/** The program's evaluation for the sandbox's regions, with keyData as the stack's sshPublicKey. */
async function withKeyData(keyData: string): Promise<Evaluation> {
  const request = validRequest({ regions: JSON.stringify(SANDBOX_REGIONS) });
  const evaluation = await evaluated(request);
  const declared = request.config.sshPublicKey;
  return JSON.parse(
    JSON.stringify(evaluation).split(JSON.stringify(declared)).join(JSON.stringify(keyData)),
  ) as Evaluation;
}

test("the sandbox's VM create takes the osProfile's ed25519 and 2048-bit RSA keys", async () => {
  for (const keyData of [SSH_KEYS.ed25519, SSH_KEYS.rsa2048]) {
    const stack = await withKeyData(keyData);
    for (const vm of VMS)
      assert.deepEqual(
        osProfileOf(stack, vm).publicKeys.map((k) => k.keyData),
        [keyData],
        vm.name,
      );
  }
});

test("the sandbox's VM create refuses an osProfile key Azure refuses, with Azure's InvalidParameter message and why", async () => {
  const cases = [
    [SSH_KEYS.rsa1024, "is a 1024-bit RSA key"],
    [SSH_KEYS.ecdsa256, "is a ecdsa-sha2-nistp256 key"],
    [SSH_KEYS.skEcdsa256, "is a sk-ecdsa-sha2-nistp256@openssh.com key"],
  ] as const;
  for (const [keyData, why] of cases) {
    const stack = await withKeyData(keyData);
    assert.throws(
      () => osProfileOf(stack, VMS[0]),
      (err: Error) =>
        err.name === "SandboxError" &&
        err.message.startsWith(
          `${VMS[0].name}: Azure would refuse the VM: InvalidParameter: The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid. The key ${why}, which Azure refuses for a Linux VM`,
        ),
    );
  }
});
