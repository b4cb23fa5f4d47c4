// Turns a test double written in TypeScript into one self-contained JavaScript file. The VMs have
// Debian's nodejs but no node_modules, and some doubles travel as a single downloaded file (the
// FlowProxy artifact, cast), so everything a double imports besides Node's standard library is
// inlined here: its sibling TypeScript modules, and the CommonJS files of the packages it uses
// (the doubles need @noble/curves and @noble/hashes for secp256k1 and keccak-256).
import { builtinModules } from "module";
import * as fs from "fs";
import * as path from "path";
import { transformSync } from "@swc/core";
import { SandboxError } from "../base/proc";

export interface BundleOptions {
  /** First line of the file, e.g. "#!/usr/bin/env node". */
  shebang?: string;
  /** Statements run before the entry module, e.g. to stamp the FlowProxy build on globalThis. */
  prelude?: string;
}

const REQUIRE = /require\("([^"]+)"\)/g;

const isBuiltin = (specifier: string) => specifier.startsWith("node:") || builtinModules.includes(specifier);

/** What each source file transpiled to, by its text: several bundles share the doubles' modules. */
const transpiled = new Map<string, string>();

/** TypeScript to CommonJS, by swc (as ts-node does for the project, tsconfig.json "ts-node"). */
function transpile(file: string): string {
  const source = fs.readFileSync(file, "utf8");
  const key = `${file}\0${source}`;
  let code = transpiled.get(key);
  if (code === undefined) {
    code = transformSync(source, {
      filename: file,
      jsc: { parser: { syntax: "typescript" }, target: "es2022" },
      module: { type: "commonjs" },
    }).code;
    transpiled.set(key, code);
  }
  return code;
}

function resolveSibling(fromFile: string, specifier: string): string {
  const base = path.resolve(path.dirname(fromFile), specifier);
  for (const candidate of [`${base}.ts`, path.join(base, "index.ts")]) {
    if (fs.existsSync(candidate)) {
      return candidate;
    }
  }
  throw new SandboxError(`${fromFile} imports ${specifier}, which is not a TypeScript file next to it`);
}

/** Node's own resolution (package.json "exports", "require" condition): the CommonJS build of a package file. */
function resolvePackageFile(fromFile: string, specifier: string): string {
  let target: string;
  try {
    target = require.resolve(specifier, { paths: [path.dirname(fromFile)] });
  } catch {
    throw new SandboxError(`${fromFile} requires "${specifier}", which cannot be resolved from there`);
  }
  if (!/\.c?js$/.test(target) || !target.split(path.sep).includes("node_modules")) {
    throw new SandboxError(
      `${fromFile} requires "${specifier}", which resolves to ${target}, not a CommonJS file of a package`,
    );
  }
  return target;
}

/** Bundles already made in this process, by entry and options: the doubles' sources do not change while it runs. */
const made = new Map<string, string>();

export function bundle(entry: string, options: BundleOptions = {}): string {
  const key = JSON.stringify([path.resolve(entry), options]);
  let text = made.get(key);
  if (text === undefined) {
    text = bundleNow(entry, options);
    made.set(key, text);
  }
  return text;
}

function bundleNow(entry: string, options: BundleOptions): string {
  const root = path.dirname(path.resolve(entry));
  const modules = new Map<string, string>();
  const visit = (file: string) => {
    const id = path.relative(root, file);
    if (modules.has(id)) {
      return;
    }
    const isPackageFile = file.endsWith(".js") || file.endsWith(".cjs");
    // Reserve the id first: packages' modules may require each other in a cycle.
    modules.set(id, "");
    const code = (isPackageFile ? fs.readFileSync(file, "utf8") : transpile(file)).replace(
      REQUIRE,
      (match, specifier: string) => {
        if (isBuiltin(specifier)) {
          return match;
        }
        const target =
          !isPackageFile && specifier.startsWith(".")
            ? resolveSibling(file, specifier)
            : resolvePackageFile(file, specifier);
        visit(target);
        return `__load(${JSON.stringify(path.relative(root, target))})`;
      },
    );
    modules.set(id, code);
  };
  const entryId = path.relative(root, path.resolve(entry));
  visit(path.resolve(entry));

  const definitions = [...modules]
    .map(([id, code]) => `${JSON.stringify(id)}: function (module, exports, require) {\n${code}\n}`)
    .join(",\n");
  return [
    options.shebang ?? "",
    `// Bundled from ${entryId} by sandbox/internet/bundle.ts. A sandbox test double: never shipped to Azure.`,
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
