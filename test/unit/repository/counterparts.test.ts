// Every check of the reliability report is proven able to fail by a counterpart: the check run on
// its subject broken on purpose, failing with a message that names what broke
// (test/support/counterparts.ts), or by the row itself where the row breaks its subject on purpose.
import assert from "node:assert/strict";
import { test } from "node:test";
import { counterpartsUnplayed, testedCounterpartChecks } from "../../support/counterparts";
import {
  AZURE_READINESS,
  BAD_CONFIGURATION,
  checksWithoutCounterpart,
  DeclaredSection,
  REPORT_SECTIONS,
  strayCounterparts,
} from "../../support/report-sections";

/** The sections whose checks and counterparts the unit suite plays. */
const UNIT_SECTIONS = [BAD_CONFIGURATION, AZURE_READINESS];

test("every check of the sections the unit suite plays has a counterpart played there", () => {
  assert.deepEqual(checksWithoutCounterpart(UNIT_SECTIONS), []);
  for (const section of UNIT_SECTIONS) {
    // An `itself` counterpart is a sandbox row, never played by the unit suite, so these sections may not claim one.
    assert.deepEqual(testedCounterpartChecks(section), section.checks, section.title);
  }
  assert.equal(
    UNIT_SECTIONS.reduce((n, s) => n + s.checks.length, 0),
    83,
  );
});

test("every check of every section has a counterpart, and every counterpart a check", () => {
  assert.deepEqual(checksWithoutCounterpart(REPORT_SECTIONS), []);
  assert.deepEqual(strayCounterparts(REPORT_SECTIONS), []);
});

test("a check declared without a counterpart, or with one left unplayed, or a counterpart for no check, is named", () => {
  const [first, second] = AZURE_READINESS.checks;
  const { [first]: _dropped, ...rest } = AZURE_READINESS.counterparts;
  const lacking: DeclaredSection = { ...AZURE_READINESS, counterparts: rest };
  assert.deepEqual(checksWithoutCounterpart([lacking]), [`${AZURE_READINESS.title}: ${first}`]);

  // What counterparts() compares before any counterpart runs: one played for every unit counterpart.
  const played = testedCounterpartChecks(AZURE_READINESS);
  assert.deepEqual(counterpartsUnplayed(AZURE_READINESS, played), []);
  assert.deepEqual(
    counterpartsUnplayed(
      AZURE_READINESS,
      played.filter((name) => name !== second),
    ),
    [`missing "${second}"`],
  );

  const stray: DeclaredSection = {
    ...AZURE_READINESS,
    counterparts: { ...AZURE_READINESS.counterparts, "a check no section has": { test: "x" } },
  };
  assert.deepEqual(strayCounterparts([stray]), [`${AZURE_READINESS.title}: a check no section has`]);
});
