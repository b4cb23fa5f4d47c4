// Section 2 of the reliability report: faults injected into the running sandbox while vm-eastus's
// extension runs again, as Azure reruns it after a change. For each fault: what the extension
// reported (its last line), what kept serving (the public :443 probed from the host four times a
// second during the run; HAProxy's and FlowProxy's PIDs), and that nothing was lost (signer key,
// certificate, registration, binary and haproxy.cfg as before), then a rerun once the fault is
// cleared.
import * as fs from "fs";
import { FlowProxyBuild, GENERATION_1_BUILD, publishArtifact } from "../sandbox/doubles";
import { ExtensionRun, runExtension } from "../sandbox/extension";
import { setGithubFault } from "../sandbox/internet";
import {
  changedFields,
  describeLoad,
  FlowproxyVmState,
  flowproxyVmState,
  LIVE_HAPROXY_CFG,
  livezLoad,
  LoadResult,
  servesLivez,
  setMockhubFault,
} from "../sandbox/probe";
import { formatSeconds, lastNonEmptyLine } from "../sandbox/proc";
import { evaluateSandboxStack } from "../sandbox/sandbox";
import { RenderedExtension, RenderedStack } from "../sandbox/stack";
import { artifactUrl, SANDBOX_ARTIFACT } from "../sandbox/stack-config";
import { PUBLIC_PORTS, vmByName } from "../sandbox/topology";
import { vmExec } from "../sandbox/vm";
import { copyProject } from "../test/support/stack";
import { Section } from "./reliability-checks";

const east = vmByName("vm-eastus");
/** The script's scratch space (WORK_DIR in provision/common.sh): gone once a run ends. */
const SCRATCH_DIR = "/var/lib/flowproxy-provision/work";
/** The serving probe: 4 requests a second, bounded to 10 minutes of run. */
const PROBE_RATE = 4;
const PROBE_MAX = PROBE_RATE * 600;

type Expectation =
  | { kind: "fails"; step: string; reason: RegExp }
  | { kind: "succeeds" }
  | { kind: "killed" };

interface Fault {
  name: string;
  /** Makes the fault; returns the stack whose extension then runs (a new artifact, a changed file...). */
  inject: () => Promise<RenderedStack>;
  clear: () => Promise<void>;
  expect: Expectation;
  killAtStep?: string;
  /** Whether :443 must answer 200 throughout the run. */
  keepsServing: boolean;
  /** State the fault may change: a crash-looping build replaces the binary it was given. */
  mayChange?: (keyof FlowproxyVmState)[];
  /** The stack to run once the fault is cleared (the committed one by default). */
  recoverWith?: () => RenderedStack;
  /** More evidence, taken right after the faulty run. */
  inspect?: () => Promise<string>;
}

const extensionOf = (stack: RenderedStack): RenderedExtension => {
  const extension = stack.extensions.find((e) => e.vmName === east.name);
  if (!extension) throw new Error(`the rendered stack has no extension for ${east.name}`);
  return extension;
};

/** Renders the stack with the sandbox's artifact double `id` of this build. */
async function withArtifact(id: string, build: FlowProxyBuild): Promise<RenderedStack> {
  const artifact = { ...SANDBOX_ARTIFACT, id, build };
  publishArtifact(artifact);
  return evaluateSandboxStack({ overrides: { flowProxyArtifact: artifactUrl(artifact) } });
}

function faults(committed: RenderedStack): Fault[] {
  const asCommitted = async () => committed;
  const hub = (fault: "down" | "flap" | "slow") => async () => {
    await setMockhubFault(fault);
    return committed;
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
  let killedStack: RenderedStack | undefined;
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
        const candidate = await vmExec(east, ["test", "-e", `${LIVE_HAPROXY_CFG}.candidate`]);
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
        const restarts = await vmExec(east, ["systemctl", "show", "--property=NRestarts", "--value", `flowproxy@${east.name}.service`]);
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
      recoverWith: () => killedStack ?? committed,
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

function describeRun(run: ExtensionRun): string {
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
  const found = await vmExec(east, ["find", SCRATCH_DIR, "-mindepth", "1"]);
  return found.code === 0 ? found.stdout.split("\n").filter((line) => line !== "").length : 0;
}

function describeServing(served: LoadResult, before: FlowproxyVmState, after: FlowproxyVmState): string {
  const pid = (name: string, a: string, b: string) => (a === b ? `${name} PID ${a} kept` : `${name} PID ${a} → ${b}`);
  return [
    `:${PUBLIC_PORTS.https} /livez from the host: ${describeLoad(served)}`,
    pid("HAProxy", before.haproxyPid, after.haproxyPid),
    pid("FlowProxy", before.flowproxyPid, after.flowproxyPid),
  ].join("; ");
}

/** Fields that must come back as they were once the fault is cleared and the stack runs again. */
const KEPT: (keyof FlowproxyVmState)[] = ["signerLines", "signerLinesSha", "certSha", "registration"];

async function runFault(section: Section, fault: Fault, committed: RenderedStack): Promise<void> {
  await section.run(fault.name, async () => {
    const before = await flowproxyVmState(east);
    const probe = livezLoad(east, PUBLIC_PORTS.https, { ratePerSecond: PROBE_RATE, maxRequests: PROBE_MAX });
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

    const changedNote = changedFields(before, after).length === 0 ? "nothing changed by the fault" : `changed by the fault: ${changedFields(before, after).join(", ")}`;
    return {
      passed: problems.length === 0,
      evidence: [
        describeRun(run),
        describeServing(served, before, after),
        [
          changedNote,
          `after clearing it, a rerun ${recovery.exitCode === 0 ? "converged" : "FAILED"} in ${formatSeconds(recovery.durationMs)}` +
            `${servesAgain ? " and :443 serves" : ""}; signer key, certificate and registration ${lost.length === 0 ? "as before" : `CHANGED (${lost.join(", ")})`}`,
          inspected,
          scratchAfterFault > 0 ? `the killed run left ${scratchAfterFault} scratch ${scratchAfterFault === 1 ? "entry" : "entries"} (its unfinished download), the rerun removed ${scratchAfterFault === 1 ? "it" : "them"}` : undefined,
          ...problems.map((p) => `WRONG: ${p}`),
        ]
          .filter(Boolean)
          .join("; "),
      ],
    };
  });
}

export async function faultSection(committed: RenderedStack): Promise<Section> {
  const section = new Section(
    "2. Faults in the sandbox",
    "Each fault is injected into the running sandbox and vm-eastus's extension runs again (`runExtension`), as Azure " +
      "reruns it after a change; new builds come from new artifact URLs, so the download really happens. Meanwhile the " +
      `host sends GET /livez to vm-eastus's public :443 ${PROBE_RATE} times a second. A pass means: the extension ends as ` +
      "expected with the step and reason in its last line (on stdout and stderr), the public endpoint answers throughout " +
      "(except where the new build itself crashes), no state changes that the fault should not change, and once the " +
      "fault is cleared a rerun converges with the same signer key, certificate and BuilderHub registration. " +
      "Retries: BuilderHub 5 attempts 10 s apart (10 s per request); artifact download 3 attempts 5 s apart, 20 s " +
      "below 1 KiB/s counts as a stall.",
    ["the extension's last line", "what kept serving", "nothing lost"],
  );
  for (const fault of faults(committed)) {
    await runFault(section, fault, committed);
  }
  section.finish();
  return section;
}
