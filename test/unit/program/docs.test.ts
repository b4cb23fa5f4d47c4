// The documented configuration matches what the program reads.
import assert from "node:assert/strict";
import * as fs from "fs";
import { test } from "node:test";
import { CONFIG_KEYS } from "../../../lib/config";

const readme = fs.readFileSync("README.md", "utf8");
const example = fs.readFileSync("Pulumi.dev.example.yaml", "utf8");

test("the README's config table lists every key with its required and secret flags", () => {
  for (const spec of CONFIG_KEYS) {
    const row = readme.split("\n").find((line) => line.startsWith(`| \`${spec.key}\` |`));
    assert.ok(row, `README lists ${spec.key}`);
    const [, , required, secret] = row.split("|").map((c) => c.trim());
    assert.equal(required, spec.required ? "yes" : "no", `${spec.key} required`);
    assert.equal(secret, spec.secret ? "yes" : "no", `${spec.key} secret`);
  }
});

test("Pulumi.dev.example.yaml mentions every key and stores no secret value", () => {
  for (const spec of CONFIG_KEYS) assert.ok(example.includes(`flowproxy-staging:${spec.key}`), `example mentions ${spec.key}`);
  for (const spec of CONFIG_KEYS.filter((k) => k.secret)) {
    assert.doesNotMatch(example, new RegExp(`^\\s+flowproxy-staging:${spec.key}:`, "m"), `${spec.key} is not set in the file`);
  }
});
