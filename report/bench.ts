// `pnpm run bench`: measures what users choose this stack by and writes docs/BENCHMARKS.md.
// Every figure comes from this run; ratios compare numbers measured side by side in it.
import { spawn } from "child_process";
import * as path from "path";
import { REPO_ROOT, machineSummary, markdownTable, median, textTable, writeDoc } from "./report";
import { RENDER_STACK, validRequest } from "../test/support/stack";
import { down } from "../sandbox/sandbox";
import { dataPath } from "./bench-datapath";
import { provisioningFigures } from "./bench-provisioning";

export interface Row {
  measure: string;
  value: string;
  target: string;
  verdict: "met" | "missed" | "info";
}

interface Measured {
  wallMs: number;
  maxRssKiB: number;
  status: number;
}

/** Runs a command, timing it from spawn to exit and reading the peak RSS that usage-probe reports. */
export function measure(command: string, args: string[], input?: string, cwd = REPO_ROOT): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { cwd, stdio: ["pipe", "ignore", "ignore", "pipe"] });
    let usage = "";
    child.stdio[3]!.on("data", (d: Buffer) => (usage += d));
    child.on("error", reject);
    child.on("close", (status) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      const maxRssKiB = usage ? (JSON.parse(usage) as { maxRssKiB: number }).maxRssKiB : 0;
      resolve({ wallMs, maxRssKiB, status: status ?? -1 });
    });
    child.stdin!.end(input ?? "");
  });
}

async function evaluate(projectDir: string, runs: number): Promise<{ wallS: number; rssMB: number }> {
  const samples: Measured[] = [];
  for (let i = 0; i < runs; i++) {
    const args = ["--require", "ts-node/register/transpile-only", "--require", path.join(__dirname, "usage-probe.ts"), RENDER_STACK];
    const sample = await measure(process.execPath, args, JSON.stringify({ ...validRequest(), projectDir }));
    if (sample.status !== 0) throw new Error(`the program in ${projectDir} failed under mocks (exit ${sample.status})`);
    samples.push(sample);
  }
  return { wallS: median(samples.map((s) => s.wallMs)) / 1000, rssMB: Math.max(...samples.map((s) => s.maxRssKiB)) / 1024 };
}

/**
 * The program under mocks as `pulumi preview` runs it: ts-node, transpile-only (tsconfig noCheck),
 * beside a one-resource program with the same imports, measured in alternation.
 */
async function programEvaluation(runs: number): Promise<Row[]> {
  const program = await evaluate(REPO_ROOT, runs);
  const floor = await evaluate(path.join(__dirname, "bench-floor"), runs);
  return [
    { measure: `program evaluation under mocks, wall time (median of ${runs})`, value: `${program.wallS.toFixed(2)} s`, target: "≤ 1.0 s", verdict: program.wallS <= 1.0 ? "met" : "missed" },
    { measure: `program evaluation under mocks, peak RSS (max of ${runs})`, value: `${program.rssMB.toFixed(0)} MB`, target: "≤ 250 MB", verdict: program.rssMB <= 250 ? "met" : "missed" },
    { measure: "floor: one resource with the same imports, wall time / peak RSS", value: `${floor.wallS.toFixed(2)} s / ${floor.rssMB.toFixed(0)} MB`, target: "—", verdict: "info" },
    { measure: "program / floor, wall time", value: `${(program.wallS / floor.wallS).toFixed(2)} ×`, target: "—", verdict: "info" },
  ];
}

async function testSuiteWallTime(script: string): Promise<Row> {
  const result = await measure("pnpm", ["run", "--silent", script]);
  return {
    measure: `pnpm run ${script}, wall time${result.status === 0 ? "" : ` (FAILED, exit ${result.status})`}`,
    value: `${(result.wallMs / 1000).toFixed(0)} s`,
    target: "—",
    verdict: "info",
  };
}

export type Section = { title: string; run: () => Promise<Row[]> };

export const SECTIONS: Section[] = [
  { title: "Program evaluation", run: () => programEvaluation(7) },
  { title: "Provisioning in the sandbox", run: provisioningFigures },
  { title: "HAProxy data path", run: () => dataPath().finally(down) },
  { title: "Test suites", run: async () => [await testSuiteWallTime("test"), await testSuiteWallTime("test:sandbox")] },
];

async function main(): Promise<void> {
  const header = ["measure", "value", "target", "verdict"];
  const markdown: string[] = [
    "# Benchmarks",
    "",
    `Produced by \`pnpm run bench\` on ${machineSummary()}. Rerun it to check these figures on your machine.`,
    "",
  ];
  for (const section of SECTIONS) {
    process.stdout.write(`\n${section.title}\n`);
    const rows = (await section.run()).map((r) => [r.measure, r.value, r.target, r.verdict]);
    process.stdout.write(`${textTable(header, rows)}\n`);
    markdown.push(`## ${section.title}`, "", markdownTable(header, rows), "");
  }
  writeDoc("docs/BENCHMARKS.md", markdown.join("\n"));
  process.stdout.write(`\nwrote ${path.join("docs", "BENCHMARKS.md")}\n`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(1);
  });
}

