// How the sandbox finds the daemons it started (sandbox/base/proc.ts): by the PID it recorded, and only
// while that process's command line still names the daemon.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, test } from "node:test";
import { livePid, sleep, startDaemon, stopDaemon } from "../../../../sandbox/base/proc";
import { scratchDir } from "../../../support/scratch";

const dir = scratchDir("sandbox-proc-");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const MARKER = "sandbox-proc-test-daemon";

/** A daemon that, like `ip netns exec … node relay.js`, execs once more before it runs its program. */
function startExecingDaemon(name: string): { pid: number; pidFile: string } {
  const pidFile = path.join(dir, `${name}.pid`);
  const pid = startDaemon("env", ["sh", "-c", "sleep 30", MARKER], { logFile: path.join(dir, `${name}.log`), pidFile });
  return { pid, pidFile };
}

test("a daemon is found by its recorded PID from the moment it starts, through the exec of its program", async () => {
  // The kernel shows an empty command line while an exec is under way; a check that took that for
  // "gone" missed up to one start in twelve here.
  const missed: number[] = [];
  for (let i = 0; i < 300; i++) {
    const { pid, pidFile } = startExecingDaemon(`execing-${i}`);
    for (let read = 0; read < 3; read++) {
      if (livePid(pidFile, MARKER) !== pid) {
        missed.push(i);
      }
    }
    process.kill(pid, "SIGKILL");
  }
  assert.deepEqual(missed, []);
});

test("a recorded PID that now runs another program is not the daemon", () => {
  const pidFile = path.join(dir, "recycled.pid");
  fs.writeFileSync(pidFile, `${process.pid}\n`);
  assert.equal(livePid(pidFile, MARKER), undefined);
});

test("a stopped daemon is gone, and its PID file with it", async () => {
  const { pid, pidFile } = startExecingDaemon("stopped");
  assert.equal(livePid(pidFile, MARKER), pid);
  assert.equal(await stopDaemon(pidFile, MARKER, 5000), true);
  assert.equal(livePid(pidFile, MARKER), undefined);
  assert.equal(fs.existsSync(pidFile), false);
  assert.equal(await stopDaemon(pidFile, MARKER, 5000), false);
});

/** Whether the kernel still has a process `pid` (a zombie counts), asked without sandbox/base/proc.ts. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

test("a daemon that has exited is refused, though its PID file still names it", async () => {
  const pidFile = path.join(dir, "exited.pid");
  const pid = startDaemon("env", ["sh", "-c", "sleep 1; exit 0", MARKER], {
    logFile: path.join(dir, "exited.log"),
    pidFile,
  });
  assert.equal(livePid(pidFile, MARKER), pid, "found while it runs");
  // Node reaps its children, so the PID disappears soon after the exit; the kernel is asked
  // directly, so the wait does not depend on the code under test.
  const deadline = Date.now() + 10_000;
  while (processExists(pid)) {
    assert.ok(Date.now() < deadline, `the daemon (PID ${pid}, a 1 s sleep) still existed after 10 s`);
    await sleep(20);
  }
  assert.equal(fs.readFileSync(pidFile, "utf8").trim(), String(pid), "the PID file still names the daemon");
  assert.equal(livePid(pidFile, MARKER), undefined);
});
