// pnpm run plan: what the stack would declare, without Azure credentials or the Pulumi CLI.
// Evaluates the program under mocks with the stack's config, prints every resource grouped by
// region with the properties a reviewer checks (secrets as [secret]), and draws the architecture
// diagram from the same resources.
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
import { PROJECT } from "../lib/config";
import { REPO_ROOT, runRender } from "../test/support/stack";
import type { RenderResult } from "../test/support/render-stack";
import { PlanError, StackConfig, loadStackConfig, stackFileName } from "./plan-config";
import { buildDiagram, renderSvg } from "./plan-diagram";
import { PlanGraph } from "./plan-graph";
import { formatPlan } from "./plan-text";

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
    if (arg === "--") continue; // pnpm run plan -- --stack x
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

/** Thrown when the program itself stops: a config error (exit 1) or a crash (exit 2). */
export class ProgramError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface Plan {
  config: StackConfig;
  result: RenderResult;
  graph: PlanGraph;
  text: string;
  svg: string;
}

/** Evaluates the program with a stack's config and produces the plan text and the diagram. */
export function makePlan(config: StackConfig): Plan {
  const outcome = runRender({ ...config.request, projectDir: REPO_ROOT });
  if (outcome.status === 1) throw new ProgramError(outcome.stderr.trimEnd(), 1);
  if (outcome.status !== 0) {
    throw new ProgramError(`the program failed under mocks (exit ${outcome.status}):\n${outcome.stderr.trimEnd()}`, 2);
  }
  const result = JSON.parse(outcome.stdout) as RenderResult;
  const graph = new PlanGraph(result, config.regionOrder);
  const text = formatPlan(graph, {
    project: PROJECT,
    stack: config.stack,
    configFile: config.file,
    missingStackFile: config.example && config.file !== stackFileName(config.stack) ? stackFileName(config.stack) : undefined,
    placeholders: config.placeholders,
  });
  const title = `${PROJECT} · stack ${config.stack} · ${graph.nodes.length} resources in ${graph.regions.join(", ")}`;
  const footer = `Drawn by pnpm run plan from the resources the program declares under mocks with ${config.file}; addresses are the mocks' fixed ones.`;
  const svg = renderSvg(buildDiagram(graph, title, footer));
  return { config, result, graph, text, svg };
}

/** The diagram docs/architecture.svg should hold: the example config's, for the default stack. */
export function expectedCommittedSvg(): string {
  return makePlan(loadStackConfig("dev", REPO_ROOT, { example: true })).svg;
}

/** Compares the committed diagram with a fresh one; the message says how to fix a stale one. */
export function compareSvg(committed: string | undefined, fresh: string, hasOwnDevConfig: boolean): { ok: boolean; message: string } {
  if (committed === fresh) return { ok: true, message: `${COMMITTED_SVG} matches the program` };
  const fix = hasOwnDevConfig ? "pnpm run plan --example" : "pnpm run plan";
  return { ok: false, message: `${COMMITTED_SVG} is ${committed === undefined ? "missing" : "stale"}; run ${fix} and commit it` };
}

export interface PlanIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Where Pulumi.<stack>.yaml files are looked up; the repository by default. */
  configDir?: string;
}

/** The whole command; returns its exit code. Errors print as one clear message, never a stack trace. */
export function runPlan(argv: string[], io: PlanIo): number {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  try {
    const options = parseArgs(argv, io.env);
    if (options.check) {
      const committedPath = path.join(REPO_ROOT, COMMITTED_SVG);
      const committed = fs.existsSync(committedPath) ? fs.readFileSync(committedPath, "utf8") : undefined;
      const hasOwnDevConfig = fs.existsSync(path.join(io.configDir ?? REPO_ROOT, stackFileName("dev")));
      const { ok, message } = compareSvg(committed, expectedCommittedSvg(), hasOwnDevConfig);
      (ok ? io.stdout : io.stderr)(`${message}\n`);
      return ok ? 0 : 1;
    }
    const config = loadStackConfig(options.stack, io.configDir ?? REPO_ROOT, { example: options.example });
    const plan = makePlan(config);
    io.stdout(plan.text);
    // Only the example config of the default stack draws the committed diagram.
    const committedDiagram = config.example && config.stack === "dev";
    const svgPath = options.svg ?? (committedDiagram ? COMMITTED_SVG : `build/architecture.${config.stack}.svg`);
    const target = path.resolve(REPO_ROOT, svgPath);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, plan.svg);
    io.stdout(`\ndiagram: ${path.relative(REPO_ROOT, target)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ProgramError) {
      io.stderr(`${err.message}\n`);
      return err.exitCode;
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
  process.exitCode = runPlan(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  });
}
