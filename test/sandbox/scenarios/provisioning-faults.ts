// Faults injected into the running sandbox while vm-eastus's extension runs again, as Azure reruns
// it after a change. For each fault: what the extension reported (its last line), what kept
// serving (the public :443 probed from the host four times a second during the run; HAProxy's and
// FlowProxy's PIDs), and that nothing was lost (signer key, certificate, registration, binary and
// haproxy.cfg as before), then a rerun once the fault is cleared.
import { createHash } from "crypto";
import * as fs from "fs";
import { PORTS, REGISTRATION_USER_AGENT, UNITS, VM_PATHS } from "../../../lib/contract";
import { copyProject, Evaluation, ExtensionInfo } from "../../../plan/evaluation";
import {
  FlowProxyBuild,
  flowproxyExecutable,
  GENERATION_1_BUILD,
  publishArtifact,
} from "../../../sandbox/internet/doubles";
import { ExtensionRun, runExtension } from "../../../sandbox/azure/extension";
import { dockerHubRequests, SANDBOX_DOCKER_HUB_POLICY, setDockerHubPolicy } from "../../../sandbox/internet/docker-hub";
import { githubRequests, setGithubFault } from "../../../sandbox/internet/github";
import {
  changedFields,
  describeLoad,
  fileSha256,
  FlowproxyVmState,
  flowproxyVmState,
  livezLoad,
  LoadResult,
  mockhubInjected,
  servesLivez,
  setMockhubFault,
} from "../../../sandbox/probe";
import { formatSeconds, lastNonEmptyLine } from "../../../sandbox/base/proc";
import { evaluateSandboxStack, haproxyImages } from "../../../sandbox/sandbox";
import { artifactUrl, SANDBOX_ARTIFACT } from "../../../sandbox/internet/stack-config";
import { VMS } from "../../../sandbox/base/topology";
import { vmExec } from "../../../sandbox/machines/vm";
import { BrokenRun, failureOf } from "./broken";

const east = VMS.find((vm) => vm.role === "flowproxy")!;
/** The serving probe: 4 requests a second, bounded to 10 minutes of run. */
export const PROBE_RATE = 4;
const PROBE_MAX = PROBE_RATE * 600;

type Expectation = { kind: "fails"; step: string; reason: RegExp } | { kind: "succeeds" } | { kind: "killed" };

export interface Fault {
  name: string;
  /** Makes the fault; returns the stack whose extension then runs (a new artifact, a changed file...). */
  inject: () => Promise<Evaluation>;
  clear: () => Promise<void>;
  expect: Expectation;
  killAtStep?: string;
  /** With killAtStep: kill only once this also holds. */
  killWhen?: () => boolean | Promise<boolean>;
  /** Whether :443 must answer 200 throughout the run. */
  keepsServing: boolean;
  /** State the fault may change: a crash-looping build replaces the binary it was given. */
  mayChange?: (keyof FlowproxyVmState)[];
  /** The stack to run once the fault is cleared (the committed one by default). */
  recoverWith?: () => Evaluation;
  /**
   * What the fault must have done to the run, checked right after it and before the fault is
   * cleared: its evidence, or a problem that fails the check.
   */
  inspect?: (run: ExtensionRun) => Promise<Inspection>;
}

type Inspection = { evidence: string; problem?: undefined } | { evidence?: undefined; problem: string };

const extensionOf = (stack: Evaluation): ExtensionInfo => {
  const extension = stack.extensions.find((e) => e.vmName === east.name);
  if (!extension) throw new Error(`the rendered stack has no extension for ${east.name}`);
  return extension;
};

/** The other HAProxy the sandbox's Docker Hub serves: a version change makes the run pull. */
const otherHaproxy = () => haproxyImages()[1].tag;

/** The other HAProxy's image removed from vm-eastus (an earlier case may have pulled it), so the run must pull it. */
const forgetOtherHaproxy = () => vmExec(east, ["docker", "image", "rm", `haproxy:${otherHaproxy()}`]);

/** The Docker Hub double's answers since `since` (an ISO time) to manifest GETs: the pulls it counted. */
const manifestPullsSince = (since: string) =>
  dockerHubRequests().filter(
    (r) => r.time >= since && r.host === "registry-1.docker.io" && r.method === "GET" && /\/manifests\//.test(r.path),
  );

/** Docker Hub requiring a login, and the run pulling a new HAProxy; `credentials: false` leaves the stack without them. */
function loginFault(credentials = true): Fault {
  let since = "";
  return {
    name: "Docker Hub requiring a login: provisioning logs in with dockerHubUsername and dockerHubToken and pulls the new HAProxy",
    inject: async () => {
      setDockerHubPolicy(SANDBOX_DOCKER_HUB_POLICY);
      // Logged out first, so the run has to log in again.
      await vmExec(east, ["docker", "logout"]);
      await forgetOtherHaproxy();
      since = new Date().toISOString();
      return evaluateSandboxStack({
        overrides: {
          haProxyVersion: otherHaproxy(),
          ...(credentials ? {} : { dockerHubUsername: "", dockerHubToken: "" }),
        },
      });
    },
    clear: async () => undefined,
    expect: { kind: "succeeds" },
    keepsServing: true,
    mayChange: ["haproxyPid"],
    inspect: async (run) => {
      const logins = dockerHubRequests().filter(
        (r) =>
          r.time >= since &&
          r.host === "auth.docker.io" &&
          r.status === 200 &&
          r.account !== "" &&
          !r.path.includes("scope="),
      );
      const pulls = manifestPullsSince(since).filter(
        (r) => r.path.startsWith("/v2/library/haproxy/") && r.status === 200 && r.account !== "",
      );
      const stat = await vmExec(east, ["stat", "-c", "%a", "/root/.docker/config.json"]);
      const problems = [
        /^ {2}logged in to Docker Hub as \S+$/m.test(run.stdoutTail)
          ? undefined
          : "the run did not log in to Docker Hub",
        logins.length === 0 ? "Docker Hub saw no login" : undefined,
        pulls.length === 0 ? "Docker Hub counted no pull of haproxy by an account" : undefined,
        stat.stdout.trim() === "600"
          ? undefined
          : `the docker client's login is in a file of mode ${stat.stdout.trim() || "?"}, not 600`,
      ].filter(Boolean);
      return problems.length > 0
        ? { problem: problems.join("; ") }
        : {
            evidence: `Docker Hub saw ${logins.length} login(s) and ${pulls.length} pull(s) of haproxy as ${pulls[0].account}; /root/.docker/config.json is 600`,
          };
    },
  };
}

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
  const builderhubFault = (fault: Parameters<typeof setMockhubFault>[0]) => async () => {
    await setMockhubFault(fault);
    return committed();
  };
  const clearMockhubFault = () => setMockhubFault(undefined);
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
  let killedRunStarted = "";
  return [
    {
      name: "BuilderHub down (connections closed unanswered)",
      inject: builderhubFault("down"),
      clear: clearMockhubFault,
      expect: { kind: "fails", step: registration, reason: notRegistered },
      keepsServing: true,
    },
    {
      name: "BuilderHub flapping (every other answer to provisioning's registration 503) is retried",
      inject: builderhubFault({ flapFor: REGISTRATION_USER_AGENT.provisioning }),
      clear: clearMockhubFault,
      expect: { kind: "succeeds" },
      keepsServing: true,
      inspect: async (run) => {
        const injected = await mockhubInjected();
        const aimed = injected.filter(
          (line) => line.startsWith("503 ") && line.endsWith(` ${REGISTRATION_USER_AGENT.provisioning}`),
        );
        const retries = retriesOf(run);
        if (aimed.length === 0 || aimed.length !== injected.length) {
          return {
            problem: `BuilderHub's fault met ${aimed.length} of provisioning's requests (injected: ${injected.join(" | ") || "nothing"})`,
          };
        }
        if (retries === 0) {
          return { problem: `BuilderHub answered provisioning ${aimed.length} × 503 but the script made no retry` };
        }
        const requests = [...new Set(aimed.map((line) => line.split(" ").slice(1, 3).join(" ")))].join(", ");
        return {
          evidence: `BuilderHub answered ${aimed.length} × 503 to provisioning (${requests}); the script retried ${retries} ${retries === 1 ? "time" : "times"} and converged`,
        };
      },
    },
    {
      name: "BuilderHub slow (answers after 15 s; the script waits 10 s)",
      inject: builderhubFault("slow"),
      clear: clearMockhubFault,
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
      expect: {
        kind: "fails",
        step: "ensure haproxy config",
        reason: /haproxy\.cfg is invalid for haproxy:\S+ .*HAProxy keeps running the previous one/,
      },
      keepsServing: true,
      inspect: async () => {
        const candidate = await vmExec(east, ["test", "-e", `${VM_PATHS.haproxyCfg}.candidate`]);
        return candidate.code === 0
          ? { problem: `the rejected candidate ${VM_PATHS.haproxyCfg}.candidate was left behind` }
          : { evidence: "the rejected candidate was removed" };
      },
    },
    loginFault(),
    (() => {
      let since = "";
      return {
        name: "Docker Hub's pull rate limit reached by anonymous pulls (HTTP 429 toomanyrequests)",
        inject: async () => {
          setDockerHubPolicy({ requireLogin: false, limits: { ...SANDBOX_DOCKER_HUB_POLICY.limits, anonymous: 0 } });
          await forgetOtherHaproxy();
          since = new Date().toISOString();
          return evaluateSandboxStack({
            overrides: { haProxyVersion: otherHaproxy(), dockerHubUsername: "", dockerHubToken: "" },
          });
        },
        clear: async () => setDockerHubPolicy(SANDBOX_DOCKER_HUB_POLICY),
        expect: {
          kind: "fails",
          step: "ensure haproxy image",
          reason:
            /refused by Docker Hub's pull rate limit \(HTTP 429, pulls anonymous; Docker's words: .*toomanyrequests: .*pull rate limit.*dockerHubUsername.*dockerHubToken/,
        },
        keepsServing: true,
        // One refusal, no retry: the limit counts over hours.
        inspect: async () => {
          const refused = manifestPullsSince(since).filter((r) => r.status === 429);
          return refused.length === 1
            ? { evidence: "Docker Hub refused 1 anonymous pull with 429; the script did not retry" }
            : { problem: `Docker Hub refused ${refused.length} anonymous pulls with 429 (expected 1: no retry)` };
        },
      } satisfies Fault;
    })(),
    {
      name: "FlowProxy build that crash-loops",
      inject: () => withArtifact("6", { ...GENERATION_1_BUILD, gitHash: "crash06", crashLoop: true }),
      clear: async () => undefined,
      expect: { kind: "fails", step: "ensure flowproxy running", reason: /did not answer on \S+ within 30 s/ },
      // The build was valid as far as the script can tell: it is installed and started, and fails.
      keepsServing: false,
      mayChange: ["binarySha", "flowproxyPid", "flowproxyActive"],
      inspect: async () => {
        const shown = await vmExec(east, [
          "systemctl",
          "show",
          "--property=NRestarts",
          "--value",
          UNITS.flowproxy(east.name),
        ]);
        const restarts = Number(shown.stdout.trim());
        // Restart=always with RestartSec=5s over the script's 30 s wait: a build that keeps dying is
        // restarted again and again, not once.
        return Number.isInteger(restarts) && restarts >= MIN_CRASH_RESTARTS
          ? { evidence: `systemd restarted the crashing build ${restarts} times` }
          : {
              problem: `systemd restarted the crashing build ${shown.stdout.trim() || "?"} times (expected at least ${MIN_CRASH_RESTARTS})`,
            };
      },
    },
    {
      name: "rerun killed midway (SIGKILL during a new artifact's download), then run again",
      inject: async () => {
        killedStack = await withArtifact("7", { ...GENERATION_1_BUILD, gitHash: "0000007" });
        setGithubFault("slow");
        killedRunStarted = new Date().toISOString();
        return killedStack;
      },
      clear: async () => setGithubFault(undefined),
      killAtStep: binary,
      // Only once the slow blob is streaming into the scratch space: a kill before the download
      // began would prove less.
      killWhen: async () => artifactDownloadsSince(killedRunStarted) > 0 && (await scratchBytes()) > 0,
      inspect: async () => {
        const downloads = artifactDownloadsSince(killedRunStarted);
        const partial = await scratchBytes();
        return downloads === 1 && partial > 0
          ? { evidence: `killed while the artifact downloaded (${partial} bytes of it in the scratch space)` }
          : {
              problem: `expected a kill during the artifact's one download: ${downloads} downloads began, ${partial} bytes in the scratch space`,
            };
      },
      expect: { kind: "killed" },
      keepsServing: true,
      // Run again as it was: the new build must now be installed completely.
      recoverWith: () => killedStack ?? committed(),
    },
    {
      name: "back to the committed stack (the previous case installed another build)",
      inject: asCommitted,
      clear: async () => undefined,
      expect: { kind: "succeeds" },
      keepsServing: true,
      mayChange: ["binarySha", "flowproxyPid"],
      inspect: async () => {
        const committedSha = createHash("sha256").update(flowproxyExecutable(SANDBOX_ARTIFACT.build)).digest("hex");
        const installed = await fileSha256(east, VM_PATHS.flowproxyBinary);
        return installed === committedSha
          ? { evidence: `the committed build is installed again (sha256 ${committedSha.slice(0, 16)})` }
          : {
              problem: `${VM_PATHS.flowproxyBinary} has sha256 ${installed}, not the committed build's ${committedSha}`,
            };
      },
    },
  ];
}

/**
 * The counterparts of the faults provisioning must survive, whose rows show no check of provisioning
 * failing: the same fault with what its row proves taken away, played the same way, must fail the
 * row naming what is missing. The flap aimed at the timer instead of provisioning; the kill made as
 * the step starts instead of during the download; "going back" to another build than the committed.
 * Played after the faults; the last one's rerun puts the committed stack back.
 */
export function survivedFaultCounterparts(
  committed: () => Evaluation,
): { check: string; play: () => Promise<BrokenRun[]> }[] {
  const faults = provisioningFaults(committed);
  const survived = faults.filter((fault) => fault.expect.kind !== "fails");
  const [flapping, login, killed, back] = survived;
  const broken = (fault: Fault, broke: string, naming: string) => ({
    check: fault.name,
    play: async (): Promise<BrokenRun[]> => [
      { broke, failure: await failureOf(() => playFault(fault, committed())), naming: [naming] },
    ],
  });
  return [
    broken(
      {
        ...flapping,
        inject: async () => (await setMockhubFault({ flapFor: REGISTRATION_USER_AGENT.timer }), committed()),
      },
      "the flap aimed at the timer's requests instead of provisioning's",
      "of provisioning's requests",
    ),
    broken(
      { ...loginFault(false), name: login.name },
      "the stack without dockerHubUsername and dockerHubToken",
      "pull access denied for haproxy",
    ),
    broken(
      { ...killed, killWhen: undefined },
      "the kill made as the step starts",
      "expected a kill during the artifact's one download",
    ),
    broken(
      { ...back, inject: () => withArtifact("8", { ...GENERATION_1_BUILD, gitHash: "other08" }) },
      "going back to another build than the committed one",
      "not the committed build's",
    ),
  ];
}

/** Restarts systemd must have made of a build that crashes at once, during the script's 30 s wait. */
const MIN_CRASH_RESTARTS = 2;

/** Artifact blob downloads the GitHub double began since `since` (an ISO time). */
const artifactDownloadsSince = (since: string): number =>
  githubRequests().filter((r) => r.time >= since && r.method === "GET" && r.path.startsWith("/artifacts/")).length;

/** Retries the script logged, each "failed (attempt N of M)". */
const retriesOf = (run: ExtensionRun): number => run.stdoutTail.match(/failed \(attempt \d+ of \d+\)/g)?.length ?? 0;

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
      if (!line.test(last) || !expect.reason.test(last))
        return `expected FAILED at "${expect.step}" saying ${expect.reason}`;
      return lastNonEmptyLine(run.stderrTail) === last ? undefined : "stderr's last line differs from stdout's";
    }
  }
}

function runEvidence(run: ExtensionRun): string {
  const last = lastNonEmptyLine(run.stdoutTail) ?? "(no output)";
  const how = run.exitCode !== null ? `exit ${run.exitCode}` : `killed (${run.result})`;
  const retries = retriesOf(run);
  // Whether BuilderHub had to be told again: a lost answer makes the script register once more.
  const registration = /^ {2}(registered|BuilderHub already lists) /m.exec(run.stdoutTail)?.[1];
  const registered =
    registration === undefined
      ? ""
      : `; registration ${registration === "registered" ? "sent again" : "already current"}`;
  return `${last} — ${how} after ${formatSeconds(run.durationMs)}${retries > 0 ? `, ${retries} retries` : ""}${registered}`;
}

/** How many bytes the files in the scratch space hold (0 when it is gone). */
async function scratchBytes(): Promise<number> {
  const found = await vmExec(east, ["find", VM_PATHS.provisionWork, "-type", "f", "-printf", "%s\\n"]);
  return found.code === 0
    ? found.stdout
        .split("\n")
        .filter((line) => line !== "")
        .reduce((sum, size) => sum + Number(size), 0)
    : 0;
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
  let inspected: Inspection | undefined;
  try {
    run = await runExtension(east, extensionOf(await fault.inject()), {
      killAtStep: fault.killAtStep,
      killWhen: fault.killWhen,
    });
    inspected = await fault.inspect?.(run);
  } finally {
    await probe.stop();
    await fault.clear();
  }
  const served = await probe.stop();
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
  if (
    recoverWith === committed &&
    recovered.binarySha !== before.binarySha &&
    !(fault.mayChange ?? []).includes("binarySha")
  ) {
    lost.push("binarySha");
  }

  const problems = [
    outcomeProblem(fault.expect, run),
    inspected?.problem,
    fault.keepsServing && (served.sent === 0 || served.ok !== served.sent)
      ? "the public endpoint did not answer throughout"
      : undefined,
    unexpected.length > 0 ? `changed by the fault: ${unexpected.join(", ")}` : undefined,
    recovery.exitCode !== 0
      ? `the rerun after clearing the fault failed: ${lastNonEmptyLine(recovery.stdoutTail)}`
      : undefined,
    servesAgain ? undefined : "the public endpoint did not serve again after the rerun",
    lost.length > 0 ? `lost after the rerun: ${lost.join(", ")}` : undefined,
    // Only a killed run may leave scratch files, and the next run must remove them.
    fault.expect.kind !== "killed" && scratchAfterFault > 0
      ? `the run left ${scratchAfterFault} scratch files`
      : undefined,
    scratchAfterRerun > 0 ? `${scratchAfterRerun} scratch files left after the rerun` : undefined,
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) {
    throw new Error(
      `${problems.join("; ")} (the run: ${runEvidence(run)}; serving: ${describeServing(served, before, after)})`,
    );
  }

  const changed = changedFields(before, after);
  return [
    runEvidence(run),
    describeServing(served, before, after),
    [
      changed.length === 0 ? "nothing changed by the fault" : `changed by the fault: ${changed.join(", ")}`,
      `after clearing it, a rerun converged in ${formatSeconds(recovery.durationMs)} and :${PORTS.https} serves; signer key, certificate and registration as before`,
      inspected?.evidence,
      scratchAfterFault > 0
        ? `the killed run left ${scratchAfterFault} scratch ${scratchAfterFault === 1 ? "entry" : "entries"} (its unfinished download), the rerun removed ${scratchAfterFault === 1 ? "it" : "them"}`
        : undefined,
    ]
      .filter(Boolean)
      .join("; "),
  ];
}
