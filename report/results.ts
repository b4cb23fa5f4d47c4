// The results the reliability report is made of: each check of a report section, as the test that
// played it recorded it (test/support/evidence.ts), one JSON line per check in a file per test
// process under the directory FLOWPROXY_RESULTS_DIR names. The package's test scripts set it to
// build/results/<suite>.
import * as fs from "node:fs";
import * as path from "node:path";

export const RESULTS_ENV = "FLOWPROXY_RESULTS_DIR";

/** Where each suite's test scripts keep their results (see package.json). */
export const resultsDirOf = (root: string, suite: "unit" | "sandbox"): string => path.join(root, "build", "results", suite);

export interface ReportSection {
  /** The section's heading, numbered: "1. Bad configuration". */
  title: string;
  /** What the section proves and how: the paragraph above its table. */
  intro: string;
  /** Column headings after the check's name and verdict. */
  columns: string[];
}

export interface CheckRecord extends ReportSection {
  check: string;
  passed: boolean;
  evidence: string[];
  durationMs: number;
  /** Order within its process: checks are reported in the order they ran. */
  seq: number;
  recordedAt: string;
}

/** Appends records to this process's file in `dir`. */
export function recordCheck(dir: string, entry: CheckRecord): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, `${process.pid}.jsonl`), `${JSON.stringify(entry)}\n`);
}

/** The records in a results directory, each process's in the order it ran them. */
export function readRecords(dir: string): CheckRecord[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith(".jsonl"))
    .sort()
    .flatMap((file) =>
      fs
        .readFileSync(path.join(dir, file), "utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as CheckRecord)
        .sort((a, b) => a.seq - b.seq),
    );
}
