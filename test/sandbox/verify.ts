// Section 5 of the reliability report: `pnpm run verify --sandbox` proven honest. It must pass on the
// healthy sandbox and fail, naming the VM and the check, for each fault an operator could meet on a
// deployed stack (test/sandbox/scenarios/verify-faults.ts).
import { withEditedProject } from "../../plan/evaluation";
import {
  flowproxyStopped,
  nsgOpenedOnMetrics,
  registryEmptied,
  verifyHealthy,
  withMetricsOpen,
  wrongCertificateServed,
} from "./scenarios/verify-faults";
import { reportSection } from "../support/evidence";
import { VERIFY_FAULTS, VERIFY_FAULTS_CHECKS } from "../support/report-sections";

reportSection(VERIFY_FAULTS, (check) => {
  check(VERIFY_FAULTS_CHECKS.healthy, async () => [await verifyHealthy()]);
  check(VERIFY_FAULTS_CHECKS.flowproxyStopped, async () => [await flowproxyStopped()]);
  check(VERIFY_FAULTS_CHECKS.registryEmptied, async () => [await registryEmptied()]);
  check(VERIFY_FAULTS_CHECKS.nsgOpenedOnMetrics, async () => [
    await withEditedProject("index.ts", withMetricsOpen, nsgOpenedOnMetrics),
  ]);
  check(VERIFY_FAULTS_CHECKS.wrongCertificateServed, async () => [await wrongCertificateServed()]);
});
