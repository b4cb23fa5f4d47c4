// The documented configuration matches what the program reads.
import assert from "node:assert/strict";
import * as fs from "fs";
import { test } from "node:test";
import { CONFIG_KEYS } from "../../../lib/config";
import { renderReadme } from "../../../plan/project-file";

const readme = fs.readFileSync("README.md", "utf8");
const example = fs.readFileSync("Pulumi.dev.example.yaml", "utf8");

test("the README's table of keys is the one pnpm run project-file generates from CONFIG_KEYS", () => {
  assert.equal(renderReadme(readme), readme, "run pnpm run project-file and commit README.md");
});

test("a README whose table shows another default, or lacks a key, is rewritten", () => {
  const otherDefault = readme.replace("| `Standard_B2s` |", "| `Standard_D2s_v5` |");
  const lacking = readme.replace(/^\| `provisioningRun` .*\n/m, "");
  for (const edited of [otherDefault, lacking]) {
    assert.notEqual(edited, readme);
    assert.equal(renderReadme(edited), readme);
  }
});

test("Pulumi.dev.example.yaml mentions every key and stores no secret value", () => {
  for (const spec of CONFIG_KEYS)
    assert.ok(example.includes(`flowproxy-staging:${spec.key}`), `example mentions ${spec.key}`);
  for (const spec of CONFIG_KEYS.filter((k) => k.secret)) {
    assert.doesNotMatch(
      example,
      new RegExp(`^\\s+flowproxy-staging:${spec.key}:`, "m"),
      `${spec.key} is not set in the file`,
    );
  }
});
