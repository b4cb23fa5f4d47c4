// What an operator does to a running stack, played on the sandbox: kill FlowProxy, restart or
// reboot BuilderHub, reboot a VM, switch FlowProxy's generation, make keys on the VMs. Shared by the
// end-to-end suite and the reliability report, so both prove the same thing. Each scenario throws
// with what went wrong, or returns its evidence (times are measured, not assumed).
import assert from "node:assert/strict";
import { GENERATION_2_BUILD, publishArtifact } from "./doubles";
import { DOWNLOAD_DIR, runExtension } from "./extension";
import {
  builders,
  changedFields,
  CONTAINER_SPEC_LABEL,
  eventually,
  flowproxyUnit,
  flowproxyVmState,
  mainPid,
  publicRequest,
  registrationIsCurrent,
  registrationOf,
  REGISTER_URL,
  servesLivez,
  systemFlowAccepted,
  unitState,
} from "./probe";
import { formatSeconds, lastNonEmptyLine } from "./proc";
import { down, up } from "./sandbox";
import { Searcher } from "./searcher";
import { RenderedStack } from "./stack";
import { artifactUrl, SANDBOX_ARTIFACT } from "./stack-config";
import { flowproxyVms, PUBLIC_PORTS, Vm, vmByName } from "./topology";
import { rebootVm, vmCheck, vmExec } from "./vm";

const hub = vmByName("vm-builderhub");
const [east, west] = flowproxyVms();
const searcher = new Searcher();
let blockNumber = 1;
/** Within this, BuilderHub must list both proxies again and system flow must cross again (issue 8). */
export const HEAL_BUDGET_MS = 120_000;
export const REGISTRATION_TIMER = "flowproxy-registration.timer";

/**
 * Signed bundles on `from`'s public :443, a new one every 2 s, until `to`'s system endpoint accepted
 * one. A proxy forwards only to the peers it knew when a bundle came in, so while peers are still
 * learning about each other (every 30 s) a single bundle may rightly go nowhere.
 */
export async function sendAcross(from: Vm, to: Vm, timeoutMs = 20_000): Promise<void> {
  const before = await systemFlowAccepted(to);
  let sentAt = 0;
  await eventually(
    `${to.name}'s system endpoint to accept a bundle sent to ${from.name}`,
    async () => {
      if (Date.now() - sentAt >= 2000) {
        sentAt = Date.now();
        const signed = await searcher.bundle(blockNumber++);
        const reply = await publicRequest(from, PUBLIC_PORTS.https, "/", signed.body, signed.headers);
        assert.equal(reply.status, 200, `${from.name} refused a signed bundle: ${reply.body}`);
        assert.match((JSON.parse(reply.body) as { result: { bundleHash: string } }).result.bundleHash, /^0x[0-9a-f]{64}$/);
      }
      return (await systemFlowAccepted(to)) > before ? true : undefined;
    },
    timeoutMs,
  );
}

/** Signed flow both ways; resolves when both crossed. */
export async function flowBothWays(timeoutMs: number): Promise<void> {
  await sendAcross(east, west, timeoutMs);
  await sendAcross(west, east, timeoutMs);
}

/** Waits until BuilderHub lists both proxies with the certificates they serve; returns ms since `since`. */
export async function registryHealed(since: number, timeoutMs = HEAL_BUDGET_MS): Promise<number> {
  await eventually(
    "BuilderHub to list both proxies with their served certificates",
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
  await vmCheck(hub, ["docker", "stop", "mockhub"]);
  await vmCheck(hub, ["docker", "start", "mockhub"]);
  await eventually("BuilderHub's API to answer after the restart", () => builders(east).catch(() => undefined));
}

/** Extension runs a VM has had: the CustomScript handler's numbered download directories. */
export async function extensionRunCount(vm: Vm): Promise<number> {
  return (await vmCheck(vm, ["ls", DOWNLOAD_DIR])).split("\n").filter((d) => /^\d+$/.test(d)).length;
}

export const flowproxyVersion = async (vm: Vm) => (await vmCheck(vm, ["/usr/local/bin/flowproxy", "--version"])).trim();

/** Stops or starts the registration timer on every FlowProxy VM. */
async function registrationTimers(action: "stop" | "start"): Promise<void> {
  for (const vm of flowproxyVms()) await vmCheck(vm, ["systemctl", action, REGISTRATION_TIMER]);
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
    const journal = await vmCheck(vm, ["journalctl", `_SYSTEMD_INVOCATION_ID=${invocation}`, "--no-pager", "-o", "cat"]);
    assert.match(journal, /flowproxy-register: registered 0x[0-9a-fA-F]{40} with the served certificate/, "the hook registered before this start");
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

export async function restartBuilderhub(): Promise<{ healedMs: number; flowingMs: number; evidence: string }> {
  const restarted = Date.now();
  // The timers are held for the moment it takes to see the mock come back empty, so neither
  // re-registers before that is checked; they restart at once, and the heal is timed from the restart.
  await registrationTimers("stop");
  try {
    await restartMockhub();
    assert.deepEqual(await builders(east), [], "a restarted mock lists nobody");
  } finally {
    await registrationTimers("start");
  }
  const healedMs = await registryHealed(restarted);
  // Peers read BuilderHub every 30 s (PEER_UPDATE_INTERVAL_S); flow resumes after their next read.
  await flowBothWays(Math.max(HEAL_BUDGET_MS - (Date.now() - restarted), 1));
  const flowingMs = Date.now() - restarted;
  assert.ok(flowingMs <= HEAL_BUDGET_MS, `system flow resumed after ${formatSeconds(flowingMs)}`);
  return {
    healedMs,
    flowingMs,
    evidence: `registry empty after the restart; both proxies listed with their certificates after ${formatSeconds(healedMs)}, signed flow in both directions after ${formatSeconds(flowingMs)} (budget ${formatSeconds(HEAL_BUDGET_MS)})`,
  };
}

/**
 * BuilderHub holding what FlowProxy's own start-up registration leaves (the signer, no certificate)
 * before ours: provisioning must fail saying so, the journal must say so, FlowProxy keeps serving;
 * a BuilderHub restart then heals it.
 */
export async function conflictingRegistration(stack: RenderedStack, signerAddress: string): Promise<string> {
  const extension = stack.extensions.find((e) => e.vmName === east.name);
  assert.ok(extension, `the stack has an extension for ${east.name}`);
  await vmCheck(east, ["systemctl", "stop", REGISTRATION_TIMER]);
  let reported: string;
  try {
    await restartMockhub();
    const registration = JSON.stringify({ ecdsa_pubkey_address: signerAddress });
    await vmCheck(east, ["curl", "-fsS", "-X", "POST", "-H", "Content-Type: application/json", "--data", registration, REGISTER_URL]);
    const failed = await runExtension(east, extension);
    assert.equal(failed.exitCode, 1, "provisioning fails");
    assert.match(failed.stderrTail, /BuilderHub lists 0x[0-9a-fA-F]{40} without a certificate/);
    reported = lastNonEmptyLine(failed.stdoutTail) ?? "";
    assert.match(reported, /\(ensure registered with builderhub\): BuilderHub lists \S+ with another certificate than HAProxy serves/);
    const check = await vmExec(east, ["systemctl", "start", "flowproxy-registration.service"]);
    assert.notEqual(check.code, 0, "the timer's check fails too");
    const journal = await vmCheck(east, ["journalctl", "-u", "flowproxy-registration.service", "--since", "-2min", "--no-pager", "-o", "cat"]);
    assert.match(journal, /without a certificate, so peers cannot reach this proxy over TLS/);
    assert.equal(await unitState(east, flowproxyUnit(east)), "active", "FlowProxy keeps serving");
  } finally {
    await restartMockhub();
    const recovered = await runExtension(east, extension);
    assert.equal(recovered.exitCode, 0, `the rerun after a BuilderHub restart: ${lastNonEmptyLine(recovered.stdoutTail)}`);
  }
  const healedMs = await registryHealed(Date.now());
  assert.equal(await unitState(east, REGISTRATION_TIMER), "active");
  return `extension: "${reported.slice(0, 140)}..."; journal of flowproxy-registration names it; after a BuilderHub restart the rerun converged and the registry was current in ${formatSeconds(healedMs)}`;
}

/** Reboots one VM from inside; nothing reruns its extension, and everything serves as before. */
export async function rebootAndCheck(vm: Vm): Promise<string> {
  const runsBefore = await extensionRunCount(vm);
  const stateBefore = vm.role === "flowproxy" ? await flowproxyVmState(vm) : undefined;
  const rebooted = Date.now();
  const boot = await rebootVm(vm);
  for (const proxy of flowproxyVms()) await servesLivez(proxy, 60_000);
  const healedMs = await registryHealed(rebooted);
  await flowBothWays(Math.max(HEAL_BUDGET_MS - (Date.now() - rebooted), 1));
  const flowingMs = Date.now() - rebooted;
  assert.equal(await extensionRunCount(vm), runsBefore, `${vm.name}: no extension ran`);
  if (stateBefore) {
    const stateAfter = await flowproxyVmState(vm);
    assert.notEqual(stateAfter.flowproxyPid, stateBefore.flowproxyPid, `${vm.name}: FlowProxy is a new process`);
    const changed = changedFields(stateBefore, stateAfter).filter((f) => !["haproxyPid", "flowproxyPid"].includes(f));
    assert.deepEqual(changed, [], `${vm.name}: binary, haproxy.cfg, certificate, signer key and registration as before`);
  }
  return `booted ${boot.state}; no extension ran; registry current after ${formatSeconds(healedMs)}, signed flow in both directions after ${formatSeconds(flowingMs)}${stateBefore ? "; binary, haproxy.cfg, certificate, signer key and registration unchanged" : ""}`;
}

const GENERATION_2_ARTIFACT = { ...SANDBOX_ARTIFACT, id: "25", build: GENERATION_2_BUILD };

/** The settings HAProxy's container was started with, as provisioning labelled it. */
const haproxySpec = (vm: Vm) => vmCheck(vm, ["docker", "inspect", "--format", `{{index .Config.Labels "${CONTAINER_SPEC_LABEL}"}}`, "haproxy"]);

/** A generation-2 build under flowProxyGeneration 1: refused naming the key and value; nothing changes. */
export async function generationMismatch(): Promise<string> {
  publishArtifact(GENERATION_2_ARTIFACT);
  const before = await flowproxyVmState(east);
  const versionBefore = await flowproxyVersion(east);
  const refused = await up({ overrides: { flowProxyArtifact: artifactUrl(GENERATION_2_ARTIFACT) }, keepOnFailure: true }).then(
    () => undefined,
    (err: Error) => err.message,
  );
  assert.ok(refused, "up succeeded with a generation-2 build under flowProxyGeneration 1");
  const reason = /flowproxy 2\.0\.2-029b7c4 speaks system API generation 2, but flowProxyGeneration is 1; set it with: pulumi config set flowproxy-staging:flowProxyGeneration 2/;
  assert.match(refused, reason);
  assert.deepEqual(changedFields(before, await flowproxyVmState(east)), [], "nothing changed on vm-eastus");
  assert.equal(await flowproxyVersion(east), versionBefore);
  return `refused: "${reason.exec(refused)?.[0]}"; ${versionBefore} keeps running, nothing changed`;
}

/** Switches the running stack to generation 2 and proves signed flow over the TCP system API. */
export async function switchToGeneration2(): Promise<string> {
  publishArtifact(GENERATION_2_ARTIFACT);
  const switchStarted = Date.now();
  const switched = await up({ overrides: { flowProxyArtifact: artifactUrl(GENERATION_2_ARTIFACT), flowProxyGeneration: "2" } });
  const switchMs = Date.now() - switchStarted;
  for (const vm of flowproxyVms()) {
    assert.equal(await flowproxyVersion(vm), "flowproxy 2.0.2-029b7c4");
    assert.match(switched.runs.find((r) => r.vmName === vm.name)?.stdoutTail ?? "", /haproxy: replaced/, `${vm.name}: HAProxy recreated`);
    // Nothing HTTP behind :5544 any more: the TCP protocol gives an HTTP request no HTTP answer.
    const status = await publicRequest(vm, PUBLIC_PORTS.system, "/livez").then((r) => r.status, () => 0);
    assert.notEqual(status, 200, `${vm.name}:5544 still answers HTTP`);
  }
  const started = Date.now();
  await flowBothWays(60_000);
  const crossedMs = Date.now() - started;
  // Back to flowProxyGeneration 1 with the 2.x build still configured: refused before HAProxy changes.
  const haproxyBefore = await haproxySpec(east);
  const refused = await up({ overrides: { flowProxyArtifact: artifactUrl(GENERATION_2_ARTIFACT) }, keepOnFailure: true }).then(
    () => undefined,
    (err: Error) => err.message,
  );
  assert.match(refused ?? "up succeeded", /speaks system API generation 2, but flowProxyGeneration is 1/);
  assert.equal(await haproxySpec(east), haproxyBefore, "HAProxy untouched");
  const againStarted = Date.now();
  await flowBothWays(60_000);
  return (
    `switched in ${formatSeconds(switchMs)}: HAProxy recreated with FLOWPROXY_SYSTEM_API=tcp, flowproxy 2.0.2-029b7c4 on both; ` +
    `signed flow in both directions over TCP+TLS within ${formatSeconds(crossedMs)}; going back to flowProxyGeneration 1 with that ` +
    `build is refused before HAProxy changes, and flow crosses again within ${formatSeconds(Date.now() - againStarted)}`
  );
}

/** A fresh sandbox whose VMs make their own signer keys with Foundry's cast; flow crosses with them. */
export async function signerKeysOnVms(): Promise<string> {
  await down();
  const report = await up({ overrides: { signerKeySource: "vm" } });
  for (const vm of flowproxyVms()) await servesLivez(vm);
  const list = await builders(east);
  const addresses: string[] = [];
  for (const vm of flowproxyVms()) {
    const address = (await vmCheck(vm, ["cat", "/etc/flowproxy/signer.address"])).trim();
    assert.match(address, /^0x[0-9a-fA-F]{40}$/);
    assert.equal(registrationOf(list, vm)?.orderflow_proxy.ecdsa_pubkey_address.toLowerCase(), address.toLowerCase(), `${vm.name} registered the key it made`);
    assert.match(String(report.stack.outputs[`${vm.vnet}SignerAddress`]?.value), /generated on/);
    const mode = (await vmCheck(vm, ["stat", "-c", "%a %U", "/etc/flowproxy/signer.key"])).trim();
    assert.equal(mode, "600 root", `${vm.name}: the key file is private`);
    addresses.push(address);
  }
  await flowBothWays(60_000);
  return `cast (Foundry double, set -eu, needs HOME) made ${addresses.join(" and ")}; each registered and accepted as a peer's signer; signed flow in both directions`;
}
