// Section 2 of the reliability report: faults injected into the running sandbox while vm-eastus's
// extension runs again, as Azure reruns it after a change (test/sandbox/scenarios/provisioning-faults.ts).
import { playFault, provisioningFaults, survivedFaultCounterparts } from "./scenarios/provisioning-faults";
import { counterparts } from "../support/counterparts";
import { reportSection } from "../support/evidence";
import { PROVISIONING_FAULTS } from "../support/report-sections";
import { firstUp } from "./bring-up";

reportSection(PROVISIONING_FAULTS, (check) => {
  const committed = () => firstUp().stack;
  for (const fault of provisioningFaults(committed)) {
    check(fault.name, () => playFault(fault, committed()));
  }
});

counterparts(PROVISIONING_FAULTS, (play) => {
  for (const { check, play: broken } of survivedFaultCounterparts(() => firstUp().stack)) play(check, broken);
});
