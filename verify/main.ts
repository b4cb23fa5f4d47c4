// pnpm run verify: checks a deployed stack end to end through its outputs, over SSH with your own
// key, and from this machine as the internet sees it; or, with --sandbox, the running local sandbox
// through the same checks. Prints a table per VM and check and exits 1 when any check fails.
//
//   pnpm run verify [--stack NAME | --sandbox] [--json] [--flow-timeout SECONDS]
//
// verify/ is a second way to prove the stack (a deployed one, where the sandbox proves a local
// one). The sandbox and its suite import from it (the searchers' clients, FlowProxy's metrics); it
// imports nothing from sandbox/ or test/ (a unit test holds it to that), so it runs wherever Node
// and ssh do. The sandbox's Target (sandbox/verify-target.ts) is loaded only for --sandbox.
import { runVerify, TargetChoice } from "./cli";
import { stackTarget } from "./stack-target";
import { Target } from "./target";

async function makeTarget(choice: TargetChoice): Promise<Target> {
  if (choice.kind === "stack") return stackTarget(choice.stack);
  const { sandboxTarget } = await import("../sandbox/verify-target");
  return sandboxTarget();
}

if (require.main === module) {
  void runVerify(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    makeTarget,
  }).then((status) => {
    process.exitCode = status;
  });
}
