// Tests whose outcome and evidence the reliability report shows (docs/RELIABILITY.md). A report
// section is a describe block; each check in it is a test that returns its evidence, one string per
// column of the section's table. The evidence goes to the test's diagnostics (the spec reporter
// prints it under the test) and, when FLOWPROXY_RESULTS_DIR is set, to the results the report is
// made of (report/results.ts). A failed check is recorded with its error and fails its test as usual.
import { after, describe, test, type TestContext } from "node:test";
import { CheckRecord, CounterpartKind, recordCheck, ReportSection, RESULTS_ENV } from "../../report/results";
import { counterpartsPlayed, testedCounterpartChecks } from "./counterparts";
import { DeclaredSection, rowDifferences } from "./report-sections";

const resultsDir = process.env[RESULTS_ENV];
let seq = 0;

/** A check of a report section: `run` returns the evidence, one string per column, or throws. */
export type Check = (name: string, run: (t: TestContext) => Promise<string[]> | string[]) => void;

/**
 * A describe block whose checks the report shows under `section`. It plays exactly the checks the
 * section declares, in their order, or fails before any of them runs: the committed report is held
 * to those declarations (test/unit/report/reports.test.ts). A section whose checks have
 * counterparts in the unit suite fails unless its module plays them too (counterparts()).
 */
export function reportSection(section: DeclaredSection, body: (check: Check) => void): void {
  const { title, intro, columns } = section;
  describe(title, () => {
    const played: string[] = [];
    body((name, run) => {
      played.push(name);
      const declared = section.counterparts[name];
      if (declared === undefined)
        throw new Error(`${title}: "${name}" declares no counterpart in test/support/report-sections.ts`);
      checkIn({ title, intro, columns }, name, "test" in declared ? "test" : "itself", run);
    });
    const differences = rowDifferences(section.checks, played);
    if (differences.length > 0) {
      throw new Error(
        `${title}: the checks played are not those test/support/report-sections.ts declares: ${differences.join("; ")}`,
      );
    }
    // By the time the checks have run, the module that plays them has been loaded whole.
    after(() => {
      if (testedCounterpartChecks(section).length > 0 && !counterpartsPlayed(section)) {
        throw new Error(
          `${title}: its checks' counterparts are declared but not played; call counterparts() beside reportSection()`,
        );
      }
    });
  });
}

function checkIn(
  section: ReportSection,
  name: string,
  counterpart: CounterpartKind,
  run: (t: TestContext) => Promise<string[]> | string[],
): void {
  test(name, async (t) => {
    const started = Date.now();
    const save = (passed: boolean, evidence: string[]) => {
      const entry: CheckRecord = {
        ...section,
        check: name,
        passed,
        counterpart,
        evidence,
        durationMs: Date.now() - started,
        seq: seq++,
        recordedAt: new Date().toISOString(),
      };
      if (resultsDir !== undefined) recordCheck(resultsDir, entry);
    };
    let evidence: string[];
    try {
      evidence = await run(t);
      if (evidence.length !== section.columns.length) {
        throw new Error(
          `the check gave ${evidence.length} pieces of evidence for the section's ${section.columns.length} columns`,
        );
      }
    } catch (err) {
      save(false, [`FAILED: ${(err as Error).message.split("\n")[0]}`, ...section.columns.slice(1).map(() => "")]);
      throw err;
    }
    for (const line of evidence) t.diagnostic(line);
    save(true, evidence);
  });
}
