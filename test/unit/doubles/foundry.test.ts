// The Foundry installer double against foundry-rs/foundryup foundryup-init.sh at ae2e0ee: its
// `set -eu` and ${XDG_CONFIG_HOME:-$HOME}, FOUNDRY_DIR, and its exit on a failed step.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { shellcheck, spawnAsync } from "../../support/processes";
import { scratchDir } from "../../support/scratch";

const INSTALLER = path.join(__dirname, "..", "..", "doubles", "foundry-install.sh");

/** A scratch directory with a curl stand-in that writes a foundryup to --output (or fails). */
function scratch(curlWorks = true): { dir: string; bin: string } {
  const dir = scratchDir("foundry-install-");
  const bin = path.join(dir, "stub-bin");
  fs.mkdirSync(bin);
  const curl = curlWorks
    ? 'while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done\nprintf "#!/bin/sh\\necho foundryup\\n" > "$out"\n'
    : 'echo "curl: (22) The requested URL returned error: 404" >&2\nexit 22\n';
  fs.writeFileSync(path.join(bin, "curl"), `#!/bin/sh\n${curl}`, { mode: 0o755 });
  return { dir, bin };
}

/** Runs the installer as `env -u HOME [NAME=VALUE...] <shell> foundry-install.sh` with a clean environment. */
function install(shell: string, bin: string, env: Record<string, string>, unsetHome: boolean) {
  const args = [...(unsetHome ? ["-u", "HOME"] : []), shell, INSTALLER];
  return spawnAsync("env", args, { env: { PATH: `${bin}:/usr/bin:/bin`, HOME: "/nonexistent-home", ...env } });
}

// Upstream: foundryup-init.sh `set -eu`, then BASE_DIR="${XDG_CONFIG_HOME:-$HOME}" before FOUNDRY_DIR.
test("under bash, without HOME the installer stops with 'HOME: unbound variable', even with FOUNDRY_DIR set", async () => {
  const { dir, bin } = scratch();
  const result = await install("bash", bin, { FOUNDRY_DIR: path.join(dir, "foundry") }, true);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /HOME: unbound variable/);
  assert.equal(fs.existsSync(path.join(dir, "foundry")), false);
});

// Upstream: foundryup-init.sh is `#!/bin/sh` with `set -eu`; Debian's sh is dash.
test("under sh (dash), without HOME the installer stops with 'HOME: parameter not set'", async () => {
  const { dir, bin } = scratch();
  const result = await install("sh", bin, { FOUNDRY_DIR: path.join(dir, "foundry") }, true);
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /HOME: parameter not set/);
});

// Upstream: foundryup-init.sh FOUNDRYUP_BIN_DIR="$FOUNDRY_DIR/bin", FOUNDRY_DIR from the environment.
test("with HOME set it installs foundryup into $FOUNDRY_DIR/bin", async () => {
  const { dir, bin } = scratch();
  const result = await install("bash", bin, { HOME: dir, FOUNDRY_DIR: path.join(dir, "opt-foundry") }, false);
  assert.equal(result.status, 0, result.stderr);
  fs.accessSync(path.join(dir, "opt-foundry", "bin", "foundryup"), fs.constants.X_OK);
});

// Upstream: foundryup-init.sh FOUNDRY_DIR="${FOUNDRY_DIR:-$BASE_DIR/.foundry}".
test("without FOUNDRY_DIR it installs into $HOME/.foundry/bin", async () => {
  const { dir, bin } = scratch();
  const result = await install("bash", bin, { HOME: dir }, false);
  assert.equal(result.status, 0, result.stderr);
  fs.accessSync(path.join(dir, ".foundry", "bin", "foundryup"), fs.constants.X_OK);
});

// Upstream: foundryup-init.sh ${XDG_CONFIG_HOME:-$HOME} does not expand $HOME when XDG_CONFIG_HOME is set.
test("XDG_CONFIG_HOME stands in for a missing HOME", async () => {
  const { dir, bin } = scratch();
  const result = await install("bash", bin, { XDG_CONFIG_HOME: dir }, true);
  assert.equal(result.status, 0, result.stderr);
  fs.accessSync(path.join(dir, ".foundry", "bin", "foundryup"), fs.constants.X_OK);
});

// Upstream: foundryup-init.sh `ensure` and `err`: a failed step exits 1 with "foundryup-init: ..." on stderr.
test("a failed download ends the installer with status 1 and a foundryup-init: reason", async () => {
  const { dir, bin } = scratch(false);
  const result = await install("bash", bin, { HOME: dir }, false);
  assert.equal(result.status, 1);
  assert.match(
    result.stderr,
    /^foundryup-init: command failed: fetch https:\/\/raw\.githubusercontent\.com\/foundry-rs\/foundry\/HEAD\/foundryup\/foundryup /m,
  );
  assert.equal(fs.existsSync(path.join(dir, ".foundry", "bin", "foundryup")), false);
});

// Upstream: foundryup-init.sh is POSIX sh (`#!/bin/sh`, shellcheck shell=dash).
test("the installer double is POSIX sh and shellcheck-clean", async () => {
  const result = await shellcheck("sh", fs.readFileSync(INSTALLER, "utf8"));
  assert.equal(result.status, 0, result.stdout);
});
