// The bash each extension carries: valid, shellcheck-clean, and holding every value literally.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { before, describe, test } from "node:test";
import { hookScript } from "../../../lib/provision";
import { decodeScript, Evaluation, PROJECT_DIR } from "../../../plan/evaluation";
import { shellcheck, spawnAsync } from "../../support/processes";
import { EVERY_OPTION, evaluated, everyOptionRequest, validRequest } from "../../support/program";

function scriptOf(result: Evaluation, vm: string): string {
  return decodeScript(result.extensions.find((e) => e.vmName === vm)!.script);
}

const run = (command: string, args: string[], input?: string) => spawnAsync(command, args, { input });

/** Runs a script without its final call to main (so only definitions run) and returns its variables. */
async function variablesOf(script: string): Promise<Record<string, string>> {
  const block = script.replace(/^main "\$@"\n$/m, "");
  assert.notEqual(block, script, "the script ends by calling main");
  // The program's values are the quoted assignments; files carried inside them hold lines that look alike.
  const names = [...script.matchAll(/^readonly ([A-Z_0-9]+)='/gm)].map((m) => m[1]);
  const dump = names.map((n) => `printf '%s\\0%s\\0' ${n} "$${n}"`).join("\n");
  const child = await run("bash", ["-c", `${block}\n${dump}`]);
  assert.equal(child.status, 0, child.stderr);
  const parts = child.stdout.split("\0");
  const vars: Record<string, string> = {};
  for (let i = 0; i + 1 < parts.length; i += 2) vars[parts[i]] = parts[i + 1];
  return vars;
}

// The checks only read the evaluations and run side by side: shellcheck takes seconds a script.
describe("rendered provisioning scripts", { concurrency: true }, () => {
  let stackKeys: Evaluation;
  let withoutClickhouse: Evaluation;
  let vmKeys: Evaluation;
  before(async () => {
    [stackKeys, withoutClickhouse, vmKeys] = await Promise.all([
      evaluated(everyOptionRequest()),
      evaluated(validRequest({ flowProxyGeneration: "2" })),
      evaluated(validRequest({ signerKeySource: "vm" })),
    ]);
  });
  const cases: [string, () => Evaluation, string][] = [
    ["vm-builderhub", () => stackKeys, "BuilderHub"],
    ["vm-eastus", () => stackKeys, "east, stack keys"],
    ["vm-westeurope", () => stackKeys, "west, stack keys"],
    ["vm-eastus", () => vmKeys, "east, keys made on the VM"],
  ];

  for (const [vm, result, label] of cases) {
    test(`${label}: passes bash -n`, async () => {
      const child = await run("bash", ["-n"], scriptOf(result(), vm));
      assert.equal(child.status, 0, child.stderr);
    });

    test(`${label}: passes shellcheck`, async () => {
      const child = await shellcheck("bash", scriptOf(result(), vm));
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

  test("holds every value the FlowProxy VM needs", async () => {
    const vars = await variablesOf(scriptOf(stackKeys, "vm-eastus"));
    assert.equal(vars.VM_NAME, "vm-eastus");
    assert.equal(vars.HAPROXY_IMAGE, "haproxy:3.0.6");
    assert.equal(vars.HAPROXY_CFG, fs.readFileSync("haproxy.cfg", "utf8"));
    assert.equal(vars.FLOWPROXY_UNIT, fs.readFileSync("flowproxy@.service", "utf8"));
    assert.equal(vars.ARTIFACT_URL, "https://api.github.com/repos/flashbots/flowproxy/actions/artifacts/5678/zip");
    assert.equal(vars.BUILDERHUB_ENDPOINT, "http://builderhub.flowproxy.internal:3000");
    assert.match(vars.FLOWPROXY_ENV, /^BUILDERHUB_ENDPOINT=http:\/\/builderhub\.flowproxy\.internal:3000$/m);
    assert.equal(
      vars.CERT_SANS,
      "DNS:localhost,IP:127.0.0.1,IP:10.10.1.4,DNS:vm-eastus.flowproxy.internal,DNS:vm-eastus.mockguid.bx.internal.cloudapp.net,IP:203.0.113.10",
    );
    assert.match(vars.SIGNER_KEY, /^0x[0-9a-f]{64}$/);
    assert.equal(vars.SIGNER_ADDRESS, stackKeys.outputs.eastSignerAddress.value);
    assert.equal(vars.GITHUB_TOKEN, EVERY_OPTION.githubToken);
    assert.equal(vars.TAILSCALE_AUTH_KEY, EVERY_OPTION.tailscaleAuthKey);
    assert.equal(vars.CLICKHOUSE_PASSWORD, EVERY_OPTION.clickhousePassword);
    assert.equal(vars.FLOWPROXY_LIVEZ_URL, "http://127.0.0.1:5543/livez");
    assert.equal(vars.REGISTRATION_HOOK, hookScript(PROJECT_DIR, "flowproxy-register.sh"));
  });

  test("gives FlowProxy the whole ClickHouse group when ClickHouse is configured", async () => {
    const vars = await variablesOf(scriptOf(stackKeys, "vm-eastus"));
    assert.match(vars.FLOWPROXY_ENV, /^CLICKHOUSE_HOST=https:\/\/clickhouse\.example\.com:8443$/m);
    assert.match(vars.FLOWPROXY_ENV, /^CLICKHOUSE_DATABASE=buildernet$/m);
    assert.match(
      vars.FLOWPROXY_ENV,
      /^CLICKHOUSE_BACKUP_DISK_DATABASE_PATH=\/var\/lib\/flowproxy\/clickhouse-backup\.db$/m,
    );
    assert.equal(vars.CLICKHOUSE_USERNAME, "flowproxy");
    assert.equal(vars.CLICKHOUSE_PASSWORD, "SECRETclickhousePASSWORD");
  });

  test("gives FlowProxy no ClickHouse variable at all when ClickHouse is not configured", async () => {
    const vars = await variablesOf(scriptOf(withoutClickhouse, "vm-eastus"));
    assert.doesNotMatch(vars.FLOWPROXY_ENV, /CLICKHOUSE_/);
    assert.doesNotMatch(vars.FLOWPROXY_UNIT, /CLICKHOUSE_/);
    assert.equal(vars.CLICKHOUSE_USERNAME, "");
  });

  test("passes the system API generation to the FlowProxy VMs: HTTP for 1, TCP for 2", async () => {
    const first = await variablesOf(scriptOf(stackKeys, "vm-eastus"));
    const second = await variablesOf(scriptOf(withoutClickhouse, "vm-eastus"));
    const systemApi = (vars: Record<string, string>) =>
      /^FLOWPROXY_SYSTEM_API=(.*)$/m.exec(vars.HAPROXY_ENVIRONMENT)?.[1];
    assert.deepEqual([first.FLOWPROXY_GENERATION, systemApi(first)], ["1", "http"]);
    assert.deepEqual([second.FLOWPROXY_GENERATION, systemApi(second)], ["2", "tcp"]);
  });

  test("pins the BuilderHub mock image to a release, not latest", async () => {
    assert.equal((await variablesOf(scriptOf(stackKeys, "vm-builderhub"))).MOCKHUB_IMAGE, "mempirate/mockhub:v0.0.6");
  });

  for (const file of ["flowproxy-register.sh", "builderhub-prune.sh", "builderhub-listing.sh"]) {
    test(`${file}, as the VMs install it, passes bash -n and shellcheck`, async () => {
      const hook = hookScript(PROJECT_DIR, file);
      assert.equal((await run("bash", ["-n"], hook)).status, 0);
      const child = await shellcheck("bash", hook);
      assert.equal(child.status, 0, child.stdout);
    });

    test(`${file}, as the VMs install it, reads its settings with read_settings written in, sourcing nothing`, () => {
      const hook = hookScript(PROJECT_DIR, file);
      assert.match(hook, /^read_settings\(\) \{$/m);
      assert.doesNotMatch(hook, /^\s*(source|\.) /m);
    });
  }

  test("a hook that does not source hook-settings.sh is refused with the line it needs", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-hook-"));
    fs.mkdirSync(path.join(dir, "provision"));
    fs.writeFileSync(path.join(dir, "provision", "loose-hook.sh"), "#!/bin/bash\nread_settings /etc/x A\n");
    assert.throws(
      () => hookScript(dir, "loose-hook.sh"),
      /provision\/loose-hook\.sh does not source hook-settings\.sh/,
    );
  });

  test("gives BuilderHub the fleet and the hook and units that keep mockhub to it", async () => {
    const vars = await variablesOf(scriptOf(stackKeys, "vm-builderhub"));
    assert.equal(vars.FLEET, "vm-eastus 10.10.1.4\nvm-westeurope 10.20.1.4\n");
    assert.equal(vars.PRUNE_HOOK, hookScript(PROJECT_DIR, "builderhub-prune.sh"));
    assert.equal(vars.PRUNE_SERVICE_UNIT, fs.readFileSync("provision/builderhub-prune.service", "utf8"));
    assert.equal(vars.PRUNE_TIMER_UNIT, fs.readFileSync("provision/builderhub-prune.timer", "utf8"));
  });

  test("records each run for pnpm run verify: running from its start, then its status and last line", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-last-run-"));
    const runDir = path.join(dir, "download", "7");
    fs.mkdirSync(runDir, { recursive: true });
    // The script's own definitions, keeping its state in `dir`; each case is one run of `provision`.
    const definitions = scriptOf(stackKeys, "vm-eastus")
      .replace(/^main "\$@"\n$/m, "")
      .replace(/^readonly STATE_DIR='\/var\/lib\/flowproxy-provision'$/m, `readonly STATE_DIR=${dir}/state`)
      .replace(
        /^readonly LAST_RUN_FILE='\/var\/lib\/flowproxy-provision\/last-run'$/m,
        `readonly LAST_RUN_FILE=${dir}/state/last-run`,
      )
      .replace(/^readonly WORK_DIR='\/var\/lib\/flowproxy-provision\/work'$/m, `readonly WORK_DIR=${dir}/state/work`);
    const runWith = async (steps: string) => {
      const child = await spawnAsync("bash", ["-c", `${definitions}\n${steps}`], { cwd: runDir });
      const record = fs.readFileSync(path.join(dir, "state", "last-run"), "utf8");
      return {
        child,
        record: Object.fromEntries(
          record
            .trimEnd()
            .split("\n")
            .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
        ),
      };
    };
    try {
      const converged = await runWith("ensure_nothing() { :; }\nprovision ensure_nothing");
      assert.equal(converged.child.status, 0, converged.child.stderr);
      assert.deepEqual(
        { ...converged.record, at: "T" },
        { status: "0", at: "T", dir: runDir, line: converged.child.stdout.trimEnd().split("\n").pop() },
      );
      assert.match(converged.record.line, /^provisioning of vm-eastus converged in \d+\.\d{3} s$/);
      assert.match(converged.record.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      const failed = await runWith(
        'ensure_tag() { die "docker pull haproxy:9 failed: manifest unknown"; }\nprovision ensure_tag',
      );
      assert.equal(failed.child.status, 1);
      const reason = "FAILED: vm-eastus, step 1/1 (ensure tag): docker pull haproxy:9 failed: manifest unknown";
      assert.equal(failed.record.status, "1");
      assert.equal(failed.record.line, reason);
      assert.equal(
        failed.child.stdout.trimEnd().split("\n").pop(),
        reason,
        "the failure stays the last line Azure shows",
      );
      assert.equal(failed.child.stderr.trimEnd().split("\n").pop(), reason);

      const killed = await runWith("ensure_power_loss() { kill -KILL $$; }\nprovision ensure_power_loss");
      assert.equal(killed.child.signal, "SIGKILL");
      assert.deepEqual([killed.record.status, killed.record.line], ["running", "provisioning of vm-eastus started"]);
      assert.equal(fs.statSync(path.join(dir, "state", "last-run")).mode & 0o777, 0o600);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
