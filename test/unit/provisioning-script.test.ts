// The bash each extension carries: valid, shellcheck-clean, and holding every value literally.
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, test } from "node:test";
import { firstBootProblems, waitForHeldLock } from "../support/azure-readiness";
import { decodeScript, renderStack, validRequest, withEditedProject } from "../support/stack";
import type { RenderResult } from "../support/render-stack";

function scriptOf(result: RenderResult, vm: string): string {
  return decodeScript(result.extensions.find((e) => e.vmName === vm)!.script);
}

function run(command: string, args: string[], input?: string) {
  const child = spawnSync(command, args, { input, encoding: "utf8" });
  if (child.error) throw new Error(`${command} is not installed: ${child.error.message}`);
  return child;
}

/** Runs a script without its final call to main (so only definitions run) and returns its variables. */
function variablesOf(script: string): Record<string, string> {
  const block = script.replace(/^main "\$@"\n$/m, "");
  assert.notEqual(block, script, "the script ends by calling main");
  // The program's values are the quoted assignments; files carried inside them hold lines that look alike.
  const names = [...script.matchAll(/^readonly ([A-Z_0-9]+)='/gm)].map((m) => m[1]);
  const dump = names.map((n) => `printf '%s\\0%s\\0' ${n} "$${n}"`).join("\n");
  const child = run("bash", ["-c", `${block}\n${dump}`]);
  assert.equal(child.status, 0, child.stderr);
  const parts = child.stdout.split("\0");
  const vars: Record<string, string> = {};
  for (let i = 0; i + 1 < parts.length; i += 2) vars[parts[i]] = parts[i + 1];
  return vars;
}

describe("rendered provisioning scripts", () => {
  const clickhouse = { clickhouseHost: "https://ch.example.com:8443", clickhouseDatabase: "bn", clickhouseUsername: "fp", clickhousePassword: "pw-123" };
  const stackKeys = renderStack(validRequest({ tailscaleAuthKey: "tskey-auth-abc", ...clickhouse }));
  const withoutClickhouse = renderStack(validRequest({ flowProxyGeneration: "2" }));
  const vmKeys = renderStack(validRequest({ signerKeySource: "vm" }));
  const cases: [string, RenderResult, string][] = [
    ["vm-builderhub", stackKeys, "BuilderHub"],
    ["vm-eastus", stackKeys, "east, stack keys"],
    ["vm-westeurope", stackKeys, "west, stack keys"],
    ["vm-eastus", vmKeys, "east, keys made on the VM"],
  ];

  for (const [vm, result, label] of cases) {
    test(`${label}: passes bash -n`, () => {
      const child = run("bash", ["-n"], scriptOf(result, vm));
      assert.equal(child.status, 0, child.stderr);
    });

    test(`${label}: passes shellcheck`, () => {
      const child = run("shellcheck", ["--shell=bash", "--severity=style", "-"], scriptOf(result, vm));
      assert.equal(child.status, 0, child.stdout);
    });
  }

  test("starts with a bash shebang, strict mode and a private umask", () => {
    const script = scriptOf(stackKeys, "vm-eastus");
    assert.ok(script.startsWith("#!/bin/bash\n"));
    assert.match(script, /^set -euo pipefail$/m);
    assert.match(script, /^umask 077$/m);
    assert.doesNotMatch(script, /set -x|set -o xtrace/);
  });

  test("holds every value the FlowProxy VM needs", () => {
    const vars = variablesOf(scriptOf(stackKeys, "vm-eastus"));
    assert.equal(vars.VM_NAME, "vm-eastus");
    assert.equal(vars.HAPROXY_IMAGE, "haproxy:3.0.6");
    assert.equal(vars.HAPROXY_CFG, fs.readFileSync("haproxy.cfg", "utf8"));
    assert.equal(vars.FLOWPROXY_UNIT, fs.readFileSync("flowproxy@.service", "utf8"));
    assert.equal(vars.ARTIFACT_URL, "https://api.github.com/repos/flashbots/flowproxy/actions/artifacts/5678/zip");
    assert.equal(vars.BUILDERHUB_ENDPOINT, "http://builderhub.flowproxy.internal:3000");
    assert.match(vars.FLOWPROXY_ENV, /^BUILDERHUB_ENDPOINT=http:\/\/builderhub\.flowproxy\.internal:3000$/m);
    assert.equal(vars.CERT_SANS, "DNS:localhost,IP:127.0.0.1,IP:10.10.1.4,DNS:vm-eastus.flowproxy.internal,DNS:vm-eastus.mockguid.bx.internal.cloudapp.net,IP:203.0.113.10");
    assert.match(vars.SIGNER_KEY, /^0x[0-9a-f]{64}$/);
    assert.equal(vars.SIGNER_ADDRESS, stackKeys.outputs.eastSignerAddress.value);
    assert.equal(vars.GITHUB_TOKEN, validRequest().config.githubToken);
    assert.equal(vars.TAILSCALE_AUTH_KEY, "tskey-auth-abc");
    assert.equal(vars.CLICKHOUSE_PASSWORD, "pw-123");
    assert.equal(vars.FLOWPROXY_LIVEZ_URL, "http://127.0.0.1:5543/livez");
    assert.equal(vars.REGISTRATION_HOOK, fs.readFileSync("provision/flowproxy-register.sh", "utf8"));
  });

  test("gives FlowProxy the whole ClickHouse group when ClickHouse is configured", () => {
    const vars = variablesOf(scriptOf(stackKeys, "vm-eastus"));
    assert.match(vars.FLOWPROXY_ENV, /^CLICKHOUSE_HOST=https:\/\/ch\.example\.com:8443$/m);
    assert.match(vars.FLOWPROXY_ENV, /^CLICKHOUSE_DATABASE=bn$/m);
    assert.match(vars.FLOWPROXY_ENV, /^CLICKHOUSE_BACKUP_DISK_DATABASE_PATH=\/var\/lib\/flowproxy\/clickhouse-backup\.db$/m);
    assert.equal(vars.CLICKHOUSE_USERNAME, "fp");
    assert.equal(vars.CLICKHOUSE_PASSWORD, "pw-123");
  });

  test("gives FlowProxy no ClickHouse variable at all when ClickHouse is not configured", () => {
    const vars = variablesOf(scriptOf(withoutClickhouse, "vm-eastus"));
    assert.doesNotMatch(vars.FLOWPROXY_ENV, /CLICKHOUSE_/);
    assert.doesNotMatch(vars.FLOWPROXY_UNIT, /CLICKHOUSE_/);
    assert.equal(vars.CLICKHOUSE_USERNAME, "");
  });

  test("passes the system API generation to the FlowProxy VMs: HTTP for 1, TCP for 2", () => {
    const first = variablesOf(scriptOf(stackKeys, "vm-eastus"));
    const second = variablesOf(scriptOf(withoutClickhouse, "vm-eastus"));
    assert.deepEqual([first.FLOWPROXY_GENERATION, first.FLOWPROXY_SYSTEM_API], ["1", "http"]);
    assert.deepEqual([second.FLOWPROXY_GENERATION, second.FLOWPROXY_SYSTEM_API], ["2", "tcp"]);
  });

  test("pins the BuilderHub mock image to a release, not latest", () => {
    assert.equal(variablesOf(scriptOf(stackKeys, "vm-builderhub")).MOCKHUB_IMAGE, "mempirate/mockhub:v0.0.6");
  });

  test("the registration hook passes bash -n and shellcheck", () => {
    const hook = fs.readFileSync("provision/flowproxy-register.sh", "utf8");
    assert.equal(run("bash", ["-n"], hook).status, 0);
    const child = run("shellcheck", ["--shell=bash", "--severity=style", "-"], hook);
    assert.equal(child.status, 0, child.stdout);
  });

  test("sets HOME, joins Tailscale with a timeout and without its DNS, and waits for every apt lock first", () => {
    for (const [vm, result, label] of cases) {
      assert.deepEqual(firstBootProblems(result.extensions.find((e) => e.vmName === vm)!.script), [], label);
    }
  });

  test("fails the step naming a held apt lock once the wait runs out", async () => {
    const east = stackKeys.extensions.find((e) => e.vmName === "vm-eastus")!.script;
    const wait = await waitForHeldLock(east, 30, 2);
    assert.equal(wait.status, 1, wait.stdout);
    assert.match(wait.stdout, new RegExp(`^  waiting for ${wait.lockFile}, which another apt or dpkg run holds$`, "m"));
    const last = wait.stdout.trimEnd().split("\n").pop() ?? "";
    assert.match(last, new RegExp(`^FAILED: vm-eastus, step 0/0 \\(ensure base packages\\): ${wait.lockFile} was still locked after [2-9]\\.\\d{3} s`));
  });

  test("goes on as soon as a held apt lock is free", async () => {
    const east = stackKeys.extensions.find((e) => e.vmName === "vm-eastus")!.script;
    const wait = await waitForHeldLock(east, 1, 30);
    assert.equal(wait.status, 0, wait.stdout);
    assert.match(wait.stdout, /apt's locks are free after \d+\.\d{3} s/);
  });

  test("records each run for pnpm run verify: running from its start, then its status and last line", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-last-run-"));
    const runDir = path.join(dir, "download", "7");
    fs.mkdirSync(runDir, { recursive: true });
    // The script's own definitions, keeping its state in `dir`; each case is one run of `provision`.
    const definitions = scriptOf(stackKeys, "vm-eastus")
      .replace(/^main "\$@"\n$/m, "")
      .replace(/^readonly STATE_DIR=\/var\/lib\/flowproxy-provision$/m, `readonly STATE_DIR=${dir}/state`);
    const runWith = (steps: string) => {
      const child = spawnSync("bash", ["-c", `${definitions}\n${steps}`], { cwd: runDir, encoding: "utf8" });
      const record = fs.readFileSync(path.join(dir, "state", "last-run"), "utf8");
      return { child, record: Object.fromEntries(record.trimEnd().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)])) };
    };
    try {
      const converged = runWith("ensure_nothing() { :; }\nprovision ensure_nothing");
      assert.equal(converged.child.status, 0, converged.child.stderr);
      assert.deepEqual({ ...converged.record, at: "T" }, { status: "0", at: "T", dir: runDir, line: converged.child.stdout.trimEnd().split("\n").pop() });
      assert.match(converged.record.line, /^provisioning of vm-eastus converged in \d+\.\d{3} s$/);
      assert.match(converged.record.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      const failed = runWith('ensure_tag() { die "docker pull haproxy:9 failed: manifest unknown"; }\nprovision ensure_tag');
      assert.equal(failed.child.status, 1);
      const reason = "FAILED: vm-eastus, step 1/1 (ensure tag): docker pull haproxy:9 failed: manifest unknown";
      assert.equal(failed.record.status, "1");
      assert.equal(failed.record.line, reason);
      assert.equal(failed.child.stdout.trimEnd().split("\n").pop(), reason, "the failure stays the last line Azure shows");
      assert.equal(failed.child.stderr.trimEnd().split("\n").pop(), reason);

      const killed = runWith("ensure_power_loss() { kill -KILL $$; }\nprovision ensure_power_loss");
      assert.equal(killed.child.signal, "SIGKILL");
      assert.deepEqual([killed.record.status, killed.record.line], ["running", "provisioning of vm-eastus started"]);
      assert.equal(fs.statSync(path.join(dir, "state", "last-run")).mode & 0o777, 0o600);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("carries hostile file content into bash literally", async () => {
    const hostile = "# it's $(touch /tmp/pwned) `id` \"quoted\" \\ and '\\'' too\nglobal\n";
    const result = await withEditedProject("haproxy.cfg", () => hostile, (projectDir) => renderStack({ ...validRequest(), projectDir }));
    assert.equal(variablesOf(scriptOf(result, "vm-eastus")).HAPROXY_CFG, hostile);
  });
});
