// `pulumi preview` only transpiles (tsconfig noCheck), so the strict type check lives here.
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as path from "path";
import { test } from "node:test";

test("the whole project type-checks with tsc --noEmit in strict mode", () => {
  const root = path.resolve(__dirname, "..", "..");
  const tsc = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "--noEmit", "--noCheck", "false", "-p", "tsconfig.json"], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
});
