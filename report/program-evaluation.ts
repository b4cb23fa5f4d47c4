// The program evaluated once, as `pulumi preview` evaluates it, in a process of its own: Node with
// ts-node registered (which reads tsconfig.json's ts-node settings, as Pulumi's language host
// does), the example config's values, every resource registered with a resource monitor (the
// plan's mocks in place of Azure) and full stack traces. The benchmark runs it for this project
// and for the reference programs beside it (report/bench-programs/) and compares them. It prints
// the number of resources of each type the program declared.
import * as path from "path";
import { PROJECT_DIR } from "../plan/evaluation";
import { loadStackConfig } from "../plan/stack-file";

/** The command line that evaluates the project in `projectDir` once and exits 0 when it declared its resources. */
export function evaluationCommand(projectDir: string, preload: string[] = []): string[] {
  return [
    process.execPath,
    "--require",
    "ts-node/register",
    ...preload.flatMap((file) => ["--require", file]),
    __filename,
    projectDir,
  ];
}

async function main(projectDir: string): Promise<void> {
  // Required only here: the benchmark that starts this process must not load Pulumi itself.
  const { evaluate } = require("../plan/evaluate") as typeof import("../plan/evaluate");
  const { request } = loadStackConfig("dev", PROJECT_DIR, { example: true });
  const evaluation = await evaluate({ ...request, projectDir }, { asPreview: true });
  const declared: Record<string, number> = {};
  for (const { type } of evaluation.resources.filter((r) => r.type !== "pulumi:pulumi:Stack"))
    declared[type] = (declared[type] ?? 0) + 1;
  process.stdout.write(`${JSON.stringify(declared)}\n`);
}

if (require.main === module) {
  main(path.resolve(process.argv[2] ?? PROJECT_DIR)).catch((err: Error) => {
    process.stderr.write(`program evaluation: ${err.message}\n`);
    process.exit(1);
  });
}
