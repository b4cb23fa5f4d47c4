// Runs a CustomScript extension in a sandbox VM the way Azure's CustomScript 2.1 handler does: the
// base64 script (gunzipped if it is gzip) becomes script.sh, mode 0500, in
// /var/lib/waagent/custom-script/download/<seq>/, run as root by `/bin/sh -c ./script.sh` in that
// directory with stdout and stderr going to files there. It runs as a service of the VM's systemd,
// as waagent's children do, so it sees the same bare environment (no HOME, no terminal).
// What Azure would report comes back: exit status, duration and the last 4 KiB of each stream.
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import { CUSTOM_SCRIPT_DOWNLOADS } from "../../lib/contract";
import { decodeScript, ExtensionInfo } from "../../plan/evaluation";
import { statePaths } from "../base/paths";
import { Vm } from "../base/topology";
import { sleep } from "../base/proc";
import { vmCheck, vmExec } from "../machines/vm";

/** Azure shows this much of the end of stdout and of stderr in the extension status. */
const STATUS_TAIL_BYTES = 4096;
/** The handler refuses a larger script setting. */
const MAX_SCRIPT_BASE64 = 256 * 1024;
const DEFAULT_EXTENSION_TIMEOUT_MS = 10 * 60 * 1000;

export interface ExtensionRun {
  vmName: string;
  seq: number;
  /** The script's exit status; null when it did not exit by itself (killed, timed out, refused). */
  exitCode: number | null;
  /** systemd's result for the run: "success", "exit-code", "timeout", "signal", ... */
  result: string;
  durationMs: number;
  stdoutTail: string;
  stderrTail: string;
  forceUpdateTag: string;
  /**
   * Whether the settings differ from this VM's previous run. Azure reruns an extension only then;
   * the sandbox reruns on every `up`, which is how the suite proves reruns are harmless.
   */
  settingsChanged: boolean;
}

function settingsDigest(extension: ExtensionInfo): string {
  return createHash("sha256")
    .update(JSON.stringify([extension.script, extension.publicSettings, extension.forceUpdateTag]))
    .digest("hex");
}

interface RunRecord {
  seq: number;
  settingsDigest: string;
  exitCode: number | null;
  result: string;
  durationMs: number;
  at: string;
}

export function runHistory(vm: Vm): RunRecord[] {
  const file = statePaths.vm(vm.name).extensionRuns;
  if (!fs.existsSync(file)) {
    return [];
  }
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as RunRecord);
}

/** The next sequence number for this VM, persisted before the run so numbers are never reused. */
function nextSeq(vm: Vm): number {
  const file = statePaths.vm(vm.name).extensionSeq;
  const seq = fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8")) + 1 : 0;
  fs.writeFileSync(file, String(seq));
  return seq;
}

/** Parses `systemd-run --wait`'s summary, e.g. "Finished with result: exit-code". */
function systemdResult(stderr: string): string {
  return /Finished with result: (\S+)/.exec(stderr)?.[1] ?? "unknown";
}

export interface RunExtensionOptions {
  timeoutMs?: number;
  /**
   * Kill every process of the run (SIGKILL to the unit's cgroup) as soon as its stdout shows the
   * step with this title starting (e.g. "ensure flowproxy build checked"): what a VM that loses power or
   * an agent that gives up does to a run midway.
   */
  killAtStep?: string;
  /** With killAtStep: kill only once this also holds (e.g. a download has begun), checked every 100 ms. */
  killWhen?: () => boolean | Promise<boolean>;
}

const KILL_POLL_MS = 100;

/** Waits until the run's stdout shows the step starting and `ready` holds, then kills the run; gives up when it ends. */
async function killAtStep(
  vm: Vm,
  unit: string,
  stdoutFile: string,
  title: string,
  ready: () => boolean | Promise<boolean>,
  finished: () => boolean,
): Promise<void> {
  // The script prints "[N/M] <title>" when a step starts.
  const line = `\\[[0-9]+/[0-9]+\\] ${title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`;
  let stepStarted = false;
  while (!finished()) {
    stepStarted ||= (await vmExec(vm, ["grep", "-qxE", line, stdoutFile])).code === 0;
    if (stepStarted && (await ready())) {
      await vmExec(vm, ["systemctl", "kill", "--signal=SIGKILL", unit]);
      return;
    }
    await sleep(KILL_POLL_MS);
  }
}

/**
 * Whether Azure would run this configuration on the VM: CustomScript runs a configuration (settings,
 * protected settings, forceUpdateTag) once, and never an identical one again, not even after it failed.
 */
export function configurationIsNew(vm: Vm, extension: ExtensionInfo): boolean {
  const history = runHistory(vm);
  return history.length === 0 || history[history.length - 1].settingsDigest !== settingsDigest(extension);
}

export async function runExtension(
  vm: Vm,
  extension: ExtensionInfo,
  options: RunExtensionOptions = {},
): Promise<ExtensionRun> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_EXTENSION_TIMEOUT_MS;
  const digest = settingsDigest(extension);
  const settingsChanged = configurationIsNew(vm, extension);
  const seq = nextSeq(vm);
  const dir = `${CUSTOM_SCRIPT_DOWNLOADS}/${seq}`;
  const started = Date.now();
  const finish = async (exitCode: number | null, result: string): Promise<ExtensionRun> => {
    const tail = async (file: string) =>
      (await vmExec(vm, ["tail", "-c", String(STATUS_TAIL_BYTES), `${dir}/${file}`])).stdout;
    const run: ExtensionRun = {
      vmName: vm.name,
      seq,
      exitCode,
      result,
      durationMs: Date.now() - started,
      stdoutTail: await tail("stdout"),
      stderrTail: await tail("stderr"),
      forceUpdateTag: extension.forceUpdateTag,
      settingsChanged,
    };
    const record: RunRecord = {
      seq,
      settingsDigest: digest,
      exitCode,
      result,
      durationMs: run.durationMs,
      at: new Date().toISOString(),
    };
    fs.appendFileSync(statePaths.vm(vm.name).extensionRuns, `${JSON.stringify(record)}\n`);
    return run;
  };

  await vmCheck(vm, ["install", "-d", "-m", "0700", dir]);
  if (extension.script.length > MAX_SCRIPT_BASE64) {
    const message = `the script setting has ${extension.script.length} characters of base64; the handler takes at most ${MAX_SCRIPT_BASE64}`;
    await vmCheck(vm, ["sh", "-c", 'printf "%s\\n" "$2" > "$1/stderr" && : > "$1/stdout"', "sh", dir, message]);
    return finish(null, "refused");
  }
  await vmCheck(vm, ["sh", "-c", `umask 077 && cat > ${dir}/script.sh && chmod 0500 ${dir}/script.sh`], {
    input: decodeScript(extension.script),
  });
  const unit = `custom-script-${seq}-${randomBytes(3).toString("hex")}`;
  let ended = false;
  const killer =
    options.killAtStep === undefined
      ? Promise.resolve()
      : killAtStep(vm, unit, `${dir}/stdout`, options.killAtStep, options.killWhen ?? (() => true), () => ended);
  const outcome = await vmExec(
    vm,
    [
      "systemd-run",
      "--wait",
      "--collect",
      `--unit=${unit}`,
      "--description=CustomScript extension (sandbox)",
      `--property=WorkingDirectory=${dir}`,
      `--property=StandardOutput=file:${dir}/stdout`,
      `--property=StandardError=file:${dir}/stderr`,
      `--property=RuntimeMaxSec=${Math.ceil(timeoutMs / 1000)}`,
      "/bin/sh",
      "-c",
      "./script.sh",
    ],
    // systemd-run ends the unit at RuntimeMaxSec; this is only a backstop.
    { timeoutMs: timeoutMs + 60_000 },
  );
  ended = true;
  await killer;
  const result = systemdResult(outcome.stderr);
  const exited = /code=exited, status=(\d+)/.exec(outcome.stderr);
  return finish(exited ? Number(exited[1]) : null, result);
}
