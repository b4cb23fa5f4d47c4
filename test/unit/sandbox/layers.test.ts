// The sandbox's folders are its layers (sandbox/layers.ts): an import from a layer its entry does not
// name, from the folder's top (the whole), or from test code fails here.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { PROJECT_DIR } from "../../../plan/evaluation";
import { SANDBOX_LAYERS, SandboxLayer } from "../../../sandbox/layers";

const SANDBOX = path.join(PROJECT_DIR, "sandbox");
const IMPORT = /(?:from|import\(|require\()\s*["'](\.{1,2}\/[^"']+)["']/g;

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory()
        ? sources(path.join(dir, entry.name))
        : entry.name.endsWith(".ts")
          ? [path.join(dir, entry.name)]
          : [],
    );
}

/** "base", "internet", ... for a file in a layer's folder; "top" for the folder's own files; undefined outside the sandbox. */
function placeOf(file: string): SandboxLayer | "top" | undefined {
  const relative = path.relative(SANDBOX, file);
  if (relative.startsWith("..")) return undefined;
  const [first, ...rest] = relative.split(path.sep);
  if (rest.length === 0) return "top";
  if (!(first in SANDBOX_LAYERS)) throw new Error(`sandbox/${first}/ is no layer of sandbox/layers.ts`);
  return first as SandboxLayer;
}

/** The imports of `file` (given its text) that go the wrong way, one line each. */
export function wrongImports(file: string, text: string): string[] {
  const from = placeOf(file);
  const wrong: string[] = [];
  for (const [, spec] of text.matchAll(IMPORT)) {
    const target = path.resolve(path.dirname(file), spec);
    const where = path.relative(PROJECT_DIR, file);
    if (target.startsWith(path.join(PROJECT_DIR, "test") + path.sep)) {
      wrong.push(`${where} imports test code (${spec}): bundle it as a file instead (internet/doubles.ts)`);
      continue;
    }
    const to = placeOf(target);
    if (to === undefined || from === "top" || to === from) continue;
    const allowed: readonly string[] = from === undefined ? [] : SANDBOX_LAYERS[from];
    if (to === "top" || !allowed.includes(to))
      wrong.push(`${where} (layer ${from}) imports ${spec} (${to === "top" ? "the whole" : `layer ${to}`})`);
  }
  return wrong;
}

test("every import of the sandbox goes down its layers, and none reaches test code", () => {
  const wrong = sources(SANDBOX).flatMap((file) => wrongImports(file, fs.readFileSync(file, "utf8")));
  assert.deepEqual(wrong, []);
});

test("an import from a neighbouring layer, from the whole or from test code is named", () => {
  const inNetworks = path.join(SANDBOX, "networks", "nsg.ts");
  const text = [
    'import { vm } from "../machines/vm";',
    'import { up } from "../sandbox";',
    'import { x } from "../../test/doubles/github";',
    'import { run } from "../base/proc";',
  ].join("\n");
  assert.deepEqual(wrongImports(inNetworks, text), [
    "sandbox/networks/nsg.ts (layer networks) imports ../machines/vm (layer machines)",
    "sandbox/networks/nsg.ts (layer networks) imports ../sandbox (the whole)",
    "sandbox/networks/nsg.ts imports test code (../../test/doubles/github): bundle it as a file instead (internet/doubles.ts)",
  ]);
});
