// `pnpm run bench`: measures what users choose this stack by and writes docs/BENCHMARKS.md.
// Every figure comes from this run; ratios compare numbers measured side by side in it.
import { spawn } from "child_process";
import * as path from "path";
import { PROJECT_DIR } from "../plan/evaluation";
import { down } from "../sandbox/sandbox";
import { dataPath } from "./bench-datapath";
import { BENCH_PARTS, EVALUATION_MEASURES, measureDifferences, UNIT_MEASURES } from "./bench-measures";
import { provisioningFigures } from "./bench-provisioning";
import { machineSummary, markdownTable, median, textTable, writeDoc } from "./markdown";
import { evaluationCommand } from "./program-evaluation";

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
  stdout: string;
}

const USAGE_PROBE = path.join(__dirname, "usage-probe.ts");
const PLAIN_STACKS = path.join(__dirname, "plain-stacks.ts");

/** Runs a command, timing it from spawn to exit and reading the peak RSS that usage-probe reports. */
export function measure(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { cwd: PROJECT_DIR, env, stdio: ["ignore", "pipe", "ignore", "pipe"] });
    let stdout = "";
    let usage = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stdio[3]!.on("data", (d: Buffer) => (usage += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      const maxRssKiB = usage ? (JSON.parse(usage) as { maxRssKiB: number }).maxRssKiB : 0;
      resolve({ wallMs, maxRssKiB, status: status ?? -1, stdout });
    });
  });
}

interface EvaluationSamples {
  label: string;
  projectDir: string;
  env?: NodeJS.ProcessEnv;
  preload?: string[];
  samples: Measured[];
}

const wallS = (s: EvaluationSamples) => median(s.samples.map((m) => m.wallMs)) / 1000;
const rssMB = (s: EvaluationSamples) => Math.max(...s.samples.map((m) => m.maxRssKiB)) / 1024;
const resourceCount = (stdout: string) =>
  Object.values(JSON.parse(stdout) as Record<string, number>).reduce((a, b) => a + b, 0);

async function sample(subject: EvaluationSamples): Promise<void> {
  const measured = await measure(
    evaluationCommand(subject.projectDir, [USAGE_PROBE, ...(subject.preload ?? [])]),
    subject.env,
  );
  if (measured.status !== 0)
    throw new Error(`${subject.label} failed to evaluate under mocks (exit ${measured.status})`);
  subject.samples.push(measured);
}

/**
 * The program as `pulumi preview` evaluates it (report/program-evaluation.ts), beside the
 * one-resource floor and the same resources without the program's logic, in alternating rounds;
 * then the program and the floor again with plain stack traces (report/plain-stacks.ts).
 */
async function programEvaluation(rounds: number): Promise<Row[]> {
  const program: EvaluationSamples = { label: "the program", projectDir: PROJECT_DIR, samples: [] };
  await sample(program);
  const declared = program.samples[0].stdout.trim();
  const floor: EvaluationSamples = {
    label: "the one-resource floor",
    projectDir: path.join(__dirname, "bench-programs", "one-resource"),
    samples: [],
  };
  const same: EvaluationSamples = {
    label: "the same resources without the program's logic",
    projectDir: path.join(__dirname, "bench-programs", "same-resources"),
    env: { ...process.env, SAME_RESOURCES: declared },
    samples: [],
  };
  const plainProgram: EvaluationSamples = {
    ...program,
    label: "the program with plain stacks",
    preload: [PLAIN_STACKS],
    samples: [],
  };
  const plainFloor: EvaluationSamples = {
    ...floor,
    label: "the floor with plain stacks",
    preload: [PLAIN_STACKS],
    samples: [],
  };
  program.samples = [];
  for (let round = 0; round < rounds; round++) {
    for (const subject of [program, floor, same, plainProgram, plainFloor]) await sample(subject);
  }
  const count = resourceCount(declared);
  if (resourceCount(same.samples[0].stdout) !== count)
    throw new Error("the same-resources reference declared another number of resources than the program");
  const ratio = wallS(program) / wallS(floor);
  const perResourceMs = ((wallS(same) - wallS(floor)) * 1000) / (count - 1);
  const both = (s: EvaluationSamples) => `${wallS(s).toFixed(2)} s / ${rssMB(s).toFixed(0)} MB`;
  return [
    {
      measure: EVALUATION_MEASURES.programWallTime(count, rounds),
      value: `${wallS(program).toFixed(2)} s`,
      target: "—",
      verdict: "info",
    },
    {
      measure: EVALUATION_MEASURES.programPeakRss(rounds),
      value: `${rssMB(program).toFixed(0)} MB`,
      target: "≤ 200 MB",
      verdict: rssMB(program) <= 200 ? "met" : "missed",
    },
    { measure: EVALUATION_MEASURES.floor, value: both(floor), target: "—", verdict: "info" },
    { measure: EVALUATION_MEASURES.reference(count), value: both(same), target: "—", verdict: "info" },
    {
      measure: EVALUATION_MEASURES.programOverFloor,
      value: `${ratio.toFixed(2)} ×`,
      target: "≤ 1.40 ×",
      verdict: ratio <= 1.4 ? "met" : "missed",
    },
    {
      measure: EVALUATION_MEASURES.programOverReference,
      value: `${(wallS(program) / wallS(same)).toFixed(2)} ×`,
      target: "—",
      verdict: "info",
    },
    {
      measure: EVALUATION_MEASURES.runtimePerResource,
      value: `${perResourceMs.toFixed(0)} ms`,
      target: "—",
      verdict: "info",
    },
    {
      measure: EVALUATION_MEASURES.plainStacks,
      value: `${(wallS(plainProgram) / wallS(plainFloor)).toFixed(2)} × (${both(plainProgram)} against ${both(plainFloor)})`,
      target: "—",
      verdict: "info",
    },
  ];
}

async function unitTestWallTime(): Promise<Row> {
  const result = await measure(["pnpm", "test"]);
  const seconds = result.wallMs / 1000;
  return {
    measure: UNIT_MEASURES.wallTime,
    value: `${seconds.toFixed(1)} s${result.status === 0 ? "" : ` (FAILED, exit ${result.status})`}`,
    target: "≤ 20 s",
    verdict: result.status === 0 && seconds <= 20 ? "met" : "missed",
  };
}

/** The parts of the benchmark; `pnpm run bench <key>...` runs some of them (the sandbox's need root). */
const PARTS: { key: keyof typeof BENCH_PARTS; run: () => Promise<Row[]> }[] = [
  { key: "evaluation", run: () => programEvaluation(7) },
  { key: "unit", run: async () => [await unitTestWallTime()] },
  { key: "provisioning", run: provisioningFigures },
  { key: "datapath", run: () => dataPath().finally(down) },
];

async function main(keys: string[]): Promise<void> {
  const unknown = keys.filter((key) => !PARTS.some((part) => part.key === key));
  if (unknown.length > 0) {
    throw new Error(`no part named ${unknown.join(", ")}; the parts are ${PARTS.map((part) => part.key).join(", ")}`);
  }
  const chosen = keys.length === 0 ? PARTS : PARTS.filter((part) => keys.includes(part.key));
  const header = ["measure", "value", "target", "verdict"];
  const markdown: string[] = [
    "# Benchmarks",
    "",
    `Produced by \`pnpm run bench\` on ${machineSummary()}. Rerun it to check these figures on your machine.`,
    "",
  ];
  // The committed document is held to the declared rows (test/unit/report/reports.test.ts), so
  // rows that differ from them are never written; the parts still all run, so the last one's
  // cleanup (the sandbox's removal) happens.
  const undeclared: string[] = [];
  for (const part of chosen) {
    const { title, measures } = BENCH_PARTS[part.key];
    process.stdout.write(`\n${title}\n`);
    const measured = await part.run();
    const differences = measureDifferences(
      measures,
      measured.map((r) => r.measure),
    );
    if (differences.length > 0) undeclared.push(`${title}: ${differences.join("; ")}`);
    const rows = measured.map((r) => [r.measure, r.value, r.target, r.verdict]);
    process.stdout.write(`${textTable(header, rows)}\n`);
    markdown.push(`## ${title}`, "", markdownTable(header, rows), "");
  }
  if (undeclared.length > 0)
    throw new Error(`the rows differ from report/bench-measures.ts: ${undeclared.join(" | ")}`);
  // The committed figures come from one whole run, never from a mix of runs.
  if (chosen === PARTS) {
    writeDoc("docs/BENCHMARKS.md", markdown.join("\n"));
    process.stdout.write(`\nwrote ${path.join("docs", "BENCHMARKS.md")}\n`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(1);
  });
}
