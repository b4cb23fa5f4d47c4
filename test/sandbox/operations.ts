// Section 6 of the reliability report: what operators do to a running stack, played on the sandbox
// (sandbox/scenarios/operations.ts). Reboots are real: systemd inside the VM shuts down and boots
// again, and no extension reruns, as on Azure. The last scenarios change the sandbox most: a
// generation-2 FlowProxy, then a fresh sandbox whose VMs make their own keys.
import assert from "node:assert/strict";
import {
  changeHaproxyVersion,
  conflictingRegistration,
  generationMismatch,
  killFlowproxy,
  rebootAndCheck,
  restartBuilderhub,
  signerKeysOnVms,
  switchToGeneration2,
} from "../../sandbox/scenarios/operations";
import { describeLoad } from "../../sandbox/probe";
import { flowproxyVms } from "../../sandbox/topology";
import { reportSection } from "../support/evidence";
import { OPERATIONS, OPERATIONS_CHECKS, REBOOTED_VMS } from "../support/report-sections";
import { firstUp, signerOutput } from "./bring-up";

const [east] = flowproxyVms();

reportSection(
  OPERATIONS,
  (check) => {
    check(OPERATIONS_CHECKS.haproxyVersion, async () => {
      const change = await changeHaproxyVersion();
      const { sent, ok, failures } = change.load;
      assert.equal(failures.ECONNREFUSED, undefined, "the new container listens before the old one stops");
      assert.ok(sent >= 300, `only ${sent} requests were sent during the change`);
      assert.equal(ok, sent, `${ok} of ${sent} answered 200 during the change (${describeLoad(change.load)})`);
      return [change.evidence];
    });
    check(OPERATIONS_CHECKS.flowproxyKilled, async () => [await killFlowproxy(east)]);
    check(OPERATIONS_CHECKS.builderhubRestarted, async () => [
      (await restartBuilderhub()).evidence,
    ]);
    check(OPERATIONS_CHECKS.conflictingRegistration, async () => [
      await conflictingRegistration(firstUp().stack, signerOutput(east)),
    ]);
    for (const vm of REBOOTED_VMS) {
      check(OPERATIONS_CHECKS.reboot(vm.name), async () => [
        await rebootAndCheck(vm),
      ]);
    }
    check(OPERATIONS_CHECKS.generationMismatch, async () => [
      await generationMismatch(),
    ]);
    check(OPERATIONS_CHECKS.generation2, async () => [await switchToGeneration2()]);
    check(OPERATIONS_CHECKS.signerKeysOnVms, async () => [await signerKeysOnVms()]);
  },
);
