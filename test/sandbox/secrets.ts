// Section 3 of the reliability report: every secret value of the sandbox stack, searched for
// everywhere a secret must never be (test/sandbox/scenarios/secret-scan.ts). The section's own
// provisioning run sets the optional secrets too, so each kind of secret is really in use.
import { before } from "node:test";
import type { BrokenRun } from "./scenarios/broken";
import { SecretScan, SecretScanCheck } from "./scenarios/secret-scan";
import { counterparts } from "../support/counterparts";
import { reportSection } from "../support/evidence";
import { SECRET_SCAN, SECRET_SCAN_CHECKS } from "../support/report-sections";

const scan = new SecretScan();

reportSection(SECRET_SCAN, (check) => {
  before(() => scan.provision());
  check(SECRET_SCAN_CHECKS.secretsInUse, () => scan.secretsInUse());
  check(SECRET_SCAN_CHECKS.publicSettings, () => scan.publicSettings());
  check(SECRET_SCAN_CHECKS.extensionOutputs, () => scan.extensionOutputs());
  check(SECRET_SCAN_CHECKS.journals, () => scan.journals());
  check(SECRET_SCAN_CHECKS.commandLines, () => scan.commandLines());
  check(SECRET_SCAN_CHECKS.worldReadableFiles, () => scan.worldReadableFiles());
  check(SECRET_SCAN_CHECKS.githubDoubleLog, () => scan.githubDoubleLog());
});

// After the scan: a canary put where each search looks, and a secret taken out of use.
let broken: Promise<Record<SecretScanCheck, BrokenRun[]>> | undefined;
counterparts(SECRET_SCAN, (play) => {
  for (const [method, name] of Object.entries(SECRET_SCAN_CHECKS) as [SecretScanCheck, string][]) {
    play(name, async () => (await (broken ??= scan.counterparts()))[method]);
  }
});
