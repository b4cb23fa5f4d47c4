// Pulumi.yaml declares the program's keys as CONFIG_KEYS has them (plan/project-file.ts), and what
// Pulumi does with the declarations leaves the program's own defaults and messages in force.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { parse } from "yaml";
import { ConfigError, loadSettings } from "../../../lib/config";
import { PROJECT_DIR } from "../../../plan/evaluation";
import { ConfigDeclaration, PROJECT_FILE, projectFileDrift, renderProjectFile } from "../../../plan/project-file";
import { configSource, validRequest } from "../../support/program";

const committed = fs.readFileSync(path.join(PROJECT_DIR, PROJECT_FILE), "utf8");
const declared = (parse(committed) as { config: Record<string, ConfigDeclaration> }).config;

/** The request with every key it leaves unset given its declared default, as Pulumi hands them to the program. */
function withDeclaredDefaults(config: Record<string, string>): Record<string, string> {
  const defaults = Object.entries(declared).map(([key, d]): [string, string] => [
    key,
    typeof d.default === "object" ? JSON.stringify(d.default) : String(d.default),
  ]);
  return { ...Object.fromEntries(defaults), ...config };
}

test("Pulumi.yaml declares every key of CONFIG_KEYS with its type, description and default, and no other", () => {
  assert.deepEqual(projectFileDrift(committed), []);
});

test("Pulumi.yaml is what pnpm run project-file writes", () => {
  assert.equal(renderProjectFile(committed), committed, "run pnpm run project-file and commit Pulumi.yaml");
});

test("a declaration that differs from CONFIG_KEYS, or a key CONFIG_KEYS lacks, is named", () => {
  const edited = committed
    .replace("    default: Standard_B2s\n", "    default: Standard_D2s_v5\n")
    .replace("config:\n", "config:\n  sshKey:\n    type: string\n");
  assert.notEqual(edited, committed);
  const drift = projectFileDrift(edited);
  assert.equal(drift.length, 2, drift.join("\n"));
  assert.match(drift[0], /^vmSize is declared as .*"Standard_D2s_v5".*, not .*"Standard_B2s"/);
  assert.equal(drift[1], "sshKey is declared but is no key of CONFIG_KEYS");
});

test("every key is declared with a default and none as secret, so Pulumi never stops a stack before the program names the fix", () => {
  for (const [key, declaration] of Object.entries(declared)) {
    assert.ok("default" in declaration, `${key} has a default`);
    assert.ok(!("secret" in declaration), `${key} is not declared secret`);
  }
});

test("the program reads the defaults Pulumi hands it as it reads keys left unset", () => {
  const { config } = validRequest();
  assert.deepEqual(
    loadSettings(configSource(withDeclaredDefaults(config)), PROJECT_DIR),
    loadSettings(configSource(config), PROJECT_DIR),
  );
});

test("a required key left unset, handed over as its empty default, gets the program's message with the command that sets it", () => {
  const { config } = validRequest({ adminUsername: undefined });
  assert.throws(
    () => loadSettings(configSource(withDeclaredDefaults(config)), PROJECT_DIR),
    (err: ConfigError) =>
      isDeepStrictEqual(err.problems, [
        "flowproxy-staging:adminUsername is required but not set. Example: pulumi config set flowproxy-staging:adminUsername 'azureuser'",
      ]),
  );
});
