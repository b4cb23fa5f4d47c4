// Section 3 of the reliability report: every secret value of the sandbox stack, searched for
// everywhere a secret must never be (sandbox/scenarios/secret-scan.ts). The section's own
// provisioning run sets the optional secrets too, so each kind of secret is really in use.
import { before } from "node:test";
import { SecretScan } from "../../sandbox/scenarios/secret-scan";
import { reportSection } from "../support/evidence";

reportSection(
  {
    title: "3. Secret scan",
    intro:
      "One provisioning run of the whole sandbox with every secret set (GitHub token and signer keys as always, plus a " +
      "Tailscale auth key and ClickHouse credentials made for this run), then every secret value is searched for " +
      "(exact string; signer keys as their 64 hex digits) in the places below. Command lines are sampled from the host " +
      "every 10 ms for the whole run and afterwards, so short-lived commands count too. A pass means 0 hits.",
    columns: ["places searched", "hits"],
  },
  (check) => {
    const scan = new SecretScan();
    before(() => scan.provision());
    check("the secrets were in use", () => scan.secretsInUse());
    check("public extension settings, forceUpdateTags and stack outputs", () => scan.publicSettings());
    check("extension stdout and stderr files in the VMs", () => scan.extensionOutputs());
    check("the journal of every VM", () => scan.journals());
    check("command lines of every process in every VM (during the run and after)", () => scan.commandLines());
    check("world-readable files on every VM (find / -xdev -perm -o+r)", () => scan.worldReadableFiles());
    check("the GitHub double's request log (on the host)", () => scan.githubDoubleLog());
  },
);
