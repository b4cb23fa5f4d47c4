// The unit tests of the plan, the verify, the policy pack, the type check, the workflows and the documentation.
// Each module of test/unit/tools/ runs alone too (node --test test/unit/tools/NAME.test.ts); here they
// run in one process, since a process of their own costs each more than its tests.
// Modules run side by side, each one's tests in order: most of their time is spent waiting (for an
// evaluation, a child process, a timer), which the others can use.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe } from "node:test";

const dir = path.join(__dirname, "tools");
describe("tools", { concurrency: true }, () => {
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".test.ts")).sort()) {
    describe(file, { concurrency: false }, () => require(path.join(dir, file)));
  }
});
