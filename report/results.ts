// The results the reliability report is made of: each check of a report section, as the test that
// played it recorded it (test/support/evidence.ts), and each counterpart that broke a check's subject
// on purpose (test/support/counterparts.ts), one JSON line each in files per test process under the
// directory FLOWPROXY_RESULTS_DIR names. The package's test scripts set it to build/results/<suite>.
import * as fs from "node:fs";
import * as path from "node:path";

export const RESULTS_ENV = "FLOWPROXY_RESULTS_DIR";

/** Where each suite's test scripts keep their results (see package.json). */
export const resultsDirOf = (root: string, suite: "unit" | "sandbox"): string =>
  path.join(root, "build", "results", suite);

export interface ReportSection {
  /** The section's heading, numbered: "1. Bad configuration". */
  title: string;
  /** What the section proves and how: the paragraph above its table. */
  intro: string;
  /** Column headings after the check's name and verdict. */
  columns: string[];
}

/** How a check is proven able to fail (test/support/report-sections.ts): by a counterpart test, or by the row itself breaking its subject. */
export type CounterpartKind = "test" | "itself";

export interface CheckRecord extends ReportSection {
  check: string;
  passed: boolean;
  counterpart: CounterpartKind;
  evidence: string[];
  durationMs: number;
  /** Order within its process: checks are reported in the order they ran. */
  seq: number;
  recordedAt: string;
}

/** A counterpart played: whether the check failed on its broken subject, and what it said. */
export interface CounterpartRecord {
  title: string;
  check: string;
  proven: boolean;
  /** The check's first line of failure on each subject broken, or why the counterpart failed. */
  saw: string;
}

const CHECKS_FILE = ".checks.jsonl";
const COUNTERPARTS_FILE = ".counterparts.jsonl";

function append(dir: string, suffix: string, entry: object): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, `${process.pid}${suffix}`), `${JSON.stringify(entry)}\n`);
}

function read<T>(dir: string, suffix: string): T[][] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith(suffix))
    .sort()
    .map((file) =>
      fs
        .readFileSync(path.join(dir, file), "utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as T),
    );
}

/** Appends a check's record to this process's file in `dir`. */
export const recordCheck = (dir: string, entry: CheckRecord): void => append(dir, CHECKS_FILE, entry);

/** Appends a counterpart's record to this process's file in `dir`. */
export const recordCounterpart = (dir: string, entry: CounterpartRecord): void => append(dir, COUNTERPARTS_FILE, entry);

/** The checks recorded in a results directory, each process's in the order it ran them. */
export function readRecords(dir: string): CheckRecord[] {
  return read<CheckRecord>(dir, CHECKS_FILE).flatMap((records) => records.sort((a, b) => a.seq - b.seq));
}

/** The counterparts recorded in a results directory. */
export const readCounterparts = (dir: string): CounterpartRecord[] =>
  read<CounterpartRecord>(dir, COUNTERPARTS_FILE).flat();
