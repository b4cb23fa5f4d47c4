// Section 6 of the reliability report: what operators do to a running stack, played on the sandbox
// (test/sandbox/scenarios/operations.ts, test/sandbox/scenarios/fleet.ts), after the counterparts of its checks. Reboots are real: systemd inside the VM shuts down and boots
// again, and no extension reruns, as on Azure. The last scenarios change the sandbox most: a
// generation-2 FlowProxy, then a fresh sandbox whose VMs make their own keys.
import assert from "node:assert/strict";
import { before } from "node:test";
import { up } from "../../sandbox/sandbox";
import {
  changeHaproxyVersion,
  conflictingRegistration,
  generationMismatch,
  killFlowproxy,
  rebootAndCheck,
  restartBuilderhub,
  restartDockerd,
  signerKeysOnVms,
  operationsCounterparts,
  switchToGeneration2,
  versionChangeProblems,
} from "./scenarios/operations";
import { fleetCounterparts, growRegion, shrinkRegion } from "./scenarios/fleet";
import { FIRST_PROXIES } from "../../sandbox/base/topology";
import { counterparts } from "../support/counterparts";
import { reportSection } from "../support/evidence";
import { DOCKERD_RESTARTED_VMS, OPERATIONS, OPERATIONS_CHECKS, REBOOTED_VMS } from "../support/report-sections";
import { firstUp, signerOutput } from "./bring-up";

const [east] = FIRST_PROXIES;

// Played before the section, whose last scenarios leave another generation and other keys behind:
// on the committed stack, each scenario with what it proves taken away, then the stack healed.
counterparts(OPERATIONS, (play) => {
  before(() => up());
  play(OPERATIONS_CHECKS.haproxyVersion, () => operationsCounterparts.haproxyVersion());
  play(OPERATIONS_CHECKS.flowproxyKilled, () => operationsCounterparts.flowproxyKilled());
  play(OPERATIONS_CHECKS.builderhubRestarted, () => operationsCounterparts.builderhubRestarted());
  play(OPERATIONS_CHECKS.conflictingRegistration, () =>
    operationsCounterparts.conflictingRegistration(firstUp().stack, signerOutput(east)),
  );
  for (const vm of DOCKERD_RESTARTED_VMS)
    play(OPERATIONS_CHECKS.dockerdRestarted(vm.name), () => operationsCounterparts.dockerdRestarted(vm));
  for (const vm of REBOOTED_VMS) play(OPERATIONS_CHECKS.reboot(vm.name), () => operationsCounterparts.reboot(vm));
  play(OPERATIONS_CHECKS.regionGrown, () => fleetCounterparts.grown());
  play(OPERATIONS_CHECKS.regionShrunk, () => fleetCounterparts.shrunk());
  play(OPERATIONS_CHECKS.generationMismatch, () => operationsCounterparts.generationMismatch());
  play(OPERATIONS_CHECKS.generation2, () => operationsCounterparts.generation2());
  play(OPERATIONS_CHECKS.signerKeysOnVms, () => operationsCounterparts.signerKeysOnVms());
});

reportSection(OPERATIONS, (check) => {
  check(OPERATIONS_CHECKS.haproxyVersion, async () => {
    const change = await changeHaproxyVersion();
    assert.deepEqual(versionChangeProblems(change.load), []);
    return [change.evidence];
  });
  check(OPERATIONS_CHECKS.flowproxyKilled, async () => [await killFlowproxy(east)]);
  check(OPERATIONS_CHECKS.builderhubRestarted, async () => [(await restartBuilderhub()).evidence]);
  check(OPERATIONS_CHECKS.conflictingRegistration, async () => [
    await conflictingRegistration(firstUp().stack, signerOutput(east)),
  ]);
  for (const vm of DOCKERD_RESTARTED_VMS) {
    check(OPERATIONS_CHECKS.dockerdRestarted(vm.name), async () => [await restartDockerd(vm)]);
  }
  for (const vm of REBOOTED_VMS) {
    check(OPERATIONS_CHECKS.reboot(vm.name), async () => [await rebootAndCheck(vm)]);
  }
  check(OPERATIONS_CHECKS.regionGrown, async () => [(await growRegion()).evidence]);
  check(OPERATIONS_CHECKS.regionShrunk, async () => [(await shrinkRegion()).evidence]);
  check(OPERATIONS_CHECKS.generationMismatch, async () => [await generationMismatch()]);
  check(OPERATIONS_CHECKS.generation2, async () => [await switchToGeneration2()]);
  check(OPERATIONS_CHECKS.signerKeysOnVms, async () => [await signerKeysOnVms()]);
});
