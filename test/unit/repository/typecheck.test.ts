// `pulumi preview` only transpiles (tsconfig noCheck), so the strict type check lives here: the
// package's own typecheck script. It runs TypeScript 7's native compiler (package
// typescript-native), which checks the whole project in a few seconds; TypeScript 5.9 (package
// typescript) stays for ts-node and Pulumi's runtime, which need its JavaScript API. TypeScript 7
// has removed the node10 module resolution tsconfig.json keeps for them, so the check resolves
// modules as a bundler does.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { PROJECT_DIR } from "../../../plan/evaluation";
import { belowNormalPriority, spawnAsync } from "../../support/processes";

test("the whole project type-checks with tsc --noEmit in strict mode", async () => {
  const script = (
    JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")) as { scripts: Record<string, string> }
  ).scripts.typecheck;
  const { status, stdout, stderr } = await spawnAsync(...belowNormalPriority("sh", ["-c", script]), {
    cwd: PROJECT_DIR,
  });
  assert.equal(status, 0, stdout + stderr);
});
