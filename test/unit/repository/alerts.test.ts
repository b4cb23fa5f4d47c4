// The alert rules (monitoring/alerts.yml) under promtool, Debian's build of Prometheus's own rule
// tester (package prometheus, installed by bootstrap/bootstrap.sh): every case of
// monitoring/alerts.test.yml passes, and every rule has a case that fires it and one that does not.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { ALERT_RULES_FILE } from "../../../lib/monitoring";
import { PROJECT_DIR } from "../../../plan/evaluation";
import { belowNormalPriority, spawnAsync } from "../../support/processes";

const TESTS_FILE = path.join(PROJECT_DIR, "monitoring", "alerts.test.yml");

interface RuleFile {
  groups: { rules: { alert?: string }[] }[];
}
interface TestFile {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const rules = parse(fs.readFileSync(path.join(PROJECT_DIR, ALERT_RULES_FILE), "utf8")) as RuleFile;
const cases = parse(fs.readFileSync(TESTS_FILE, "utf8")) as TestFile;
const alertNames = rules.groups
  .flatMap((g) => g.rules.map((r) => r.alert))
  .filter((name): name is string => name !== undefined);

test("promtool passes every test case of the alert rules", async () => {
  const { status, stdout, stderr } = await spawnAsync(
    ...belowNormalPriority("promtool", ["test", "rules", path.basename(TESTS_FILE)]),
    {
      cwd: path.dirname(TESTS_FILE),
    },
  );
  assert.equal(status, 0, `promtool test rules ${path.basename(TESTS_FILE)}:\n${stdout}${stderr}`);
});

test("promtool accepts the alert rules as Prometheus loads them", async () => {
  const { status, stdout, stderr } = await spawnAsync("promtool", ["check", "rules", ALERT_RULES_FILE], {
    cwd: PROJECT_DIR,
  });
  assert.equal(status, 0, stdout + stderr);
});

test("every alert rule has a test case that fires it and one that does not", () => {
  assert.deepEqual(cases.rule_files, [path.basename(ALERT_RULES_FILE)]);
  const checks = cases.tests.flatMap((t) => t.alert_rule_test ?? []);
  const missing = alertNames.flatMap((name) => {
    const own = checks.filter((c) => c.alertname === name);
    return [
      ...(own.some((c) => c.exp_alerts.length > 0) ? [] : [`${name}: no case that fires it`]),
      ...(own.some((c) => c.exp_alerts.length === 0) ? [] : [`${name}: no case in which it stays silent`]),
    ];
  });
  assert.deepEqual(missing, []);
  assert.deepEqual(
    checks.map((c) => c.alertname).filter((name) => !alertNames.includes(name)),
    [],
    "cases for rules alerts.yml does not have",
  );
});
