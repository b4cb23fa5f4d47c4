// The command line of `pnpm run verify` (verify/main.ts is its entry): which target, how to print,
// and the exit status: 0 when every check passed, 1 when one did not or the target could not be
// read, 2 for a usage error.
import { CheckResult, DEFAULT_OPTIONS, verify, VerifyOptions } from "./checks";
import { formatJson, formatTable, passed } from "./report";
import { Target, VerifyError } from "./target";

export type TargetChoice = { kind: "stack"; stack?: string } | { kind: "sandbox" };

export interface CliOptions {
  target: TargetChoice;
  json: boolean;
  flowTimeoutMs: number;
}

const USAGE = `usage: pnpm run verify [--stack NAME | --sandbox] [--json] [--flow-timeout SECONDS]
  --stack NAME            the deployed stack to check, through \`pulumi stack output\` and your own
                          ssh (default: the stack Pulumi has selected)
  --sandbox               the running local sandbox instead (root)
  --json                  print the results as JSON
  --flow-timeout SECONDS  how long each proxy may take to receive a bundle (default ${DEFAULT_OPTIONS.flowTimeoutMs / 1000})`;

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): CliOptions {
  let stack: string | undefined;
  let sandbox = false;
  let json = false;
  let flowTimeoutMs = DEFAULT_OPTIONS.flowTimeoutMs;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined || next.startsWith("--")) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    if (arg === "--")
      continue; // pnpm run verify -- --stack dev
    else if (arg === "--stack") stack = value();
    else if (arg.startsWith("--stack=")) stack = arg.slice("--stack=".length);
    else if (arg === "--sandbox") sandbox = true;
    else if (arg === "--json") json = true;
    else if (arg === "--flow-timeout" || arg.startsWith("--flow-timeout=")) {
      const text = arg === "--flow-timeout" ? value() : arg.slice("--flow-timeout=".length);
      const seconds = Number(text);
      if (!/^\d+(\.\d+)?$/.test(text) || seconds <= 0)
        throw new UsageError(`--flow-timeout takes a number of seconds above 0, not "${text}"`);
      flowTimeoutMs = seconds * 1000;
    } else throw new UsageError(`unknown argument ${arg}`);
  }
  if (stack === "") throw new UsageError("--stack needs a value");
  if (sandbox && stack !== undefined) throw new UsageError("--stack and --sandbox choose different targets; give one");
  return { target: sandbox ? { kind: "sandbox" } : { kind: "stack", stack }, json, flowTimeoutMs };
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  makeTarget(choice: TargetChoice): Promise<Target>;
  /** The checks; a test passes its own options (short timeouts). */
  verify?(target: Target, options: VerifyOptions): Promise<CheckResult[]>;
}

const describeChoice = (choice: TargetChoice) =>
  choice.kind === "sandbox"
    ? "the sandbox"
    : choice.stack === undefined
      ? "the selected stack"
      : `stack ${choice.stack}`;

/** The whole command; returns its exit status. Errors print as one line, never a stack trace. */
export async function runVerify(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  let options: CliOptions;
  try {
    options = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(`verify: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  let description = describeChoice(options.target);
  try {
    const target = await io.makeTarget(options.target);
    description = target.description;
    const results = await (io.verify ?? verify)(target, { ...DEFAULT_OPTIONS, flowTimeoutMs: options.flowTimeoutMs });
    io.stdout(options.json ? formatJson(description, results) : formatTable(description, results));
    return passed(results) ? 0 : 1;
  } catch (err) {
    if (!(err instanceof VerifyError)) throw err;
    if (options.json) io.stdout(formatJson(description, undefined, err.message));
    io.stderr(`verify: ${err.message}\n`);
    return 1;
  }
}
