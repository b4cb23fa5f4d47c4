// Groups of unit-test modules (test/unit/<group>/) run side by side in one test process: a process
// of their own would cost each module more than its tests. Groups and modules run concurrently,
// each module's tests in order: most of their time is spent waiting (for an evaluation, a child
// process, a timer), which the others can use. Each module runs alone too:
// node --require ts-node/register/transpile-only --test test/unit/<group>/NAME.test.ts.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe } from "node:test";

/** The test modules under `dir`, its subfolders' too (they mirror the folders of the code). */
function testModules(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory()
        ? testModules(path.join(dir, entry.name))
        : entry.name.endsWith(".test.ts")
          ? [path.join(dir, entry.name)]
          : [],
    )
    .sort();
}

export function testGroups(root: string, groups: string[]): void {
  describe(path.basename(root), { concurrency: true }, () => {
    for (const group of groups) {
      const dir = path.join(root, group);
      describe(group, { concurrency: true }, () => {
        for (const file of testModules(dir)) {
          describe(path.relative(dir, file), { concurrency: false }, () => {
            // eslint-disable-next-line @typescript-eslint/no-require-imports -- a module's tests register as it loads, inside its describe
            require(file);
          });
        }
      });
    }
  });
}
