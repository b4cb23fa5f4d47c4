// Section of the reliability report: `pnpm run verify --sandbox` proven honest (issue 11). It must
// pass on the healthy sandbox and fail, naming the VM and the check, for each fault; played by the
// same scenarios the end-to-end suite runs (sandbox/verify-faults.ts).
import { withEditedProject } from "../test/support/stack";
import {
  flowproxyStopped,
  nsgOpenedOnMetrics,
  registryEmptied,
  verifyHealthy,
  VERIFY_BUDGET_MS,
  withMetricsOpen,
  wrongCertificateServed,
} from "../sandbox/verify-faults";
import { Section } from "./reliability-checks";

export async function verifySection(): Promise<Section> {
  const section = new Section(
    "5. pnpm run verify against faults",
    "The verify a user runs after `pulumi up`, run on the sandbox through the same code path (`--sandbox`): " +
      `a pass on the healthy sandbox (budget ${VERIFY_BUDGET_MS / 1000} s), and for each fault a failing verify ` +
      "that names the VM and the check; the evidence is what verify said.",
    ["evidence"],
  );
  const scenario = (name: string, play: () => Promise<string>) =>
    section.run(name, async () => ({ passed: true, evidence: [await play()] }));
  await scenario("healthy sandbox", verifyHealthy);
  await scenario("FlowProxy stopped on vm-eastus", flowproxyStopped);
  await scenario("BuilderHub's registry emptied (restart with the registration timers held)", registryEmptied);
  await scenario("the NSG opened on 8405 (a rule added in index.ts)", () => withEditedProject("index.ts", withMetricsOpen, nsgOpenedOnMetrics));
  await scenario("a wrong certificate served by HAProxy on vm-eastus", wrongCertificateServed);
  section.finish();
  return section;
}
