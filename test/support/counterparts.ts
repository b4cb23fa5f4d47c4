// Counterparts: each report check run on its subject broken on purpose, to prove the check can fail
// and says what broke when it does. A check that passes whatever its subject proves nothing. The
// counterparts a section declares (test/support/report-sections.ts, `test`) are played here as tests
// named after what they prove; they are not report rows.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { recordCounterpart, RESULTS_ENV } from "../../report/results";
import type { BrokenRun } from "../sandbox/scenarios/broken";
import { DeclaredSection, rowDifferences } from "./report-sections";

/** Plays one counterpart: `check` is the row it proves able to fail. */
export type PlayCounterpart = (check: string, run: () => Promise<BrokenRun[]> | BrokenRun[]) => void;

/** The checks of `section` whose counterpart is a test the suite playing the section runs. */
export function testedCounterpartChecks(section: DeclaredSection): string[] {
  return section.checks.filter((name) => {
    const counterpart = section.counterparts[name];
    return counterpart !== undefined && "test" in counterpart;
  });
}

/** How the counterparts played differ from the tested counterparts `section` declares. */
export function counterpartsUnplayed(section: DeclaredSection, played: readonly string[]): string[] {
  return rowDifferences(testedCounterpartChecks(section), played);
}

const sectionsPlayed = new Set<string>();

/** Whether counterparts() was called for `section` in this process. */
export function counterpartsPlayed(section: DeclaredSection): boolean {
  return sectionsPlayed.has(section.title);
}

/**
 * A describe block of the counterparts of `section`'s checks. It plays exactly the tested counterparts
 * the section declares, in the checks' order, or fails before any runs, as reportSection does for
 * the checks themselves.
 */
export function counterparts(section: DeclaredSection, body: (counterpart: PlayCounterpart) => void): void {
  sectionsPlayed.add(section.title);
  describe(`${section.title}: each check fails on its subject broken on purpose`, () => {
    const played: string[] = [];
    body((check, run) => {
      played.push(check);
      const declared = section.counterparts[check];
      if (declared === undefined || !("test" in declared)) return;
      test(declared.test, async (t) => {
        const record = (proven: boolean, saw: string) => {
          const resultsDir = process.env[RESULTS_ENV];
          if (resultsDir !== undefined) recordCounterpart(resultsDir, { title: section.title, check, proven, saw });
        };
        try {
          const subjects = await run();
          assert.ok(subjects.length > 0, "a counterpart breaks at least one subject");
          const seen: string[] = [];
          for (const { broke, failure, naming } of subjects) {
            assert.ok(failure.length > 0, `the check passed on a subject with ${broke}`);
            const said = failure.join("\n");
            for (const name of naming)
              assert.ok(said.includes(name), `with ${broke}, the check failed without naming ${name}:\n${said}`);
            seen.push(`${broke}: ${failure[0].split("\n")[0]}`);
          }
          for (const line of seen) t.diagnostic(line);
          record(true, seen.join("; "));
        } catch (err) {
          record(false, (err as Error).message.split("\n")[0]);
          throw err;
        }
      });
    });
    const differences = counterpartsUnplayed(section, played);
    if (differences.length > 0) {
      throw new Error(
        `${section.title}: the counterparts played are not those test/support/report-sections.ts declares: ${differences.join("; ")}`,
      );
    }
  });
}
