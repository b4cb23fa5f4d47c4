// The committed reports match the code: docs/RELIABILITY.md has a row for every check the tests
// declare (test/support/report-sections.ts) and no other, and docs/BENCHMARKS.md a row for every
// measure the benchmark declares (report/bench-measures.ts) and no other. Figures may differ from
// run to run; the rows may not. Neither document is rerun here: both are read as committed.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { test } from "node:test";
import { BENCH_PARTS, measureDifferences } from "../../../report/bench-measures";
import { PROVEN_COLUMN } from "../../../report/reliability";
import { REPORT_SECTIONS, rowDifferences } from "../../support/report-sections";

interface DocSection {
  title: string;
  paragraphs: string[];
  header: string[];
  rows: string[][];
}

/** A Markdown table row's cells, as report/markdown.ts escapes them. */
function cells(line: string): string[] {
  return line
    .replace(/^\| /, "")
    .replace(/ \|$/, "")
    .split(/ (?<!\\)\| /)
    .map((cell) => cell.replace(/\\\|/g, "|").replace(/<br>/g, "\n"));
}

/** The document's "## " sections, each with its paragraphs and its table. */
function docSections(markdown: string): DocSection[] {
  const sections: DocSection[] = [];
  for (const line of markdown.split("\n")) {
    if (line.startsWith("## ")) {
      sections.push({ title: line.slice(3), paragraphs: [], header: [], rows: [] });
      continue;
    }
    const section = sections[sections.length - 1];
    if (section === undefined || line.trim() === "") continue;
    if (!line.startsWith("|")) section.paragraphs.push(line);
    else if (section.header.length === 0) section.header = cells(line);
    else if (!/^\| (--- \| )*---(?: \|)?$/.test(line)) section.rows.push(cells(line));
  }
  return sections;
}

/** Where docs/RELIABILITY.md's sections and rows differ from the declared ones. */
function reliabilityDrift(markdown: string): string[] {
  const found = docSections(markdown);
  const summary = found.find((s) => s.title === "Summary");
  const drift: string[] = [];
  const titles = found.filter((s) => s !== summary).map((s) => s.title);
  drift.push(
    ...rowDifferences(
      REPORT_SECTIONS.map((s) => s.title),
      titles,
    ).map((d) => `section ${d}`),
  );
  for (const declared of REPORT_SECTIONS) {
    const section = found.find((s) => s.title === declared.title);
    if (section === undefined) continue;
    const where = `${declared.title}:`;
    if (section.paragraphs.join("\n") !== declared.intro) drift.push(`${where} the intro is not the declared one`);
    const header = ["check", "verdict", PROVEN_COLUMN, ...declared.columns];
    if (section.header.join(" | ") !== header.join(" | "))
      drift.push(`${where} columns ${section.header.join(", ")} instead of ${header.join(", ")}`);
    drift.push(
      ...rowDifferences(
        declared.checks,
        section.rows.map((row) => row[0]),
      ).map((d) => `${where} ${d}`),
    );
    const counted = summary?.rows.find((row) => row[0] === declared.title)?.[1];
    if (counted !== String(declared.checks.length))
      drift.push(`${where} the summary counts ${counted ?? "no"} checks, not ${declared.checks.length}`);
  }
  return drift;
}

/** Where docs/BENCHMARKS.md's parts and rows differ from the declared ones. */
function benchmarkDrift(markdown: string): string[] {
  const found = docSections(markdown);
  const parts = Object.values(BENCH_PARTS);
  const drift = rowDifferences(
    parts.map((p) => p.title),
    found.map((s) => s.title),
  ).map((d) => `part ${d}`);
  for (const part of parts) {
    const section = found.find((s) => s.title === part.title);
    if (section === undefined) continue;
    if (section.header.join(" | ") !== "measure | value | target | verdict")
      drift.push(`${part.title}: columns ${section.header.join(", ")}`);
    drift.push(
      ...measureDifferences(
        part.measures,
        section.rows.map((row) => row[0]),
      ).map((d) => `${part.title}: ${d}`),
    );
  }
  return drift;
}

const reliability = fs.readFileSync("docs/RELIABILITY.md", "utf8");
const benchmarks = fs.readFileSync("docs/BENCHMARKS.md", "utf8");

/** The document with the table row whose first cell is `name` taken out, or a copy of it renamed to `renamed`. */
function withRow(markdown: string, name: string, renamed?: string): string {
  const lines = markdown.split("\n");
  const at = lines.findIndex((line) => line.startsWith(`| ${name} |`));
  assert.notEqual(at, -1, `the document has a row "${name}"`);
  if (renamed === undefined) lines.splice(at, 1);
  else lines.splice(at + 1, 0, lines[at].replace(`| ${name} |`, `| ${renamed} |`));
  return lines.join("\n");
}

test("docs/RELIABILITY.md has a row for every declared check and no other", () => {
  assert.deepEqual(reliabilityDrift(reliability), []);
});

test("docs/BENCHMARKS.md has a row for every declared measure and no other", () => {
  assert.deepEqual(benchmarkDrift(benchmarks), []);
});

test("a reliability report missing a check's row, or with a row no check makes, does not match", () => {
  const [section] = REPORT_SECTIONS;
  const name = section.checks[1];
  assert.deepEqual(reliabilityDrift(withRow(reliability, name)), [`${section.title}: missing "${name}"`]);
  assert.deepEqual(reliabilityDrift(withRow(reliability, name, "a check that no test plays")), [
    `${section.title}: not declared "a check that no test plays"`,
  ]);
});

test("a benchmark document missing a measure's row, or with a row no measure makes, does not match", () => {
  const pnpmTest = "pnpm test, wall time";
  assert.deepEqual(benchmarkDrift(withRow(benchmarks, pnpmTest)), ["Unit tests: no row for ^pnpm test, wall time$"]);
  assert.deepEqual(benchmarkDrift(withRow(benchmarks, pnpmTest, "pnpm test, peak RSS")), [
    'Unit tests: no measure for "pnpm test, peak RSS"',
  ]);
  // A row whose figure changed is the same row; a row whose words changed is not.
  const rerun = benchmarks.replace(
    "| the program (47 resources), wall time (median of 7) |",
    "| the program (48 resources), wall time (median of 5) |",
  );
  assert.notEqual(rerun, benchmarks);
  assert.deepEqual(benchmarkDrift(rerun), []);
  const reworded = benchmarks.replace(
    "| the program (47 resources), wall time (median of 7) |",
    "| the program (47 resources), wall time (mean of 7) |",
  );
  assert.equal(benchmarkDrift(reworded).length, 2);
});
