// Turns a test double written in TypeScript into one self-contained JavaScript file. The VMs have
// Debian's nodejs but no node_modules, and some doubles travel as a single downloaded file (the
// FlowProxy artifact, cast), so a double may import only Node's standard library and its sibling
// modules, which are inlined here.
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import { SandboxError } from "./proc";

export interface BundleOptions {
  /** First line of the file, e.g. "#!/usr/bin/env node". */
  shebang?: string;
  /** Statements run before the entry module, e.g. to set a build variant on globalThis. */
  prelude?: string;
}

const RELATIVE_REQUIRE = /require\("(\.{1,2}\/[^"]+)"\)/g;
const ANY_REQUIRE = /require\("([^"]+)"\)/g;

function transpile(file: string): string {
  const source = fs.readFileSync(file, "utf8");
  return ts.transpileModule(source, {
    fileName: file,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      strict: true,
    },
  }).outputText;
}

function resolveModule(fromFile: string, specifier: string): string {
  const base = path.resolve(path.dirname(fromFile), specifier);
  for (const candidate of [`${base}.ts`, path.join(base, "index.ts")]) {
    if (fs.existsSync(candidate)) {
      return candidate;
    }
  }
  throw new SandboxError(`${fromFile} imports ${specifier}, which is not a TypeScript file next to it`);
}

export function bundle(entry: string, options: BundleOptions = {}): string {
  const root = path.dirname(path.resolve(entry));
  const modules = new Map<string, string>();
  const visit = (file: string) => {
    const id = path.relative(root, file);
    if (modules.has(id)) {
      return;
    }
    let code = transpile(file);
    for (const [, specifier] of code.matchAll(ANY_REQUIRE)) {
      if (!specifier.startsWith(".") && !specifier.startsWith("node:")) {
        throw new SandboxError(
          `${file} requires "${specifier}": doubles may use only node:* modules and their siblings`,
        );
      }
    }
    code = code.replace(RELATIVE_REQUIRE, (_match, specifier: string) => {
      const target = resolveModule(file, specifier);
      visit(target);
      return `__load(${JSON.stringify(path.relative(root, target))})`;
    });
    modules.set(id, code);
  };
  const entryId = path.relative(root, path.resolve(entry));
  visit(path.resolve(entry));

  const definitions = [...modules]
    .map(([id, code]) => `${JSON.stringify(id)}: function (module, exports, require) {\n${code}\n}`)
    .join(",\n");
  return [
    options.shebang ?? "",
    `// Bundled from ${entryId} by sandbox/bundle.ts. A sandbox test double: never shipped to Azure.`,
    '"use strict";',
    options.prelude ?? "",
    "(function () {",
    `const __definitions = {\n${definitions}\n};`,
    "const __cache = {};",
    "let __main;",
    "function __load(id) {",
    "  if (__cache[id]) return __cache[id].exports;",
    "  const module = { exports: {} };",
    "  __cache[id] = module;",
    "  if (__main === undefined) __main = module;",
    "  const localRequire = Object.assign((name) => require(name), { main: __main });",
    "  __definitions[id].call(module.exports, module, module.exports, localRequire);",
    "  return module.exports;",
    "}",
    `__load(${JSON.stringify(entryId)});`,
    "})();",
    "",
  ].join("\n");
}
