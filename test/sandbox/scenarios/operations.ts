// What an operator does to a running stack, played on the sandbox: kill FlowProxy, restart or
// reboot BuilderHub, reboot a VM, change HAProxy's version, switch FlowProxy's generation, make keys
// on the VMs. The end-to-end suite plays them (and the reliability report shows what it saw); the
// benchmark times the version change. Each scenario throws with what went wrong, or returns its
// evidence (times are measured, not assumed).
import assert from "node:assert/strict";
import { BUILDERHUB, CONTAINERS, CUSTOM_SCRIPT_DOWNLOADS, PORTS, UNITS, VM_PATHS } from "../../../lib/contract";
import { vmOutputNames } from "../../../lib/outputs";
import type { Evaluation } from "../../../plan/evaluation";
import { FlashbotsSearcher } from "../../../verify/flashbots-client";
import { BundleClient, Searcher } from "../../../verify/searcher";
import { GENERATION_2_BUILD, publishArtifact } from "../../../sandbox/internet/doubles";
import { runExtension } from "../../../sandbox/azure/extension";
import {
  builders,
  BUILDERS_URL,
  changedFields,
  containerPid,
  describeLoad,
  eventually,
  flowproxyUnit,
  flowproxyVmState,
  livezLoad,
  LoadResult,
  mainPid,
  publicEndpoint,
  publicRequest,
  registrationIsCurrent,
  registrationOf,
  REGISTER_URL,
  servesLivez,
  SteadyLoad,
  systemFlowAccepted,
  unitState,
} from "../../../sandbox/probe";
import { formatSeconds, lastNonEmptyLine, sleep } from "../../../sandbox/base/proc";
import { down, haproxyImages, up, UpOptions } from "../../../sandbox/sandbox";
import { artifactUrl, SANDBOX_ARTIFACT } from "../../../sandbox/internet/stack-config";
import { FIRST_PROXIES, flowproxyVms, Vm, vmByName } from "../../../sandbox/base/topology";
import { rebootVm, vmCheck, vmExec } from "../../../sandbox/machines/vm";
import { BrokenRun, failureOf, withUnitDropIn } from "./broken";

const builderhub = vmByName(BUILDERHUB.vmName);
const [east, west] = FIRST_PROXIES;
/** Searchers' clients: ours and Flashbots' own, each signing X-Flashbots-Signature itself. */
const clients: readonly BundleClient[] = [new Searcher(), new FlashbotsSearcher()];
let blockNumber = 1;
/** Within this, BuilderHub must list every proxy again and system flow must cross again (issue 8). */
export const HEAL_BUDGET_MS = 120_000;

/**
 * Signed bundles on `from`'s public :443, a new one every 2 s, until `to`'s system endpoint accepted
 * one; first from our signer, then from Flashbots' client, within `timeoutMs` for both. A proxy
 * forwards only to the peers it knew when a bundle came in, so while peers are still learning about
 * each other (every 30 s) a single bundle may rightly go nowhere.
 */
export async function sendAcross(from: Vm, to: Vm, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  const endpoint = publicEndpoint(from, PORTS.https);
  for (const client of clients) {
    const before = await systemFlowAccepted(to);
    let sentAt = 0;
    await eventually(
      `${to.name}'s system endpoint to accept a bundle from ${client.name} sent to ${from.name}`,
      async () => {
        if (Date.now() - sentAt >= 2000) {
          sentAt = Date.now();
          await client.sendBundle(endpoint, blockNumber++).catch((err: Error) => {
            throw new Error(`${from.name} did not take a bundle from ${client.name}: ${err.message}`);
          });
        }
        return (await systemFlowAccepted(to)) > before ? true : undefined;
      },
      Math.max(timeoutMs - (Date.now() - started), 1),
    );
  }
}

/** Signed flow both ways; resolves when both crossed. */
export async function flowBothWays(timeoutMs: number): Promise<void> {
  await sendAcross(east, west, timeoutMs);
  await sendAcross(west, east, timeoutMs);
}

/** Waits until BuilderHub lists every proxy with the certificates they serve; returns ms since `since`. */
export async function registryHealed(since: number, timeoutMs = HEAL_BUDGET_MS): Promise<number> {
  await eventually(
    "BuilderHub to list every proxy with its served certificate",
    async () => {
      const current = await Promise.all(flowproxyVms().map((vm) => registrationIsCurrent(vm).catch(() => false)));
      return current.every(Boolean) ? true : undefined;
    },
    Math.max(timeoutMs - (Date.now() - since), 1),
  );
  return Date.now() - since;
}

/** Restarts the BuilderHub mock's container as an operator would, and waits until its API answers. */
export async function restartMockhub(): Promise<void> {
  await vmCheck(builderhub, ["docker", "stop", CONTAINERS.mockhub]);
  await vmCheck(builderhub, ["docker", "start", CONTAINERS.mockhub]);
  await eventually("BuilderHub's API to answer after the restart", () => builders(east).catch(() => undefined));
}

/**
 * `up` with options the stack must refuse: the failure's message, or undefined when it converged.
 * The sandbox stays as the refusal left it, for the caller to inspect.
 */
function refusal(options: Omit<UpOptions, "keepOnFailure">): Promise<string | undefined> {
  return up({ ...options, keepOnFailure: true }).then(
    () => undefined,
    (err: Error) => err.message,
  );
}

/** Extension runs a VM has had: the CustomScript handler's numbered download directories. */
async function extensionRunCount(vm: Vm): Promise<number> {
  return (await vmCheck(vm, ["ls", CUSTOM_SCRIPT_DOWNLOADS])).split("\n").filter((d) => /^\d+$/.test(d)).length;
}

export const flowproxyVersion = async (vm: Vm) => (await vmCheck(vm, [VM_PATHS.flowproxyBinary, "--version"])).trim();

/** Stops or starts the registration timer on every FlowProxy VM. */
export async function registrationTimers(action: "stop" | "start"): Promise<void> {
  for (const vm of flowproxyVms()) await vmCheck(vm, ["systemctl", action, UNITS.registrationTimer]);
}

/**
 * FlowProxy killed while BuilderHub has forgotten everything (timers stopped, so nothing else
 * registers): only the unit's ExecStartPre hook can list it again with its certificate before
 * FlowProxy's own registration, which carries none, wins.
 */
export async function killFlowproxy(vm: Vm): Promise<string> {
  const unit = flowproxyUnit(vm);
  let restartedMs: number;
  await registrationTimers("stop");
  try {
    await restartMockhub();
    assert.deepEqual(await builders(vm), [], "a restarted mock lists nobody");
    const before = await mainPid(vm, unit);
    const killed = Date.now();
    await vmCheck(vm, ["systemctl", "kill", "--signal=SIGKILL", unit]);
    await eventually(
      `${unit} to run again`,
      async () => {
        const pid = await mainPid(vm, unit);
        return pid !== "0" && pid !== before && (await unitState(vm, unit)) === "active" ? true : undefined;
      },
      30_000,
    );
    restartedMs = Date.now() - killed;
    assert.ok(await registrationIsCurrent(vm), `${vm.name} is listed with the certificate it serves`);
    const invocation = (await vmCheck(vm, ["systemctl", "show", "--property=InvocationID", "--value", unit])).trim();
    const journal = await vmCheck(vm, [
      "journalctl",
      `_SYSTEMD_INVOCATION_ID=${invocation}`,
      "--no-pager",
      "-o",
      "cat",
    ]);
    assert.match(
      journal,
      /flowproxy-register: registered 0x[0-9a-fA-F]{40} with the served certificate/,
      "the hook registered before this start",
    );
  } finally {
    await registrationTimers("start");
  }
  const healedMs = await registryHealed(Date.now());
  await servesLivez(vm);
  await sendAcross(vm, vm === east ? west : east, 60_000);
  return (
    `SIGKILL with BuilderHub emptied: systemd started it again after ${formatSeconds(restartedMs)}, its ExecStartPre hook ` +
    `registered the served certificate first; the other proxy's timer listed it again ${formatSeconds(healedMs)} later; signed flow crosses`
  );
}

export async function restartBuilderhub(
  options: { timersHeld?: boolean } = {},
): Promise<{ healedMs: number; flowingMs: number; evidence: string }> {
  const restarted = Date.now();
  // The timers are held for the moment it takes to see the mock come back empty, so neither
  // re-registers before that is checked; they restart at once, and the heal is timed from the restart.
  // Held for good (a counterpart), nothing heals the registry.
  await registrationTimers("stop");
  try {
    await restartMockhub();
    assert.deepEqual(await builders(east), [], "a restarted mock lists nobody");
  } finally {
    if (!options.timersHeld) await registrationTimers("start");
  }
  const healedMs = await registryHealed(restarted);
  // Peers read BuilderHub every 30 s (PEER_UPDATE_INTERVAL_S); flow resumes after their next read.
  await flowBothWays(Math.max(HEAL_BUDGET_MS - (Date.now() - restarted), 1));
  const flowingMs = Date.now() - restarted;
  assert.ok(
    flowingMs <= HEAL_BUDGET_MS,
    `system flow resumed after ${formatSeconds(flowingMs)}, over the budget of ${formatSeconds(HEAL_BUDGET_MS)}`,
  );
  return {
    healedMs,
    flowingMs,
    evidence: `registry empty after the restart; every proxy listed with their certificates after ${formatSeconds(healedMs)}, signed flow in both directions after ${formatSeconds(flowingMs)} (budget ${formatSeconds(HEAL_BUDGET_MS)})`,
  };
}

/**
 * BuilderHub holding what FlowProxy's own start-up registration leaves (the signer, no certificate)
 * before ours: provisioning must fail saying so, the journal must say so, FlowProxy keeps serving;
 * a BuilderHub restart then heals it.
 */
export async function conflictingRegistration(
  stack: Evaluation,
  signerAddress: string,
  options: { conflict?: boolean } = {},
): Promise<string> {
  const extension = stack.extensions.find((e) => e.vmName === east.name);
  assert.ok(extension, `the stack has an extension for ${east.name}`);
  await vmCheck(east, ["systemctl", "stop", UNITS.registrationTimer]);
  let reported: string;
  try {
    await restartMockhub();
    if (options.conflict ?? true) {
      const registration = JSON.stringify({ ecdsa_pubkey_address: signerAddress });
      await vmCheck(east, [
        "curl",
        "-fsS",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data",
        registration,
        REGISTER_URL,
      ]);
    }
    const failed = await runExtension(east, extension);
    assert.equal(failed.exitCode, 1, "provisioning fails");
    assert.match(failed.stderrTail, /BuilderHub lists 0x[0-9a-fA-F]{40} without a certificate/);
    reported = lastNonEmptyLine(failed.stdoutTail) ?? "";
    assert.match(
      reported,
      /\(ensure registered with builderhub\): BuilderHub lists \S+ with another certificate than HAProxy serves/,
    );
    const check = await vmExec(east, ["systemctl", "start", UNITS.registrationService]);
    assert.notEqual(check.code, 0, "the timer's check fails too");
    const journal = await vmCheck(east, [
      "journalctl",
      "-u",
      UNITS.registrationService,
      "--since",
      "-2min",
      "--no-pager",
      "-o",
      "cat",
    ]);
    assert.match(journal, /without a certificate, so peers cannot reach this proxy over TLS/);
    assert.equal(await unitState(east, flowproxyUnit(east)), "active", "FlowProxy keeps serving");
  } finally {
    await restartMockhub();
    const recovered = await runExtension(east, extension);
    assert.equal(
      recovered.exitCode,
      0,
      `the rerun after a BuilderHub restart: ${lastNonEmptyLine(recovered.stdoutTail)}`,
    );
  }
  const healedMs = await registryHealed(Date.now());
  assert.equal(await unitState(east, UNITS.registrationTimer), "active");
  return `extension: "${reported.slice(0, 140)}..."; journal of ${UNITS.registrationService} names it; after a BuilderHub restart the rerun converged and the registry was current in ${formatSeconds(healedMs)}`;
}

/** How long dockerd may take after boot to start a container by its restart policy. */
const CONTAINER_START_MS = 30_000;

/**
 * The containers provisioning runs on a VM of this role, with their restart policies: HAProxy's is
 * `always` because its reloads are signals, which `unless-stopped` takes for a manual stop.
 */
const containersOf = (vm: Vm): [string, string][] =>
  vm.role === "flowproxy" ? [[CONTAINERS.haproxy, "always"]] : [[CONTAINERS.mockhub, "unless-stopped"]];

interface ContainerRun {
  running: boolean;
  startedAt: number;
  restartPolicy: string;
}

async function containerRun(vm: Vm, name: string): Promise<ContainerRun> {
  const format = "{{.State.Running}} {{.State.StartedAt}} {{.HostConfig.RestartPolicy.Name}}";
  const [running, startedAt, restartPolicy] = (await vmCheck(vm, ["docker", "inspect", "--format", format, name]))
    .trim()
    .split(" ");
  return { running: running === "true", startedAt: Date.parse(startedAt), restartPolicy };
}

/**
 * Reboots one VM from inside; nothing reruns its extension, so its containers come back by Docker's
 * restart policy alone, and everything serves as before.
 */
export async function rebootAndCheck(vm: Vm): Promise<string> {
  const runsBefore = await extensionRunCount(vm);
  const proxies = flowproxyVms();
  const statesBefore = await Promise.all(proxies.map((proxy) => flowproxyVmState(proxy)));
  const rebooted = Date.now();
  const boot = await rebootVm(vm);
  // Dockerd starts the containers by their restart policy as it comes up; nothing else may.
  for (const [name, policy] of containersOf(vm)) {
    await eventually(
      `${vm.name}: ${name} to be started again after the reboot (restart policy ${policy})`,
      async () => ((await containerRun(vm, name)).running ? true : undefined),
      CONTAINER_START_MS,
    );
  }
  for (const proxy of proxies) await servesLivez(proxy, 60_000);
  const healedMs = await registryHealed(rebooted);
  await flowBothWays(Math.max(HEAL_BUDGET_MS - (Date.now() - rebooted), 1));
  const flowingMs = Date.now() - rebooted;
  // Each direction of flowBothWays may take the remaining budget, so the sum is held to it here.
  assert.ok(
    flowingMs <= HEAL_BUDGET_MS,
    `${vm.name}: signed flow resumed ${formatSeconds(flowingMs)} after the reboot, over the budget of ${formatSeconds(HEAL_BUDGET_MS)}`,
  );
  assert.equal(await extensionRunCount(vm), runsBefore, `${vm.name}: no extension ran`);
  for (const [name, policy] of containersOf(vm)) {
    const container = await containerRun(vm, name);
    assert.ok(
      container.running && container.startedAt >= rebooted - 1000,
      `${vm.name}: ${name} was started again after the reboot`,
    );
    assert.equal(container.restartPolicy, policy, `${vm.name}: ${name}'s restart policy`);
  }
  // Every proxy, not only a rebooted one: BuilderHub's reboot empties the registry they must be back in.
  for (const [i, proxy] of proxies.entries()) {
    const stateAfter = await flowproxyVmState(proxy);
    if (proxy.name === vm.name) {
      // A fresh boot may hand FlowProxy its old PID again, so its start time tells the new process.
      const startedAt = await vmCheck(vm, [
        "systemctl",
        "show",
        "--timestamp=unix",
        "--property=ExecMainStartTimestamp",
        "--value",
        flowproxyUnit(vm),
      ]);
      assert.ok(
        Number(startedAt.trim().replace(/^@/, "")) * 1000 >= rebooted - 1000,
        `${vm.name}: FlowProxy is a new process, started after the reboot (${startedAt.trim()})`,
      );
    }
    const changed = changedFields(statesBefore[i], stateAfter).filter(
      (f) => !["haproxyPid", "flowproxyPid"].includes(f),
    );
    assert.deepEqual(
      changed,
      [],
      `${proxy.name}: binary, haproxy.cfg, certificate, signer key and registration as before`,
    );
  }
  return (
    `booted ${boot.state}; no extension ran; dockerd started ${containersOf(vm)
      .map(([name, policy]) => `${name} (${policy})`)
      .join(", ")} by its restart policy; ` +
    `registry current after ${formatSeconds(healedMs)}, signed flow in both directions after ${formatSeconds(flowingMs)} (budget ${formatSeconds(HEAL_BUDGET_MS)}); ` +
    `${proxies.map((proxy) => proxy.name).join(" and ")}: binary, haproxy.cfg, certificate, signer key and registration unchanged`
  );
}

const GENERATION_2_ARTIFACT = { ...SANDBOX_ARTIFACT, id: "25", build: GENERATION_2_BUILD };

/** The settings HAProxy's container was started with, as provisioning labelled it. */
const haproxySpec = (vm: Vm) =>
  vmCheck(vm, [
    "docker",
    "inspect",
    "--format",
    `{{index .Config.Labels "${CONTAINERS.specLabel}"}}`,
    CONTAINERS.haproxy,
  ]);

/** A generation-2 build under flowProxyGeneration 1: refused naming the key and value; nothing changes. */
export async function generationMismatch(artifact = GENERATION_2_ARTIFACT): Promise<string> {
  publishArtifact(artifact);
  const before = await flowproxyVmState(east);
  const versionBefore = await flowproxyVersion(east);
  const refused = await refusal({ overrides: { flowProxyArtifact: artifactUrl(artifact) } });
  assert.ok(refused, "up succeeded with a generation-2 build under flowProxyGeneration 1");
  const reason =
    /flowproxy 2\.0\.2-029b7c4 speaks system API generation 2, but flowProxyGeneration is 1; set it with: pulumi config set flowproxy-staging:flowProxyGeneration 2/;
  assert.match(refused, reason);
  assert.deepEqual(changedFields(before, await flowproxyVmState(east)), [], "nothing changed on vm-eastus");
  assert.equal(await flowproxyVersion(east), versionBefore);
  return `refused: "${reason.exec(refused)?.[0]}"; ${versionBefore} keeps running, nothing changed`;
}

/**
 * Switches the running stack to generation 2 and proves signed flow over the TCP system API.
 * `switchTo` is what the switch sets; its counterpart sets what does not change the generation.
 */
export async function switchToGeneration2(
  switchTo = { artifact: GENERATION_2_ARTIFACT, generation: "2" },
): Promise<string> {
  publishArtifact(switchTo.artifact);
  const switchStarted = Date.now();
  const switched = await up({
    overrides: { flowProxyArtifact: artifactUrl(switchTo.artifact), flowProxyGeneration: switchTo.generation },
  });
  const switchMs = Date.now() - switchStarted;
  for (const vm of flowproxyVms()) {
    assert.equal(
      await flowproxyVersion(vm),
      "flowproxy 2.0.2-029b7c4",
      `${vm.name} runs flowproxy 2.0.2-029b7c4 after the switch`,
    );
    assert.match(
      switched.runs.find((r) => r.vmName === vm.name)?.stdoutTail ?? "",
      /haproxy: replaced/,
      `${vm.name}: HAProxy recreated`,
    );
    // Nothing HTTP behind the system port any more: the TCP protocol gives an HTTP request no HTTP answer.
    const status = await publicRequest(vm, PORTS.system, "/livez").then(
      (r) => r.status,
      () => 0,
    );
    assert.notEqual(status, 200, `${vm.name}:${PORTS.system} still answers HTTP`);
  }
  const started = Date.now();
  await flowBothWays(60_000);
  const crossedMs = Date.now() - started;
  // Back to flowProxyGeneration 1 with the 2.x build still configured: refused before HAProxy changes.
  const haproxyBefore = await haproxySpec(east);
  const refused = await refusal({ overrides: { flowProxyArtifact: artifactUrl(GENERATION_2_ARTIFACT) } });
  assert.match(refused ?? "up succeeded", /speaks system API generation 2, but flowProxyGeneration is 1/);
  assert.equal(await haproxySpec(east), haproxyBefore, "HAProxy untouched");
  const againStarted = Date.now();
  await flowBothWays(60_000);
  return (
    `switched in ${formatSeconds(switchMs)}: HAProxy recreated with FLOWPROXY_SYSTEM_API=tcp, flowproxy 2.0.2-029b7c4 on both; ` +
    `signed flow in both directions over TCP+TLS after ${formatSeconds(crossedMs)}; going back to flowProxyGeneration 1 with that ` +
    `build is refused before HAProxy changes, and flow crosses again after ${formatSeconds(Date.now() - againStarted)}`
  );
}

/**
 * A fresh sandbox whose VMs make their own signer keys with Foundry's cast; flow crosses with them.
 * The counterpart plays the same check on the running stack with the keys Pulumi made (`fresh` false).
 */
export async function signerKeysOnVms(keys = { source: "vm", fresh: true }): Promise<string> {
  if (keys.fresh) await down();
  const report = await up({ overrides: { signerKeySource: keys.source } });
  for (const vm of flowproxyVms()) await servesLivez(vm);
  const list = await builders(east);
  const addresses: string[] = [];
  for (const vm of flowproxyVms()) {
    const made = await vmExec(vm, ["cat", VM_PATHS.signerAddress]);
    assert.equal(made.code, 0, `${vm.name} made no signer key of its own: ${VM_PATHS.signerAddress} is missing`);
    const address = made.stdout.trim();
    assert.match(address, /^0x[0-9a-fA-F]{40}$/);
    assert.equal(
      registrationOf(list, vm)?.orderflow_proxy.ecdsa_pubkey_address.toLowerCase(),
      address.toLowerCase(),
      `${vm.name} registered the key it made`,
    );
    assert.match(
      String(report.stack.outputs[vmOutputNames(vm.outputName!).signerAddress]?.value),
      /generated on/,
      `${vmOutputNames(vm.outputName!).signerAddress} says the key was generated on ${vm.name}`,
    );
    const mode = (await vmCheck(vm, ["stat", "-c", "%a %U", VM_PATHS.signerKey])).trim();
    assert.equal(mode, "600 root", `${vm.name}: the key file is private`);
    addresses.push(address);
  }
  await flowBothWays(60_000);
  return `cast (Foundry double, set -eu, needs HOME) made ${addresses.join(" and ")}; each registered and accepted as a peer's signer; signed flow in both directions`;
}

/** The HAProxy build a FlowProxy VM's container runs, as `haproxy -v` names it (e.g. 3.0.11-1+deb13u4). */
async function runningHaproxy(vm: Vm): Promise<string> {
  const banner = await vmCheck(vm, ["docker", "exec", CONTAINERS.haproxy, "haproxy", "-v"]);
  const version = /HAProxy version (\S+)/.exec(banner)?.[1];
  assert.ok(version, `${vm.name}: no version in \`haproxy -v\`: ${banner}`);
  return version;
}

/** The Debian build an image of the sandbox's Docker Hub holds (the last word of its source). */
const debianBuildOf = (source: string) => source.split(" ").pop() ?? source;

/** What the load during a haProxyVersion change must show: no refusal, and every request answered. */
export function versionChangeProblems(load: LoadResult): string[] {
  return [
    load.failures.ECONNREFUSED === undefined
      ? undefined
      : `${load.failures.ECONNREFUSED} connections refused: the new container did not listen before the old one stopped`,
    load.sent >= 300 ? undefined : `only ${load.sent} requests were sent during the change`,
    load.ok === load.sent
      ? undefined
      : `${load.ok} of ${load.sent} answered 200 during the change (${describeLoad(load)})`,
  ].filter((problem): problem is string => problem !== undefined);
}

export interface VersionChange {
  evidence: string;
  /** `sandbox up` with the other version: pull, check and recreate on both FlowProxy VMs. */
  changeMs: number;
  /** GET /livez on vm-eastus's :443, a new TLS connection each, while the version changed. */
  load: LoadResult;
}

/**
 * haProxyVersion changed on the committed stack, under load: each FlowProxy VM pulls the other HAProxy
 * from Docker Hub, checks the live haproxy.cfg with it, and recreates the container. Then back to
 * the newest, pinned by the digest Docker Hub gives it. The load shows what requests in flight see.
 */
export async function changeHaproxyVersion(): Promise<VersionChange> {
  const [newest, older] = haproxyImages();
  assert.ok(older, "Docker Hub serves two haproxy versions");
  // FlowProxy drops the requests it holds when it stops, so the change must differ from the running
  // stack in haProxyVersion alone (an earlier scenario may have left other settings), and FlowProxy
  // must keep running through it: otherwise the load shows its restart, not the HAProxy handover.
  await up();
  for (const vm of flowproxyVms()) {
    await servesLivez(vm);
  }
  const flowproxyPids = await Promise.all(flowproxyVms().map((vm) => mainPid(vm, flowproxyUnit(vm))));
  const load = livezLoad(east, PORTS.https, { ratePerSecond: 100, minRequests: 300, maxRequests: 30_000 });
  const started = Date.now();
  let changed: Awaited<ReturnType<typeof up>>;
  try {
    changed = await up({ overrides: { haProxyVersion: older.tag } });
  } finally {
    await load.stop();
  }
  const changeMs = Date.now() - started;
  const seen = await load.stop();
  for (const [i, vm] of flowproxyVms().entries()) {
    assert.match(
      changed.runs.find((r) => r.vmName === vm.name)?.stdoutTail ?? "",
      /haproxy: replaced/,
      `${vm.name}: HAProxy recreated`,
    );
    assert.equal(
      await mainPid(vm, flowproxyUnit(vm)),
      flowproxyPids[i],
      `${vm.name}: FlowProxy kept running through the change`,
    );
    assert.equal(await runningHaproxy(vm), debianBuildOf(older.source), `${vm.name} runs ${older.reference}`);
  }
  const pinned = `${newest.tag}@${newest.digest}`;
  await up({ overrides: { haProxyVersion: pinned } });
  for (const vm of flowproxyVms()) {
    assert.equal(
      await runningHaproxy(vm),
      debianBuildOf(newest.source),
      `${vm.name} runs ${newest.reference} by digest`,
    );
    await servesLivez(vm);
  }
  await flowBothWays(60_000);
  return {
    load: seen,
    changeMs,
    evidence:
      `${newest.reference} -> ${older.reference} in ${formatSeconds(changeMs)} (pull, check, recreate on both VMs; FlowProxy kept running); ` +
      `in flight on vm-eastus:443: ${describeLoad(seen)}; back to haproxy:${newest.tag}@${newest.digest.slice(0, 19)}... by digest; signed flow crosses`,
  };
}

/**
 * haProxyVersion naming what Docker Hub does not have (an unknown tag, a digest of nothing): the
 * pull fails at once with Docker's own error on the extension's last line; HAProxy keeps serving.
 */
export async function unknownHaproxyReferences(): Promise<string[]> {
  const [newest] = haproxyImages();
  const reported: string[] = [];
  for (const reference of ["9.9.9", `${newest.tag}@sha256:${"0".repeat(64)}`]) {
    const before = await flowproxyVmState(east);
    const refused = await refusal({ overrides: { haProxyVersion: reference } });
    const last = lastNonEmptyLine(refused ?? "up succeeded") ?? "";
    const escaped = reference.replace(/[.@]/g, "\\$&");
    assert.match(
      last,
      new RegExp(
        `\\(ensure haproxy image\\): docker pull haproxy:${escaped} failed: Error response from daemon: .*manifest unknown`,
      ),
    );
    assert.match(refused ?? "", /trying again cannot help/, "a missing manifest is not retried");
    assert.deepEqual(changedFields(before, await flowproxyVmState(east)), [], "HAProxy and FlowProxy untouched");
    reported.push(last);
  }
  await servesLivez(east);
  return reported;
}

/** Adds to haproxy.cfg's global section. */
const addToGlobal = (cfg: string, line: string) => cfg.replace(/^global\n/m, `global\n    ${line}\n`);

/** haproxy.cfg with a tuning keyword HAProxy knows from 2.8 on. */
export const withH2StreamLimit = (cfg: string) => addToGlobal(cfg, "tune.h2.fe.max-concurrent-streams 100");

/**
 * `projectDir` holds withH2StreamLimit's haproxy.cfg, which the newest HAProxy accepts and the older refuses; then
 * haProxyVersion set to the older: the check with the new image fails the run, naming HAProxy's
 * complaint, and the old container keeps serving with the old version.
 */
export async function versionRefusesConfig(projectDir: string): Promise<string> {
  const [newest, older] = haproxyImages();
  await up({ projectDir });
  let refused: string | undefined;
  let before: Awaited<ReturnType<typeof flowproxyVmState>>;
  let after: typeof before;
  try {
    before = await flowproxyVmState(east);
    refused = await refusal({ projectDir, overrides: { haProxyVersion: older.tag } });
    after = await flowproxyVmState(east);
    assert.equal(await runningHaproxy(east), debianBuildOf(newest.source));
    await servesLivez(east);
  } finally {
    await up();
  }
  const reason = new RegExp(
    `\\(ensure haproxy running\\): haproxy\\.cfg is invalid for haproxy:${older.tag.replace(/\./g, "\\.")} .*HAProxy keeps running as it was`,
  );
  assert.match(refused ?? "up succeeded", reason);
  assert.match(refused ?? "", /haproxy: .*tune\.h2\.fe\.max-concurrent-streams/, "HAProxy's own complaint is shown");
  assert.deepEqual(changedFields(before, after), [], "the old container keeps running, untouched");
  return `refused: "${reason.exec(refused ?? "")?.[0]}"; ${newest.reference} keeps serving`;
}

const CHECK_PROBE = `${VM_PATHS.haproxyDir}/sandbox-check-probe.lua`;

/**
 * What the config check's HAProxy itself sees, reported by a Lua file it loads while parsing: the
 * network interfaces of its namespace, and whether the configuration directory takes a write.
 */
const CHECK_PROBE_LUA = `-- Sandbox test probe: reports what the HAProxy parsing this configuration can see.
local names = {}
for line in io.lines("/proc/net/dev") do
  local name = line:match("^%s*([^:%s]+):")
  if name then names[#names + 1] = name end
end
local file, err = io.open("${VM_PATHS.haproxyDir}/sandbox-write-test", "w")
if file then file:close(); os.remove("${VM_PATHS.haproxyDir}/sandbox-write-test") end
print("sandbox probe: interfaces=" .. table.concat(names, ",") .. " write=" .. (file and "ok" or tostring(err)))
`;

/** haproxy.cfg loading the check probe. */
export const withCheckProbe = (cfg: string) => addToGlobal(cfg, `lua-load ${CHECK_PROBE}`);

/**
 * `projectDir` holds withCheckProbe's haproxy.cfg. The config check runs with no network and the
 * configuration mounted read-only: a Lua probe that the checked configuration loads reports what that HAProxy sees; the serving container, with the
 * host's network, reports the VM's interfaces, so the probe can tell the two apart.
 */
export async function configCheckIsolated(projectDir: string): Promise<string> {
  for (const vm of flowproxyVms())
    await vmCheck(vm, ["sh", "-c", 'printf "%s" "$1" > "$2"', "sh", CHECK_PROBE_LUA, CHECK_PROBE]);
  let checked: string;
  let serving: string;
  try {
    await up({ projectDir });
    checked = (await vmCheck(east, ["grep", "sandbox probe:", VM_PATHS.haproxyCheckLog])).trim();
    // The running HAProxy loaded the probe at its reload; its output is in the container's log.
    serving = (
      await vmCheck(east, ["sh", "-c", `docker logs ${CONTAINERS.haproxy} 2>&1 | grep 'sandbox probe:' | tail -n 1`])
    ).trim();
  } finally {
    await up();
    for (const vm of flowproxyVms()) await vmCheck(vm, ["rm", "-f", CHECK_PROBE]);
  }
  assert.match(
    checked,
    /interfaces=lo write=.*Read-only file system/,
    "the check sees only loopback and cannot write its configuration",
  );
  assert.match(
    serving,
    /interfaces=.*eth0/,
    "the serving HAProxy sees the VM's network, so the probe tells them apart",
  );
  return `the check's HAProxy: "${checked}"; the serving one: "${serving}"`;
}

/** haproxy.cfg with a frontend on an address no VM has: `haproxy -c` passes it, a start cannot bind it. */
export const withUnbindableFrontend = (cfg: string) =>
  `${cfg}\nfrontend sandbox_unbindable\n    bind 203.0.113.1:8080\n    http-request return status 200\n`;

/**
 * `projectDir` holds withUnbindableFrontend's haproxy.cfg, then haProxyVersion changes: the new
 * container cannot start, so it is removed and the previous one, still serving, gets its name back.
 */
export async function replacementRolledBack(projectDir: string): Promise<string> {
  const [newest, older] = haproxyImages();
  let refused: string | undefined;
  try {
    refused = await refusal({ projectDir, overrides: { haProxyVersion: older.tag } });
    assert.equal(await runningHaproxy(east), debianBuildOf(newest.source), "the previous HAProxy serves");
    const names = (await vmCheck(east, ["docker", "ps", "-a", "--format", "{{.Names}}"])).trim().split("\n");
    assert.deepEqual(names, [CONTAINERS.haproxy], "one container, under its own name");
    await servesLivez(east);
  } finally {
    await up();
  }
  const reason =
    /\(ensure haproxy running\): the new HAProxy container did not load its configuration within 10 s \(see above\); the previous one keeps serving/;
  assert.match(refused ?? "up succeeded", reason);
  assert.match(refused ?? "", /haproxy: .*203\.0\.113\.1:8080/, "HAProxy's own complaint is shown");
  return `refused: "${reason.exec(refused ?? "")?.[0]}"; ${newest.reference} kept serving under its name`;
}

// ---- dockerd restarted ----

/** Requests a second to the served port while dockerd restarts. */
const DOCKERD_RESTART_RATE = 50;

/**
 * BuilderHub's API asked from vm-eastus (over the VNets, as every registration is) 5 times a
 * second: the path every registration takes.
 */
function builderhubApiLoad(): SteadyLoad {
  return new SteadyLoad({
    ratePerSecond: 5,
    minRequests: 10,
    maxRequests: 5_000,
    request: async () => {
      const asked = await vmExec(east, ["curl", "-fsS", "-o", "/dev/null", "--max-time", "3", BUILDERS_URL]);
      return asked.code === 0 ? undefined : `curl exit ${asked.code}`;
    },
  });
}

/** systemctl restart docker on `vm`, until dockerd answers again. */
async function restartDockerdOn(vm: Vm): Promise<void> {
  // The scenarios restart dockerd more often than its unit's start limit (3 in 60 s) allows.
  await vmCheck(vm, ["systemctl", "reset-failed", "docker.service", "docker.socket"]);
  await vmCheck(vm, ["systemctl", "restart", "docker"]);
  await eventually("dockerd to answer after its restart", async () =>
    (await vmExec(vm, ["docker", "info"])).code === 0 ? true : undefined,
  );
}

const signersListed = async (): Promise<string[]> =>
  (await builders(east)).map((b) => b.orderflow_proxy.ecdsa_pubkey_address).sort();

/**
 * dockerd restarted on `vm` while its container serves (as an upgrade of docker.io or a crash of
 * dockerd does): with live-restore the container keeps running through it, so HAProxy answers every
 * request on :443 (sent from the host) and mockhub keeps its in-memory registry and answers the
 * VNets. Throws naming the requests refused or lost, the container restarted, the registrations lost.
 */
export async function restartDockerd(vm: Vm): Promise<string> {
  const [[container]] = containersOf(vm);
  const pidBefore = await containerPid(vm, container);
  const signersBefore = vm.role === "builderhub" ? await signersListed() : [];
  const load =
    vm.role === "flowproxy"
      ? livezLoad(vm, PORTS.https, { ratePerSecond: DOCKERD_RESTART_RATE, minRequests: 100, maxRequests: 30_000 })
      : builderhubApiLoad();
  let restartMs: number;
  try {
    await sleep(1000);
    const started = Date.now();
    await restartDockerdOn(vm);
    restartMs = Date.now() - started;
    await sleep(1000);
  } finally {
    await load.stop();
  }
  const served = await load.stop();
  const pidAfter = await containerPid(vm, container);
  const signersAfter = vm.role === "builderhub" ? await signersListed().catch(() => []) : [];
  const lost = signersBefore.filter((s) => !signersAfter.includes(s));
  const what = vm.role === "flowproxy" ? `:${PORTS.https} /livez from the host` : "BuilderHub's API from vm-eastus";
  const problems = [
    served.ok !== served.sent
      ? `${served.sent - served.ok} of ${served.sent} requests to ${what} refused or lost while dockerd restarted (${describeLoad(served)})`
      : undefined,
    pidBefore !== pidAfter
      ? `${container} was stopped by dockerd's restart (PID ${pidBefore} → ${pidAfter})`
      : undefined,
    lost.length > 0
      ? `BuilderHub lost ${lost.length} of ${signersBefore.length} registrations (${lost.join(", ")}) with dockerd's restart`
      : undefined,
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) throw new Error(`${vm.name}: ${problems.join("; ")}`);
  const registry =
    vm.role === "builderhub"
      ? `; BuilderHub listed ${signersBefore.length} registrations before and the same ${signersAfter.length} after`
      : "";
  return `dockerd restarted in ${formatSeconds(restartMs)}; ${what}: ${describeLoad(served)}; ${container} kept running (PID ${pidBefore})${registry}`;
}

// ---- counterparts: each check on its subject broken on purpose ----

/** Everything serving and listed again after a counterpart, for the next one. */
async function healed(): Promise<void> {
  await registrationTimers("start");
  for (const proxy of flowproxyVms()) await servesLivez(proxy, 60_000);
  await registryHealed(Date.now());
  await flowBothWays(HEAL_BUDGET_MS);
}

/**
 * The counterparts of the operator scenarios, by the scenario each breaks: the same scenario, or its
 * check on the same kind of evidence, with what it proves taken away. Each leaves the stack serving.
 */
export const operationsCounterparts = {
  /** HAProxy restarted under the version change's load: its ports close, which that check must name. */
  async haproxyVersion(): Promise<BrokenRun[]> {
    const load = livezLoad(east, PORTS.https, { ratePerSecond: 100, minRequests: 300, maxRequests: 30_000 });
    try {
      await sleep(500);
      await vmCheck(east, ["docker", "restart", CONTAINERS.haproxy]);
      await servesLivez(east);
    } finally {
      await load.stop();
    }
    return [
      {
        broke: "HAProxy restarted in place, its ports closed meanwhile",
        failure: versionChangeProblems(await load.stop()),
        naming: ["connections refused"],
      },
    ];
  },

  /** systemd told not to restart FlowProxy: the kill scenario must name the unit that does not run again. */
  async flowproxyKilled(): Promise<BrokenRun[]> {
    const unit = flowproxyUnit(east);
    const failure = await withUnitDropIn(east, "[Service]\nRestart=no\n", () => failureOf(() => killFlowproxy(east)));
    await vmCheck(east, ["systemctl", "start", unit]);
    await healed();
    return [{ broke: `${unit} with Restart=no`, failure, naming: [`${unit} to run again`] }];
  },

  /** The registration timers held after BuilderHub's restart: nothing heals the registry within the budget. */
  async builderhubRestarted(): Promise<BrokenRun[]> {
    const failure = await failureOf(() => restartBuilderhub({ timersHeld: true }));
    await healed();
    return [
      {
        broke: "the registration timers held after BuilderHub's restart",
        failure,
        naming: ["BuilderHub to list every proxy"],
      },
    ];
  },

  /** No conflicting registration made: provisioning goes on, which the scenario must name. */
  async conflictingRegistration(stack: Evaluation, signerAddress: string): Promise<BrokenRun[]> {
    const failure = await failureOf(() => conflictingRegistration(stack, signerAddress, { conflict: false }));
    await healed();
    return [
      { broke: "BuilderHub restarted without the conflicting registration", failure, naming: ["provisioning fails"] },
    ];
  },

  /** The VM's container taken off its restart policy: the reboot scenario must name the container left stopped. */
  async reboot(vm: Vm): Promise<BrokenRun[]> {
    const [[name, policy]] = containersOf(vm);
    await vmCheck(vm, ["docker", "update", "--restart=no", name]);
    const failure = await failureOf(() => rebootAndCheck(vm));
    await vmCheck(vm, ["docker", "update", `--restart=${policy}`, name]);
    await vmCheck(vm, ["docker", "start", name]);
    await healed();
    return [
      {
        broke: `${name}'s restart policy set to no`,
        failure,
        naming: [`${name} to be started again after the reboot`],
      },
    ];
  },

  /**
   * dockerd on `vm` started without live-restore (a drop-in points it at a copy of daemon.json that
   * turns it off): its restart stops the container, which the check must name with what it cost.
   */
  async dockerdRestarted(vm: Vm): Promise<BrokenRun[]> {
    const config = "/run/docker-without-live-restore.json";
    await vmCheck(vm, [
      "sh",
      "-c",
      `sed 's/"live-restore": true/"live-restore": false/' /etc/docker/daemon.json > ${config}`,
    ]);
    const execStart = `[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock --config-file=${config}\n`;
    const restart = async () => {
      await restartDockerdOn(vm);
      await vmCheck(vm, ["docker", "start", containersOf(vm)[0][0]]);
      await healed();
    };
    const failure = await withUnitDropIn(
      vm,
      execStart,
      async () => {
        await restart();
        return failureOf(() => restartDockerd(vm));
      },
      "docker.service",
    );
    await restart();
    const naming =
      vm.role === "flowproxy"
        ? ["refused or lost while dockerd restarted", "was stopped by dockerd's restart"]
        : ["registrations", "was stopped by dockerd's restart"];
    return [{ broke: `dockerd on ${vm.name} without live-restore`, failure, naming }];
  },

  /** The committed generation-1 build under flowProxyGeneration 1: nothing to refuse, which the scenario must name. */
  async generationMismatch(): Promise<BrokenRun[]> {
    const failure = await failureOf(() => generationMismatch(SANDBOX_ARTIFACT));
    return [{ broke: "a build of the configured generation", failure, naming: ["up succeeded"] }];
  },

  /** The switch set to the committed generation-1 build and generation: the check must name the build that did not change. */
  async generation2(): Promise<BrokenRun[]> {
    const failure = await failureOf(() => switchToGeneration2({ artifact: SANDBOX_ARTIFACT, generation: "1" }));
    return [
      {
        broke: "a switch that keeps the generation-1 build",
        failure,
        naming: ["runs flowproxy 2.0.2-029b7c4 after the switch"],
      },
    ];
  },

  /** The keys Pulumi made, on the running stack: the check must name the output that does not say a VM made them. */
  async signerKeysOnVms(): Promise<BrokenRun[]> {
    const failure = await failureOf(() => signerKeysOnVms({ source: "stack", fresh: false }));
    return [
      { broke: "signer keys made by Pulumi, not on the VMs", failure, naming: ["made no signer key of its own"] },
    ];
  },
};
