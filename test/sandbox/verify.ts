// Section 5 of the reliability report: `pnpm run verify --sandbox` proven honest. It must pass on the
// healthy sandbox and fail, naming the VM and the check, for each fault an operator could meet on a
// deployed stack (sandbox/scenarios/verify-faults.ts).
import { withEditedProject } from "../../plan/evaluation";
import {
  flowproxyStopped,
  nsgOpenedOnMetrics,
  registryEmptied,
  verifyHealthy,
  VERIFY_BUDGET_MS,
  withMetricsOpen,
  wrongCertificateServed,
} from "../../sandbox/scenarios/verify-faults";
import { reportSection } from "../support/evidence";

reportSection(
  {
    title: "5. pnpm run verify against faults",
    intro:
      "The verify a user runs after `pulumi up`, run on the sandbox through the same code path (`--sandbox`): " +
      `a pass on the healthy sandbox (budget ${VERIFY_BUDGET_MS / 1000} s), and for each fault a failing verify ` +
      "that names the VM and the check; the evidence is what verify said.",
    columns: ["evidence"],
  },
  (check) => {
    check("pnpm run verify --sandbox passes on the healthy sandbox", async () => [await verifyHealthy()]);
    check("verify fails naming vm-eastus and its services when FlowProxy is stopped there", async () => [await flowproxyStopped()]);
    check("verify fails naming each proxy's registration when BuilderHub's registry is emptied", async () => [await registryEmptied()]);
    check("verify fails naming each proxy's closed ports when the NSG lets 8405 in", async () => [
      await withEditedProject("index.ts", withMetricsOpen, nsgOpenedOnMetrics),
    ]);
    check("verify fails naming vm-eastus's TLS when HAProxy serves a certificate BuilderHub does not list", async () => [await wrongCertificateServed()]);
  },
);
