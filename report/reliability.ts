// `pnpm run report:reliability`: writes docs/RELIABILITY.md from the results the test suites
// recorded (report/results.ts): the unit tests' sections (bad configurations, Azure's control plane
// and first boot, under mocks) and the sandbox suite's (faults, secrets, hardening, verify,
// operator scenarios). It plays nothing itself, so each check is written once, as a test, and the
// report shows what the last run of the suites saw. `pnpm run test:all` runs both suites and then
// this. Exits 1 when a check failed or a suite left no results.
import * as path from "path";
import { PROJECT_DIR } from "../plan/evaluation";
import { formatSeconds } from "../sandbox/base/proc";
import { machineSummary, markdownTable, textTable, writeDoc } from "./markdown";
import { CheckRecord, CounterpartRecord, readCounterparts, readRecords, resultsDirOf } from "./results";

const DOC = path.join("docs", "RELIABILITY.md");
const SUITES = [
  { suite: "unit", command: "pnpm test" },
  { suite: "sandbox", command: "pnpm run test:sandbox" },
] as const;
const SUMMARY_HEADER = ["section", "checks", "passed", "failed", "proven able to fail", "time in checks"];
/** The column after the verdict: how the row is proven able to fail (test/support/report-sections.ts). */
export const PROVEN_COLUMN = "when its subject is broken";

interface ProvenCheck extends CheckRecord {
  /** Whether the check is proven able to fail, and the report's cell saying how. */
  proven: boolean;
  how: string;
}

interface SectionResults {
  title: string;
  intro: string;
  columns: string[];
  checks: ProvenCheck[];
}

/** How `check` is proven able to fail, from its declared kind and its counterpart's record. */
function provenBy(check: CheckRecord, counterparts: CounterpartRecord[]): { proven: boolean; how: string } {
  if (check.counterpart === "itself") return { proven: true, how: "the row breaks it itself" };
  const played = counterparts.find((c) => c.title === check.title && c.check === check.check);
  if (played === undefined) return { proven: false, how: "**counterpart not played**" };
  return played.proven
    ? { proven: true, how: `fails: ${played.saw}` }
    : { proven: false, how: `**counterpart did not pass**: ${played.saw}` };
}

/** The records grouped by section, sections in the order of their numbers. */
function sections(records: CheckRecord[], counterparts: CounterpartRecord[]): SectionResults[] {
  const byTitle = new Map<string, SectionResults>();
  for (const r of records) {
    const section = byTitle.get(r.title) ?? { title: r.title, intro: r.intro, columns: r.columns, checks: [] };
    section.checks.push({ ...r, ...provenBy(r, counterparts) });
    byTitle.set(r.title, section);
  }
  const number = (title: string) => Number(/^(\d+)\./.exec(title)?.[1] ?? Infinity);
  return [...byTitle.values()].sort((a, b) => number(a.title) - number(b.title));
}

const failedIn = (s: SectionResults) => s.checks.filter((c) => !c.passed).length;
const provenIn = (s: SectionResults) => s.checks.filter((c) => c.proven).length;
/** Checks whose counterpart test was declared but not seen passing: the report fails on them. */
const counterpartFailuresIn = (s: SectionResults) =>
  s.checks.filter((c) => c.counterpart === "test" && !c.proven).length;
const sumMs = (s: SectionResults) => s.checks.reduce((ms, c) => ms + c.durationMs, 0);

function summaryRows(all: SectionResults[]): string[][] {
  const row = (name: string, pick: (count: (s: SectionResults) => number) => number) => [
    name,
    ...[
      (s: SectionResults) => s.checks.length,
      (s: SectionResults) => s.checks.length - failedIn(s),
      failedIn,
      provenIn,
    ].map((count) => String(pick(count))),
    formatSeconds(pick(sumMs)),
  ];
  const rows = all.map((s) => row(s.title, (count) => count(s)));
  return [...rows, row("all", (count) => all.reduce((n, s) => n + count(s), 0))];
}

function when(records: CheckRecord[]): string {
  const times = records.map((r) => r.recordedAt).sort();
  return `${times[0].slice(0, 16).replace("T", " ")} to ${times[times.length - 1].slice(11, 16)} UTC`;
}

function document(all: SectionResults[], bySuite: Record<string, CheckRecord[]>): string {
  const lines = [
    "# Reliability",
    "",
    `Produced by \`pnpm run report:reliability\` on ${machineSummary()}, from the results the test suites recorded: ` +
      SUITES.map(({ suite, command }) => `\`${command}\` (${when(bySuite[suite])})`).join(" and ") +
      ". Each check below is a test of those suites; the sandbox suite brings up the local sandbox (`sandbox/`) once " +
      "for all of its checks and removes it afterwards. Rerun `pnpm run test:all` to check these results on your machine.",
    "",
    "## Summary",
    "",
    markdownTable(SUMMARY_HEADER, summaryRows(all)),
    "",
  ];
  for (const section of all) {
    const rows = section.checks.map((c) => [c.check, c.passed ? "pass" : "**FAIL**", c.how, ...c.evidence]);
    lines.push(
      `## ${section.title}`,
      "",
      section.intro,
      "",
      markdownTable(["check", "verdict", PROVEN_COLUMN, ...section.columns], rows),
      "",
    );
  }
  return lines.join("\n");
}

function main(): number {
  const bySuite: Record<string, CheckRecord[]> = {};
  const counterparts: CounterpartRecord[] = [];
  const missing: string[] = [];
  for (const { suite, command } of SUITES) {
    const dir = resultsDirOf(PROJECT_DIR, suite);
    bySuite[suite] = readRecords(dir);
    counterparts.push(...readCounterparts(dir));
    if (bySuite[suite].length === 0)
      missing.push(`${path.relative(PROJECT_DIR, dir)} holds no results; run ${command} first (or pnpm run test:all)`);
  }
  if (missing.length > 0) {
    process.stderr.write(`report:reliability: ${missing.join("; ")}\n`);
    return 1;
  }
  const all = sections(Object.values(bySuite).flat(), counterparts);
  writeDoc(DOC, document(all, bySuite));
  const total = (count: (s: SectionResults) => number) => all.reduce((n, s) => n + count(s), 0);
  const failed = total(failedIn);
  const passed = total((s) => s.checks.length) - failed;
  const unproven = total(counterpartFailuresIn);
  // The last line is the plain "N passed, N failed" summary CI reads.
  process.stdout.write(
    `${textTable(SUMMARY_HEADER, summaryRows(all))}\n\nwrote ${DOC}\n` +
      `counterparts: ${total(provenIn)} of ${passed + failed} checks proven able to fail; ${unproven} declared counterpart tests not seen passing\n` +
      `reliability: ${passed} passed, ${failed} failed\n`,
  );
  return failed > 0 || unproven > 0 ? 1 : 0;
}

if (require.main === module) process.exitCode = main();
