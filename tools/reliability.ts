// `pnpm run report:reliability`: proves how the stack behaves when things go wrong and writes
// docs/RELIABILITY.md. Bad configurations and the Azure control-plane checks run under Pulumi's
// mocks; faults, the secret scan and the hardening checks run on a sandbox this command brings up
// and always takes down again. Exits 1 when any check fails.
import * as path from "path";
import { setGithubFault } from "../sandbox/internet";
import { servesLivez } from "../sandbox/probe";
import { findOnPath, formatSeconds, SandboxError } from "../sandbox/proc";
import { checkHost, down, up } from "../sandbox/sandbox";
import { flowproxyVms } from "../sandbox/topology";
import { Section } from "./reliability-checks";
import { azureSection } from "./reliability-azure";
import { configSection } from "./reliability-config";
import { faultSection } from "./reliability-faults";
import { hardeningSection } from "./reliability-hardening";
import { operationsSection } from "./reliability-operations";
import { verifySection } from "./reliability-verify";
import { secretSection } from "./reliability-secrets";
import { machineSummary, markdownTable, textTable, writeDoc } from "./report";

const DOC = path.join("docs", "RELIABILITY.md");
const SUMMARY_HEADER = ["section", "checks", "passed", "failed", "wall time"];

/** Runs the sandbox sections on a fresh sandbox, removing it afterwards whatever happened. */
async function sandboxSections(log: (line: string) => void): Promise<Section[]> {
  await down();
  try {
    const { stack } = await up({ log });
    for (const vm of flowproxyVms()) await servesLivez(vm);
    // The operator scenarios come last: they switch the sandbox to other configurations.
    return [await faultSection(stack), await secretSection(), await hardeningSection(), await verifySection(), await operationsSection(stack)];
  } finally {
    setGithubFault(undefined);
    process.stdout.write("\nRemoving the sandbox\n");
    await down();
  }
}

/** One row per section, then the totals; the total time includes bringing the sandbox up and down. */
function summaryRows(sections: Section[], wallMs: number): string[][] {
  const rows = sections.map((s) => [s.title, String(s.checks.length), String(s.checks.length - s.failed), String(s.failed), formatSeconds(s.wallMs)]);
  const total = (pick: (s: Section) => number) => String(sections.reduce((n, s) => n + pick(s), 0));
  return [...rows, ["all", total((s) => s.checks.length), total((s) => s.checks.length - s.failed), total((s) => s.failed), formatSeconds(wallMs)]];
}

function document(sections: Section[], wallMs: number): string {
  const lines = [
    "# Reliability",
    "",
    `Produced by \`pnpm run report:reliability\` on ${machineSummary()}, in ${formatSeconds(wallMs)}. ` +
      "It brings up the local sandbox (`sandbox/`), runs every check below against it and removes it again; rerun it " +
      "to check these results on your machine. It exits 1 when a check fails.",
    "",
    "## Summary",
    "",
    markdownTable(SUMMARY_HEADER, summaryRows(sections, wallMs)),
    "",
  ];
  for (const section of sections) {
    lines.push(`## ${section.title}`, "", section.intro, "", markdownTable(["check", "verdict", ...section.columns], section.rows()), "");
  }
  return lines.join("\n");
}

async function main(): Promise<number> {
  const started = Date.now();
  checkHost();
  if (findOnPath("sslscan") === undefined) {
    throw new SandboxError("sslscan is missing (the TLS scan needs it); install it with: apt-get install -y sslscan");
  }
  const sections = [await configSection()];
  sections.push(...(await sandboxSections((line) => process.stdout.write(`${line}\n`))));
  sections.push(await azureSection());
  const wallMs = Date.now() - started;
  writeDoc(DOC, document(sections, wallMs));
  const failed = sections.reduce((sum, s) => sum + s.failed, 0);
  const passed = sections.reduce((sum, s) => sum + s.checks.length - s.failed, 0);
  // The last line is the plain "N passed, N failed" summary that CI reads.
  process.stdout.write(`\n${textTable(SUMMARY_HEADER, summaryRows(sections, wallMs))}\n\nwrote ${DOC}\nreliability: ${passed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    // A SandboxError says what is wrong and what to do; anything else is a bug, whose stack helps.
    process.stderr.write(`report:reliability: ${err instanceof SandboxError ? err.message : err.stack}\n`);
    process.exitCode = 1;
  },
);
