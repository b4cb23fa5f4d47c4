// Pulumi.yaml's `config` block and the README's table of keys, both generated from CONFIG_KEYS
// (lib/config.ts), the table the program validates with: `pnpm run project-file` rewrites them, and
// unit tests fail when a committed one differs, so Pulumi's declarations, the documentation and the
// program cannot disagree on a key, its type or its default.
import * as fs from "fs";
import * as path from "path";
import { isDeepStrictEqual } from "util";
import { Document, isMap, isScalar, parseDocument } from "yaml";
import { CONFIG_KEYS, KeySpec } from "../lib/config";
import { PROJECT_DIR } from "./evaluation";
import { asText } from "../lib/azure-inputs";

export const PROJECT_FILE = "Pulumi.yaml";
export const README_FILE = "README.md";

/** One key's declaration in Pulumi.yaml (https://www.pulumi.com/docs/iac/concepts/projects/project-file/#config-options). */
export interface ConfigDeclaration {
  type: KeySpec["type"];
  items?: { type: "object" };
  description: string;
  default: string | number | boolean | readonly object[];
}

// What Pulumi does with these declarations (sdk/go/common/workspace/config.go, mergeConfig and
// validateStackConfigValue, https://github.com/pulumi/pulumi/blob/master/sdk/go/common/workspace/config.go):
// before the program runs it gives every declared key the stack leaves unset its default; a key
// declared without a default that the stack leaves unset stops Pulumi with "Stack 'dev' is missing
// configuration value 'adminUsername'", naming neither the command that sets it nor a good value.
// So every key is declared with a default, "" where the program has none, which the program reads
// as unset and refuses, when the key is required, with its own message. A stack value of another
// type Pulumi refuses itself ("must be of type 'integer'"); keys of the stack that are declared
// nowhere it passes on untouched, and the program refuses those of its namespace. `secret: true` is
// left out: Pulumi checks the default it applied as well and would refuse an unset secret key for
// not being encrypted; the program refuses a secret stored in plain text with the command that
// stores it. The object items of `regions` need Pulumi CLI 3.187 or later (pulumi/pulumi#20132).
const HEADER = [
  " Generated from CONFIG_KEYS in lib/config.ts by `pnpm run project-file`; edit the table, not this block.",
  " Every key has a default so that Pulumi hands an unset key to the program, which names the command",
  ' that sets it; "" means unset. Secrets are not marked: the program refuses them in plain text.',
].join("\n");

export function projectConfig(): Record<string, ConfigDeclaration> {
  return Object.fromEntries(
    CONFIG_KEYS.map((spec): [string, ConfigDeclaration] => [
      spec.key,
      {
        type: spec.type,
        ...(spec.type === "array" ? { items: { type: "object" as const } } : {}),
        description: spec.description,
        default: spec.default ?? "",
      },
    ]),
  );
}

/** `text` (a Pulumi.yaml) with its `config` block replaced by the generated one; the rest is kept. */
export function renderProjectFile(text: string): string {
  const doc: Document = parseDocument(text);
  if (!isMap(doc.contents)) throw new Error(`${PROJECT_FILE} is not a YAML mapping`);
  doc.delete("config");
  const pair = doc.createPair("config", projectConfig());
  if (isScalar(pair.key)) pair.key.commentBefore = HEADER;
  doc.contents.items.push(pair);
  return doc.toString({ lineWidth: 0 });
}

/** Where the `config` block of `text` (a Pulumi.yaml) differs from CONFIG_KEYS, one line per key. */
export function projectFileDrift(text: string): string[] {
  const declared = (parseDocument(text).toJS() as { config?: Record<string, unknown> } | null)?.config ?? {};
  const expected = projectConfig();
  const drift: string[] = [];
  for (const [key, declaration] of Object.entries(expected)) {
    if (!(key in declared)) drift.push(`${key} is not declared`);
    else if (!isDeepStrictEqual(declared[key], declaration)) {
      drift.push(`${key} is declared as ${JSON.stringify(declared[key])}, not ${JSON.stringify(declaration)}`);
    }
  }
  for (const key of Object.keys(declared).filter((k) => !(k in expected)))
    drift.push(`${key} is declared but is no key of CONFIG_KEYS`);
  return drift;
}

const TABLE_START =
  "<!-- The keys, generated from CONFIG_KEYS in lib/config.ts by `pnpm run project-file`: edit the table, not these rows. -->";
const TABLE_END = "<!-- End of the generated keys. -->";

/** A default as the README shows it: text as is, a list of objects one `{field: value}` each. */
function defaultCell(value: KeySpec["default"]): string {
  if (value === undefined) return "";
  if (Array.isArray(value)) {
    return value
      .map(
        (item) =>
          `\`{${Object.entries(item as object)
            .map(([k, v]) => `${k}: ${String(v)}`)
            .join(", ")}}\``,
      )
      .join("<br>");
  }
  return `\`${asText(value)}\``;
}

export function configTable(): string {
  const rows = CONFIG_KEYS.map(
    (spec) =>
      `| \`${spec.key}\` | ${spec.required ? "yes" : "no"} | ${spec.secret ? "yes" : "no"} | ${defaultCell(spec.default)} | ${spec.description} |`,
  );
  return [
    TABLE_START,
    "| key | required | secret | default | meaning |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
    TABLE_END,
  ].join("\n");
}

/** `text` (the README) with its table of keys replaced by the generated one. */
export function renderReadme(text: string): string {
  const start = text.indexOf(TABLE_START);
  const end = text.indexOf(TABLE_END);
  if (start < 0 || end < start)
    throw new Error(
      `${README_FILE} has no generated table of keys: put the lines "${TABLE_START}" and "${TABLE_END}" where it goes`,
    );
  return text.slice(0, start) + configTable() + text.slice(end + TABLE_END.length);
}

function rewrite(name: string, render: (text: string) => string): void {
  const file = path.join(PROJECT_DIR, name);
  const before = fs.readFileSync(file, "utf8");
  const after = render(before);
  if (after !== before) fs.writeFileSync(file, after);
  process.stdout.write(`${name} ${after === before ? "already matches" : "rewritten from"} CONFIG_KEYS\n`);
}

if (require.main === module) {
  try {
    rewrite(PROJECT_FILE, renderProjectFile);
    rewrite(README_FILE, renderReadme);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
