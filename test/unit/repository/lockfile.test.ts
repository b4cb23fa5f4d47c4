// CI installs with `pnpm install --frozen-lockfile`, which refuses a lockfile whose specifiers differ
// from package.json's. Checking it here fails the change in seconds instead of failing CI at once.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { PROJECT_DIR } from "../../../plan/evaluation";
import { spawnAsync } from "../../support/processes";
import { scratchDir } from "../../support/scratch";

/** pnpm's verdict on a package.json and lockfile pair, without downloading or installing anything. */
function frozenLockfileCheck(dir: string) {
  return spawnAsync("pnpm", ["install", "--frozen-lockfile", "--lockfile-only", "--offline", "--ignore-scripts"], {
    cwd: dir,
  });
}

describe("the committed lockfile", () => {
  test("matches package.json, so CI's frozen install accepts it", async () => {
    const { status, stdout, stderr } = await frozenLockfileCheck(PROJECT_DIR);
    assert.equal(status, 0, stdout + stderr);
  });

  test("the check refuses a package.json whose specifier the lockfile does not record", async () => {
    const dir = scratchDir("lockfile-");
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")) as {
        devDependencies: Record<string, string>;
      };
      manifest.devDependencies["@swc/core"] = "^0.0.1";
      fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(manifest));
      fs.copyFileSync(path.join(PROJECT_DIR, "pnpm-lock.yaml"), path.join(dir, "pnpm-lock.yaml"));
      const { status, stdout, stderr } = await frozenLockfileCheck(dir);
      assert.notEqual(status, 0);
      assert.match(stdout + stderr, /ERR_PNPM_OUTDATED_LOCKFILE/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
