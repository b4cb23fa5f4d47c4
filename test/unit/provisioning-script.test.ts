// The bash each extension carries: valid, shellcheck-clean, and holding every value literally.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { after, describe, test } from "node:test";
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
  const names = [...script.matchAll(/^readonly ([A-Z_0-9]+)=/gm)].map((m) => m[1]);
  const dump = names.map((n) => `printf '%s\\0%s\\0' ${n} "$${n}"`).join("\n");
  const child = run("bash", ["-c", `${block}\n${dump}`]);
  assert.equal(child.status, 0, child.stderr);
  const parts = child.stdout.split("\0");
  const vars: Record<string, string> = {};
  for (let i = 0; i + 1 < parts.length; i += 2) vars[parts[i]] = parts[i + 1];
  return vars;
}

describe("rendered provisioning scripts", () => {
  const stackKeys = renderStack(validRequest({ tailscaleAuthKey: "tskey-auth-abc", clickhouseUsername: "fp", clickhousePassword: "pw-123" }));
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
  });

  test("sets HOME for the tools that read it, since the extension runs without one", () => {
    for (const [vm, result] of cases) {
      assert.match(scriptOf(result, vm), /^provision\(\) \{\n(?:.*\n)*?  export HOME=\$\{HOME:-\/root\}\n(?:.*\n)*?  run_steps "\$@"/m, vm);
    }
  });

  test("joins Tailscale with a timeout and leaves the VM's DNS alone, also on a VM that joined before", () => {
    const script = scriptOf(stackKeys, "vm-eastus");
    assert.match(script, /^readonly TAILSCALE_UP_TIMEOUT=120s$/m);
    const up = script.split("\n").filter((line) => /^\s*(if ! )?tailscale up /.test(line));
    assert.equal(up.length, 1);
    assert.match(up[0], / --accept-dns=false /);
    assert.match(up[0], / --timeout="\$TAILSCALE_UP_TIMEOUT"/);
    assert.match(script, /^\s+tailscale set --accept-dns=false \|\| die /m);
  });

  test("runs apt-get and Tailscale's installer only after waiting for every apt lock, the lists lock included", () => {
    const script = scriptOf(stackKeys, "vm-eastus");
    assert.match(script, /^readonly APT_LOCKS=\(\/var\/lib\/dpkg\/lock-frontend \/var\/lib\/dpkg\/lock \/var\/lib\/apt\/lists\/lock \/var\/cache\/apt\/archives\/lock\)$/m);
    const calls = script.split("\n").filter((line) => /\bapt_get(_when_free)? (update|install)/.test(line));
    assert.ok(calls.length >= 2);
    for (const line of calls) assert.match(line, /apt_get_when_free (update|install)/, line);
    assert.match(script, /wait_for_apt &&\n\s+sh "\$STATE_DIR\/tailscale-install.sh"/);
  });

  describe("waiting for a lock", () => {
    const definitions = scriptOf(stackKeys, "vm-eastus").replace(/^main "\$@"\n$/m, "");
    const lockDir = fs.mkdtempSync(path.join(os.tmpdir(), "apt-lock-"));
    const lockFile = path.join(lockDir, "lock");
    fs.writeFileSync(lockFile, "");
    after(() => fs.rmSync(lockDir, { recursive: true, force: true }));

    /**
     * Holds a lock on lockFile for `seconds`, as apt-daily would; resolves once the kernel lists it.
     * The holder runs in its own process group, so release() ends flock and its sleep together.
     */
    async function holdLock(seconds: number): Promise<{ release(): void }> {
      const holder = spawn("flock", [lockFile, "sleep", String(seconds)], { stdio: "ignore", detached: true });
      const { ino } = fs.statSync(lockFile);
      for (let i = 0; i < 100 && !fs.readFileSync("/proc/locks", "utf8").includes(`:${ino} `); i++) await new Promise((r) => setTimeout(r, 50));
      return {
        release: () => {
          try {
            process.kill(-holder.pid!, "SIGTERM");
          } catch {
            // It ended on its own.
          }
        },
      };
    }

    function waitForLocks(seconds: number) {
      const body = `${definitions}\ntrap report_failure EXIT\nSTEP_NAME=ensure_base_packages\nwait_for_locks ${seconds} "$1"\n`;
      return run("bash", ["-c", body, "bash", lockFile]);
    }

    test("fails the step naming the lock once the bound runs out", async () => {
      const holder = await holdLock(30);
      try {
        const child = waitForLocks(2);
        assert.equal(child.status, 1, child.stderr);
        assert.match(child.stdout, new RegExp(`^  waiting for ${lockFile}, which another apt or dpkg run holds$`, "m"));
        const last = child.stdout.trimEnd().split("\n").pop();
        assert.match(last ?? "", new RegExp(`^FAILED: vm-eastus, step 0/0 \\(ensure base packages\\): ${lockFile} was still locked after [23] s \\(cloud-init or apt-daily still running\\?\\)`));
      } finally {
        holder.release();
      }
    });

    test("goes on as soon as the lock is free", async () => {
      const holder = await holdLock(1);
      try {
        const child = waitForLocks(30);
        assert.equal(child.status, 0, child.stdout);
        assert.match(child.stdout, /apt's locks are free after [12] s/);
      } finally {
        holder.release();
      }
    });
  });

  test("carries hostile file content into bash literally", async () => {
    const hostile = "# it's $(touch /tmp/pwned) `id` \"quoted\" \\ and '\\'' too\nglobal\n";
    const result = await withEditedProject("haproxy.cfg", () => hostile, (projectDir) => renderStack({ ...validRequest(), projectDir }));
    assert.equal(variablesOf(scriptOf(result, "vm-eastus")).HAPROXY_CFG, hostile);
  });
});
