// Section 3 of the reliability report: every secret value of the sandbox stack, searched for
// everywhere a secret must never be (sandbox/scenarios/secret-scan.ts). The section's own
// provisioning run sets the optional secrets too, so each kind of secret is really in use.
import { before } from "node:test";
import { SecretScan } from "../../sandbox/scenarios/secret-scan";
import { reportSection } from "../support/evidence";
import { SECRET_SCAN, SECRET_SCAN_CHECKS } from "../support/report-sections";

reportSection(
  SECRET_SCAN,
  (check) => {
    const scan = new SecretScan();
    before(() => scan.provision());
    check(SECRET_SCAN_CHECKS.secretsInUse, () => scan.secretsInUse());
    check(SECRET_SCAN_CHECKS.publicSettings, () => scan.publicSettings());
    check(SECRET_SCAN_CHECKS.extensionOutputs, () => scan.extensionOutputs());
    check(SECRET_SCAN_CHECKS.journals, () => scan.journals());
    check(SECRET_SCAN_CHECKS.commandLines, () => scan.commandLines());
    check(SECRET_SCAN_CHECKS.worldReadableFiles, () => scan.worldReadableFiles());
    check(SECRET_SCAN_CHECKS.githubDoubleLog, () => scan.githubDoubleLog());
  },
);
