// pnpm run plan: what the stack would declare, without Azure credentials or the Pulumi CLI.
// Evaluates the program under mocks with the stack's config, prints every resource grouped by
// region with the properties a reviewer checks (secrets as [secret]) and an estimate of what they
// cost a month (plan/cost.ts), and draws the architecture diagram from the same resources.
//
//   pnpm run plan [--stack NAME] [--example] [--svg PATH]
//   pnpm run plan --check      # exit 1 when docs/architecture.svg no longer matches the program
//
// The stack is --stack, else $PULUMI_STACK, else dev. Its config is Pulumi.<stack>.yaml, or
// Pulumi.dev.example.yaml when that file does not exist (or with --example). The committed
// docs/architecture.svg is always drawn from the example config of stack dev, so it shows no one's
// own values; any other plan writes its diagram to build/architecture.<stack>.svg instead.
import * as fs from "fs";
import * as path from "path";
import { PROJECT } from "../lib/contract";
import { CostEstimate, estimateCost, formatCost } from "./cost";
import { buildDiagram, renderSvg } from "./diagram";
import { Evaluation, Evaluator, PROJECT_DIR, ProgramFailure, ProgramRefusal } from "./evaluation";
import { PlanGraph } from "./graph";
import { PlanError, StackConfig, loadStackConfig, stackFileName } from "./stack-file";
import { formatPlan } from "./text";

export const COMMITTED_SVG = "docs/architecture.svg";

export interface PlanOptions {
  stack: string;
  example: boolean;
  svg?: string;
  check: boolean;
}

const USAGE = `usage: pnpm run plan [--stack NAME] [--example] [--svg PATH] [--check]
  --stack NAME  the stack whose Pulumi.<NAME>.yaml to read (default: $PULUMI_STACK, else dev)
  --example     use Pulumi.dev.example.yaml even when the stack has its own config file
  --svg PATH    where to write the diagram (default: ${COMMITTED_SVG} for stack dev with the
                example config, else build/architecture.<stack>.svg)
  --check       only check that ${COMMITTED_SVG} matches the program; exit 1 when it is stale`;

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): PlanOptions {
  const options: PlanOptions = { stack: env.PULUMI_STACK || "dev", example: false, check: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined || next.startsWith("--")) throw new PlanError(`${arg} needs a value\n${USAGE}`);
      return next;
    };
    if (arg === "--")
      continue; // pnpm run plan -- --stack x
    else if (arg === "--stack") options.stack = value();
    else if (arg.startsWith("--stack=")) options.stack = arg.slice("--stack=".length);
    else if (arg === "--svg") options.svg = value();
    else if (arg.startsWith("--svg=")) options.svg = arg.slice("--svg=".length);
    else if (arg === "--example") options.example = true;
    else if (arg === "--check") options.check = true;
    else throw new PlanError(`unknown argument ${arg}\n${USAGE}`);
  }
  return options;
}

export interface Plan {
  config: StackConfig;
  evaluation: Evaluation;
  graph: PlanGraph;
  cost: CostEstimate;
  text: string;
  svg: string;
}

/** Evaluates the program with a stack's config and produces the plan text and the diagram. */
export async function makePlan(config: StackConfig, evaluate: Evaluator): Promise<Plan> {
  const evaluation = await evaluate(config.request);
  const graph = new PlanGraph(evaluation, config.regionOrder);
  const cost = estimateCost(graph);
  const resources = formatPlan(graph, {
    project: PROJECT,
    stack: config.stack,
    configFile: config.file,
    missingStackFile:
      config.example && config.file !== stackFileName(config.stack) ? stackFileName(config.stack) : undefined,
    placeholders: config.placeholders,
  });
  const text = `${resources}\n${formatCost(cost).join("\n")}\n`;
  const title = `${PROJECT} · stack ${config.stack} · ${graph.nodes.length} resources in ${graph.regions.join(", ")}`;
  const footer = `Drawn by pnpm run plan from the resources the program declares under mocks with ${config.file}; addresses are the mocks' fixed ones.`;
  const svg = renderSvg(buildDiagram(graph, title, footer));
  return { config, evaluation, graph, cost, text, svg };
}

/** The diagram docs/architecture.svg should hold: the example config's, for the default stack. */
export async function expectedCommittedSvg(evaluate: Evaluator): Promise<string> {
  return (await makePlan(loadStackConfig("dev", PROJECT_DIR, { example: true }), evaluate)).svg;
}

/** Compares the committed diagram with a fresh one; the message says how to fix a stale one. */
export function compareSvg(
  committed: string | undefined,
  fresh: string,
  hasOwnDevConfig: boolean,
): { ok: boolean; message: string } {
  if (committed === fresh) return { ok: true, message: `${COMMITTED_SVG} matches the program` };
  const fix = hasOwnDevConfig ? "pnpm run plan --example" : "pnpm run plan";
  return {
    ok: false,
    message: `${COMMITTED_SVG} is ${committed === undefined ? "missing" : "stale"}; run ${fix} and commit it`,
  };
}

export interface PlanIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Where Pulumi.<stack>.yaml files are looked up; the repository by default. */
  configDir?: string;
  evaluate: Evaluator;
}

/**
 * The whole command; resolves to its exit code: 1 for a configuration the program refuses (with its
 * message, never a stack trace) or a bad argument, 2 when the program crashes.
 */
export async function runPlan(argv: string[], io: PlanIo): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  try {
    const options = parseArgs(argv, io.env);
    if (options.check) {
      const committedPath = path.join(PROJECT_DIR, COMMITTED_SVG);
      const committed = fs.existsSync(committedPath) ? fs.readFileSync(committedPath, "utf8") : undefined;
      const hasOwnDevConfig = fs.existsSync(path.join(io.configDir ?? PROJECT_DIR, stackFileName("dev")));
      const { ok, message } = compareSvg(committed, await expectedCommittedSvg(io.evaluate), hasOwnDevConfig);
      if (ok) io.stdout(`${message}\n`);
      else io.stderr(`${message}\n`);
      return ok ? 0 : 1;
    }
    const config = loadStackConfig(options.stack, io.configDir ?? PROJECT_DIR, { example: options.example });
    const plan = await makePlan(config, io.evaluate);
    io.stdout(plan.text);
    // Only the example config of the default stack draws the committed diagram.
    const committedDiagram = config.example && config.stack === "dev";
    const svgPath = options.svg ?? (committedDiagram ? COMMITTED_SVG : `build/architecture.${config.stack}.svg`);
    const target = path.resolve(PROJECT_DIR, svgPath);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, plan.svg);
    io.stdout(`\ndiagram: ${path.relative(PROJECT_DIR, target)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ProgramRefusal || err instanceof ProgramFailure) {
      io.stderr(`${err.message}\n`);
      return err instanceof ProgramRefusal ? 1 : 2;
    }
    if (err instanceof PlanError) {
      io.stderr(`plan: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

if (require.main === module) {
  // `pnpm run plan | head` closes the pipe early; that is not an error.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  void runPlan(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    // Loaded only by the command: importing this module (as the tests do) loads nothing of Pulumi's.
    evaluate: (request, options) => (require("./evaluate") as typeof import("./evaluate")).evaluate(request, options),
  }).then((code) => {
    process.exitCode = code;
  });
}
