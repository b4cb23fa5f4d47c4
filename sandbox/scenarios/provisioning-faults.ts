// Faults injected into the running sandbox while vm-eastus's extension runs again, as Azure reruns
// it after a change. For each fault: what the extension reported (its last line), what kept
// serving (the public :443 probed from the host four times a second during the run; HAProxy's and
// FlowProxy's PIDs), and that nothing was lost (signer key, certificate, registration, binary and
// haproxy.cfg as before), then a rerun once the fault is cleared.
import * as fs from "fs";
import { PORTS, UNITS, VM_PATHS } from "../../lib/contract";
import { copyProject, Evaluation, ExtensionInfo } from "../../plan/evaluation";
import { FlowProxyBuild, GENERATION_1_BUILD, publishArtifact } from "../doubles";
import { ExtensionRun, runExtension } from "../extension";
import { setGithubFault } from "../internet";
import { changedFields, describeLoad, FlowproxyVmState, flowproxyVmState, livezLoad, LoadResult, servesLivez, setMockhubFault } from "../probe";
import { formatSeconds, lastNonEmptyLine } from "../proc";
import { evaluateSandboxStack } from "../sandbox";
import { artifactUrl, SANDBOX_ARTIFACT } from "../stack-config";
import { VMS } from "../topology";
import { vmExec } from "../vm";

const east = VMS.find((vm) => vm.role === "flowproxy")!;
/** The serving probe: 4 requests a second, bounded to 10 minutes of run. */
export const PROBE_RATE = 4;
const PROBE_MAX = PROBE_RATE * 600;

type Expectation =
  | { kind: "fails"; step: string; reason: RegExp }
  | { kind: "succeeds" }
  | { kind: "killed" };

export interface Fault {
  name: string;
  /** Makes the fault; returns the stack whose extension then runs (a new artifact, a changed file...). */
  inject: () => Promise<Evaluation>;
  clear: () => Promise<void>;
  expect: Expectation;
  killAtStep?: string;
  /** Whether :443 must answer 200 throughout the run. */
  keepsServing: boolean;
  /** State the fault may change: a crash-looping build replaces the binary it was given. */
  mayChange?: (keyof FlowproxyVmState)[];
  /** The stack to run once the fault is cleared (the committed one by default). */
  recoverWith?: () => Evaluation;
  /** More evidence, taken right after the faulty run. */
  inspect?: () => Promise<string>;
}

const extensionOf = (stack: Evaluation): ExtensionInfo => {
  const extension = stack.extensions.find((e) => e.vmName === east.name);
  if (!extension) throw new Error(`the rendered stack has no extension for ${east.name}`);
  return extension;
};

/** Renders the stack with the sandbox's artifact double `id` of this build. */
async function withArtifact(id: string, build: FlowProxyBuild): Promise<Evaluation> {
  const artifact = { ...SANDBOX_ARTIFACT, id, build };
  publishArtifact(artifact);
  return evaluateSandboxStack({ overrides: { flowProxyArtifact: artifactUrl(artifact) } });
}

/**
 * The faults, in the order they are played: the last puts the committed stack back. `committed`
 * is read only when a fault is played, so the list (and its names) exists before the sandbox does.
 */
export function provisioningFaults(committed: () => Evaluation): Fault[] {
  const asCommitted = async () => committed();
  const hub = (fault: "down" | "flap" | "slow") => async () => {
    await setMockhubFault(fault);
    return committed();
  };
  const clearHub = () => setMockhubFault(undefined);
  const registration = "ensure registered with builderhub";
  const binary = "ensure flowproxy build checked";
  const notRegistered = /BuilderHub at \S+ did not take the registration after 5 attempts/;
  const artifact = (fault: Parameters<typeof setGithubFault>[0], name: string, reason: RegExp): Fault => ({
    name,
    inject: async () => {
      const stack = await withArtifact("5", { ...GENERATION_1_BUILD, gitHash: "next005" });
      setGithubFault(fault);
      return stack;
    },
    clear: async () => setGithubFault(undefined),
    expect: { kind: "fails", step: binary, reason },
    keepsServing: true,
  });
  let invalidProject = "";
  let killedStack: Evaluation | undefined;
  return [
    {
      name: "BuilderHub down (connections closed unanswered)",
      inject: hub("down"),
      clear: clearHub,
      expect: { kind: "fails", step: registration, reason: notRegistered },
      keepsServing: true,
    },
    {
      name: "BuilderHub flapping (every other answer 503)",
      inject: hub("flap"),
      clear: clearHub,
      expect: { kind: "succeeds" },
      keepsServing: true,
    },
    {
      name: "BuilderHub slow (answers after 15 s; the script waits 10 s)",
      inject: hub("slow"),
      clear: clearHub,
      expect: { kind: "fails", step: registration, reason: notRegistered },
      keepsServing: true,
    },
    artifact("401", "new artifact refused (HTTP 401)", /GitHub refused the artifact \(HTTP 401\)/),
    artifact("404", "new artifact gone (HTTP 404)", /GitHub has no artifact at \S+ \(HTTP 404\)/),
    artifact("truncated", "new artifact truncated", /the artifact is not a valid zip/),
    artifact("corrupt", "new artifact corrupt (CRC errors)", /the artifact is not a valid zip/),
    artifact("no-binary", "new artifact without a flowproxy binary", /the artifact holds no file named flowproxy/),
    artifact("hang", "new artifact download hangs", /could not download the artifact from \S+ after 3 attempts/),
    {
      name: "invalid haproxy.cfg (a misspelt timeout)",
      inject: async () => {
        invalidProject = copyProject();
        const file = `${invalidProject}/haproxy.cfg`;
        fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("timeout client 30s", "timeout clinet 30s"));
        return evaluateSandboxStack({ projectDir: invalidProject });
      },
      clear: async () => fs.rmSync(invalidProject, { recursive: true, force: true }),
      expect: { kind: "fails", step: "ensure haproxy config", reason: /haproxy\.cfg is invalid for haproxy:\S+ .*HAProxy keeps running the previous one/ },
      keepsServing: true,
      inspect: async () => {
        const candidate = await vmExec(east, ["test", "-e", `${VM_PATHS.haproxyCfg}.candidate`]);
        return candidate.code === 0 ? "the rejected candidate file was LEFT behind" : "the rejected candidate was removed";
      },
    },
    {
      name: "FlowProxy build that crash-loops",
      inject: () => withArtifact("6", { ...GENERATION_1_BUILD, gitHash: "crash06", crashLoop: true }),
      clear: async () => undefined,
      expect: { kind: "fails", step: "ensure flowproxy running", reason: /did not answer on \S+ within 30 s/ },
      // The build was valid as far as the script can tell: it is installed and started, and fails.
      keepsServing: false,
      mayChange: ["binarySha", "flowproxyPid", "flowproxyActive"],
      inspect: async () => {
        const restarts = await vmExec(east, ["systemctl", "show", "--property=NRestarts", "--value", UNITS.flowproxy(east.name)]);
        return `systemd restarted the crashing build ${restarts.stdout.trim()} times`;
      },
    },
    {
      name: "rerun killed midway (SIGKILL during a new artifact's download), then run again",
      inject: async () => {
        killedStack = await withArtifact("7", { ...GENERATION_1_BUILD, gitHash: "0000007" });
        setGithubFault("slow");
        return killedStack;
      },
      clear: async () => setGithubFault(undefined),
      killAtStep: binary,
      expect: { kind: "killed" },
      keepsServing: true,
      // Run again as it was: the new build must now be installed completely.
      recoverWith: () => killedStack ?? committed(),
    },
    {
      name: "back to the committed stack (the previous case installed a v2 build)",
      inject: asCommitted,
      clear: async () => undefined,
      expect: { kind: "succeeds" },
      keepsServing: true,
      mayChange: ["binarySha", "flowproxyPid"],
    },
  ];
}

function outcomeProblem(expect: Expectation, run: ExtensionRun): string | undefined {
  const last = lastNonEmptyLine(run.stdoutTail) ?? "";
  switch (expect.kind) {
    case "succeeds":
      return run.exitCode === 0 ? undefined : `expected success, got exit ${run.exitCode}`;
    case "killed":
      return run.exitCode === null && run.result === "signal" ? undefined : `expected a killed run, got ${run.result}`;
    case "fails": {
      const line = new RegExp(`^FAILED: ${east.name}, step \\d+/\\d+ \\(${expect.step}\\): `);
      if (run.exitCode === 0 || run.exitCode === null) return `expected exit 1, got ${run.exitCode ?? run.result}`;
      if (!line.test(last) || !expect.reason.test(last)) return `expected FAILED at "${expect.step}" saying ${expect.reason}`;
      return lastNonEmptyLine(run.stderrTail) === last ? undefined : "stderr's last line differs from stdout's";
    }
  }
}

function runEvidence(run: ExtensionRun): string {
  const last = lastNonEmptyLine(run.stdoutTail) ?? "(no output)";
  const how = run.exitCode !== null ? `exit ${run.exitCode}` : `killed (${run.result})`;
  const retries = run.stdoutTail.match(/failed \(attempt \d+ of \d+\)/g)?.length ?? 0;
  // Whether BuilderHub had to be told again: a lost answer makes the script register once more.
  const registration = /^ {2}(registered|BuilderHub already lists) /m.exec(run.stdoutTail)?.[1];
  const registered = registration === undefined ? "" : `; registration ${registration === "registered" ? "sent again" : "already current"}`;
  return `${last} — ${how} after ${formatSeconds(run.durationMs)}${retries > 0 ? `, ${retries} retries` : ""}${registered}`;
}

/** How many files and directories the scratch space holds (0 when it is gone). */
async function scratchEntries(): Promise<number> {
  const found = await vmExec(east, ["find", VM_PATHS.provisionWork, "-mindepth", "1"]);
  return found.code === 0 ? found.stdout.split("\n").filter((line) => line !== "").length : 0;
}

function describeServing(served: LoadResult, before: FlowproxyVmState, after: FlowproxyVmState): string {
  const pid = (name: string, a: string, b: string) => (a === b ? `${name} PID ${a} kept` : `${name} PID ${a} → ${b}`);
  return [
    `:${PORTS.https} /livez from the host: ${describeLoad(served)}`,
    pid("HAProxy", before.haproxyPid, after.haproxyPid),
    pid("FlowProxy", before.flowproxyPid, after.flowproxyPid),
  ].join("; ");
}

/** Fields that must come back as they were once the fault is cleared and the stack runs again. */
const KEPT: (keyof FlowproxyVmState)[] = ["signerLines", "signerLinesSha", "certSha", "registration"];

/**
 * Plays one fault on vm-eastus and clears it again. Its evidence, one string per column: the
 * extension's last line, what kept serving, and that nothing was lost; throws naming every problem.
 */
export async function playFault(fault: Fault, committed: Evaluation): Promise<string[]> {
  const before = await flowproxyVmState(east);
  const probe = livezLoad(east, PORTS.https, { ratePerSecond: PROBE_RATE, maxRequests: PROBE_MAX });
  let run: ExtensionRun;
  try {
    run = await runExtension(east, extensionOf(await fault.inject()), { killAtStep: fault.killAtStep });
  } finally {
    await probe.stop();
    await fault.clear();
  }
  const served = await probe.stop();
  const inspected = fault.inspect ? await fault.inspect() : undefined;
  const scratchAfterFault = await scratchEntries();
  const after = await flowproxyVmState(east);
  const unexpected = changedFields(before, after).filter((field) => !(fault.mayChange ?? []).includes(field));

  const recoverWith = fault.recoverWith?.() ?? committed;
  const recovery = await runExtension(east, extensionOf(recoverWith));
  const servesAgain = await servesLivez(east, 30_000).then(
    () => true,
    () => false,
  );
  const recovered = await flowproxyVmState(east);
  const scratchAfterRerun = await scratchEntries();
  const lost = KEPT.filter((field) => recovered[field] !== before[field]);
  if (recoverWith === committed && recovered.binarySha !== before.binarySha && !(fault.mayChange ?? []).includes("binarySha")) {
    lost.push("binarySha");
  }

  const problems = [
    outcomeProblem(fault.expect, run),
    fault.keepsServing && (served.sent === 0 || served.ok !== served.sent) ? "the public endpoint did not answer throughout" : undefined,
    unexpected.length > 0 ? `changed by the fault: ${unexpected.join(", ")}` : undefined,
    recovery.exitCode !== 0 ? `the rerun after clearing the fault failed: ${lastNonEmptyLine(recovery.stdoutTail)}` : undefined,
    servesAgain ? undefined : "the public endpoint did not serve again after the rerun",
    lost.length > 0 ? `lost after the rerun: ${lost.join(", ")}` : undefined,
    // Only a killed run may leave scratch files, and the next run must remove them.
    fault.expect.kind !== "killed" && scratchAfterFault > 0 ? `the run left ${scratchAfterFault} scratch files` : undefined,
    scratchAfterRerun > 0 ? `${scratchAfterRerun} scratch files left after the rerun` : undefined,
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) {
    throw new Error(`${problems.join("; ")} (the run: ${runEvidence(run)}; serving: ${describeServing(served, before, after)})`);
  }

  const changed = changedFields(before, after);
  return [
    runEvidence(run),
    describeServing(served, before, after),
    [
      changed.length === 0 ? "nothing changed by the fault" : `changed by the fault: ${changed.join(", ")}`,
      `after clearing it, a rerun converged in ${formatSeconds(recovery.durationMs)} and :${PORTS.https} serves; signer key, certificate and registration as before`,
      inspected,
      scratchAfterFault > 0 ? `the killed run left ${scratchAfterFault} scratch ${scratchAfterFault === 1 ? "entry" : "entries"} (its unfinished download), the rerun removed ${scratchAfterFault === 1 ? "it" : "them"}` : undefined,
    ]
      .filter(Boolean)
      .join("; "),
  ];
}
