// Section 2 of the reliability report: faults injected into the running sandbox while vm-eastus's
// extension runs again, as Azure reruns it after a change (sandbox/scenarios/provisioning-faults.ts).
import { playFault, PROBE_RATE, provisioningFaults } from "../../sandbox/scenarios/provisioning-faults";
import { reportSection } from "../support/evidence";
import { firstUp } from "./bring-up";

reportSection(
  {
    title: "2. Faults in the sandbox",
    intro:
      "Each fault is injected into the running sandbox and vm-eastus's extension runs again (`runExtension`), as Azure " +
      "reruns it after a change; new builds come from new artifact URLs, so the download really happens. Meanwhile the " +
      `host sends GET /livez to vm-eastus's public :443 ${PROBE_RATE} times a second. A pass means: the extension ends as ` +
      "expected with the step and reason in its last line (on stdout and stderr), the public endpoint answers throughout " +
      "(except where the new build itself crashes), no state changes that the fault should not change, and once the " +
      "fault is cleared a rerun converges with the same signer key, certificate and BuilderHub registration. " +
      "Retries: BuilderHub 5 attempts 10 s apart (10 s per request); artifact download 3 attempts 5 s apart, 20 s " +
      "below 1 KiB/s counts as a stall.",
    columns: ["the extension's last line", "what kept serving", "nothing lost"],
  },
  (check) => {
    const committed = () => firstUp().stack;
    for (const fault of provisioningFaults(committed)) {
      check(fault.name, () => playFault(fault, committed()));
    }
  },
);
