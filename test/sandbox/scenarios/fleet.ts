// A region grown from one FlowProxy VM to two and shrunk back on the running sandbox, the way
// `pulumi up` changes the stack on Azure: the extensions whose configuration is new run (BuilderHub's,
// which keeps the fleet, and the new VM's), then the VMs the stack no longer declares are deleted.
// Every proxy the change leaves alone takes steady load on its public :443 throughout, and must lose
// nothing, restart nothing and keep its registration.
import assert from "node:assert/strict";
import { BUILDERHUB, CONTAINERS, PORTS, UNITS } from "../../../lib/contract";
import { withEditedProject } from "../../../plan/evaluation";
import {
  builders,
  changedFields,
  containerPid,
  describeLoad,
  eventually,
  flowproxyVmState,
  FlowproxyVmState,
  livezLoad,
  LoadResult,
  peersKnown,
  registrationOf,
  servesLivez,
} from "../../../sandbox/probe";
import { formatSeconds } from "../../../sandbox/base/proc";
import { up, UpReport } from "../../../sandbox/sandbox";
import { SANDBOX_REGIONS, Vm, vmByName, VMS } from "../../../sandbox/base/topology";
import { vmsOnDisk } from "../../../sandbox/machines/vm";
import { BrokenRun, failureOf, withUnitDropIn } from "./broken";
import { HEAL_BUDGET_MS, registryHealed, sendAcross } from "./operations";

/** The region the scenarios grow and shrink: westeurope, which runs one proxy in the sandbox's stack. */
const REGION = SANDBOX_REGIONS[1];
/** The sandbox's regions with westeurope grown to two proxies. */
const GROWN_REGIONS = SANDBOX_REGIONS.map((region) =>
  region === REGION ? { ...region, proxies: (region.proxies ?? 1) + 1 } : region,
);
/** The proxy growing adds and shrinking removes. */
const ADDED_VM = "vm-westeurope-2";
const builderhub = vmByName(BUILDERHUB.vmName);
const grownOverrides = { regions: JSON.stringify(GROWN_REGIONS) };
/** Requests per second on each untouched proxy's :443. */
const LOAD_RATE = 20;

const proxiesOf = (vms: readonly Vm[]) => vms.filter((vm) => vm.role === "flowproxy");

/** What must not change on the proxies a grow or shrink leaves alone, and on BuilderHub's mockhub. */
interface Untouched {
  states: Map<string, FlowproxyVmState>;
  mockhubPid: string;
}

async function untouchedNow(proxies: readonly Vm[]): Promise<Untouched> {
  const states = new Map<string, FlowproxyVmState>();
  for (const vm of proxies) states.set(vm.name, await flowproxyVmState(vm));
  return { states, mockhubPid: await containerPid(builderhub, CONTAINERS.mockhub) };
}

/** What changed on the untouched proxies: each proxy's changed fields, by its name. */
async function untouchedChanges(proxies: readonly Vm[], before: Untouched): Promise<string[]> {
  const problems: string[] = [];
  for (const vm of proxies) {
    const changed = changedFields(before.states.get(vm.name)!, await flowproxyVmState(vm));
    if (changed.length > 0) problems.push(`${vm.name} changed its ${changed.join(", ")}`);
  }
  return problems;
}

/** Steady GET /livez on each proxy's :443 while `change` runs; every answer must be a 200. */
async function underLoad<T>(
  proxies: readonly Vm[],
  change: () => Promise<T>,
): Promise<{ value: T; loads: Map<string, LoadResult> }> {
  const running = proxies.map(
    (vm) =>
      [
        vm.name,
        livezLoad(vm, PORTS.https, { ratePerSecond: LOAD_RATE, minRequests: 50, maxRequests: 60_000 }),
      ] as const,
  );
  let value: T;
  try {
    value = await change();
  } finally {
    await Promise.all(running.map(([, load]) => load.stop()));
  }
  const loads = new Map<string, LoadResult>();
  for (const [name, load] of running) loads.set(name, await load.stop());
  return { value, loads };
}

function lossesOf(loads: Map<string, LoadResult>): string[] {
  return [...loads]
    .filter(([, load]) => load.ok !== load.sent)
    .map(([name, load]) => `${name}:${PORTS.https} lost requests: ${describeLoad(load)}`);
}

const loadEvidence = (loads: Map<string, LoadResult>) =>
  [...loads].map(([name, load]) => `${name} ${load.ok}/${load.sent}`).join(", ");

/** The VMs whose extension ran in an `up`, and which of them were expected to. */
function extensionProblems(report: UpReport, expected: readonly string[]): string[] {
  const ran = report.runs.map((r) => r.vmName).sort();
  const unexpected = ran.filter((vm) => !expected.includes(vm)).map((vm) => `${vm}'s extension ran again`);
  const missing = expected.filter((vm) => !ran.includes(vm)).map((vm) => `${vm}'s extension did not run`);
  return [...unexpected, ...missing];
}

export interface FleetChange {
  changeMs: number;
  evidence: string;
}

/**
 * westeurope grown to two proxies. The sandbox first runs every extension with the committed
 * configuration (an earlier scenario may have left another), then grows with only the new
 * configurations running, as Azure runs them. `projectDir` grows another copy of the program.
 */
export async function growRegion(options: { projectDir?: string } = {}): Promise<FleetChange> {
  await up();
  const proxies = proxiesOf(VMS);
  for (const vm of proxies) await servesLivez(vm);
  const before = await untouchedNow(proxies);
  const started = Date.now();
  const { value: report, loads } = await underLoad(proxies, () =>
    up({ overrides: grownOverrides, onlyNewConfigurations: true, projectDir: options.projectDir }),
  );
  const changeMs = Date.now() - started;
  const added = vmByName(ADDED_VM);
  const problems = [
    ...extensionProblems(report, [builderhub.name, ADDED_VM]),
    ...(await untouchedChanges(proxies, before)),
    ...((await containerPid(builderhub, CONTAINERS.mockhub)) !== before.mockhubPid ? ["mockhub was restarted"] : []),
    ...lossesOf(loads),
  ];
  if (problems.length > 0) throw new Error(`growing westeurope to two proxies: ${problems.join("; ")}`);
  await servesLivez(added);
  const listed = registrationOf(await builders(added), added);
  assert.equal(listed?.name, ADDED_VM, `BuilderHub lists ${ADDED_VM} under its VM's name`);
  // Peers learn of the new proxy at their next read of BuilderHub (every 30 s).
  const flowStarted = Date.now();
  for (const vm of proxies) await sendAcross(added, vm, 60_000);
  await sendAcross(proxies[0], added, 60_000);
  const flowMs = Date.now() - flowStarted;
  return {
    changeMs,
    evidence:
      `grown in ${formatSeconds(changeMs)}: ${ADDED_VM} booted and provisioned, BuilderHub's extension took the new fleet; ` +
      `${proxies.map((vm) => vm.name).join(", ")} ran no extension and kept HAProxy, FlowProxy, certificate and registration; mockhub kept running; ` +
      `${ADDED_VM} listed under its name; signed flow from it to every proxy and from vm-eastus to it within ${formatSeconds(flowMs)}; ` +
      `:443 load on the untouched proxies: ${loadEvidence(loads)} answered 200`,
  };
}

/**
 * westeurope shrunk back to one proxy: the stack's extensions run where their configuration is new
 * (BuilderHub's fleet), then its second VM is deleted; BuilderHub's builderhub-prune restarts mockhub
 * once that VM no longer answers, and the remaining proxies register again and stop sending to it.
 */
export async function shrinkRegion(): Promise<FleetChange> {
  const removed = vmByName(ADDED_VM);
  assert.ok(
    vmsOnDisk().some((vm) => vm.name === ADDED_VM),
    `${ADDED_VM} runs before the shrink`,
  );
  const proxies = proxiesOf(VMS);
  const before = await untouchedNow(proxies);
  const started = Date.now();
  let upMs = 0;
  let forgotMs = 0;
  let healedMs = 0;
  let peersMs = 0;
  const { value: report, loads } = await underLoad(proxies, async () => {
    const shrunk = await up({ onlyNewConfigurations: true });
    upMs = Date.now() - started;
    await forgotten(removed, started);
    forgotMs = Date.now() - started;
    healedMs = await registryHealed(started);
    await eventually(
      `every remaining proxy to stop counting ${ADDED_VM} among its peers`,
      async () =>
        (await Promise.all(proxies.map(peersKnown))).every((n) => n === proxies.length - 1) ? true : undefined,
      Math.max(HEAL_BUDGET_MS - (Date.now() - started), 1),
    );
    peersMs = Date.now() - started;
    return shrunk;
  });
  const shrinkMs = Date.now() - started;
  const problems = [
    ...extensionProblems(report, [builderhub.name]),
    ...(report.removed.join(" ") === ADDED_VM
      ? []
      : [`the shrink removed ${report.removed.join(", ") || "no VM"}, not ${ADDED_VM}`]),
    ...(vmsOnDisk().some((vm) => vm.name === ADDED_VM) ? [`${ADDED_VM} is still there`] : []),
    ...(await untouchedChanges(proxies, before)),
    ...lossesOf(loads),
  ];
  if (problems.length > 0) throw new Error(`shrinking westeurope to one proxy: ${problems.join("; ")}`);
  const mockhubRestarted = (await containerPid(builderhub, CONTAINERS.mockhub)) !== before.mockhubPid;
  assert.ok(mockhubRestarted, "builderhub-prune restarted mockhub to forget the removed proxy");
  const flowStarted = Date.now();
  await sendAcross(proxies[0], proxies[proxies.length - 1], HEAL_BUDGET_MS);
  await sendAcross(proxies[proxies.length - 1], proxies[0], HEAL_BUDGET_MS);
  return {
    changeMs: shrinkMs,
    evidence:
      `shrunk in ${formatSeconds(upMs)} (BuilderHub's extension took the new fleet, then ${ADDED_VM} was deleted); ` +
      `BuilderHub forgot it (builderhub-prune restarted mockhub) ${formatSeconds(forgotMs)} after the up began; ` +
      `${proxies.map((vm) => vm.name).join(", ")} ran no extension, listed again after ${formatSeconds(healedMs)}, ` +
      `and every one stopped counting ${ADDED_VM} among its peers after ${formatSeconds(peersMs)}; signed flow crosses ${formatSeconds(Date.now() - flowStarted)} later; ` +
      `:443 load on the untouched proxies: ${loadEvidence(loads)} answered 200`,
  };
}

/** Waits until BuilderHub, asked from vm-eastus, no longer lists `removed`. */
async function forgotten(removed: Vm, since: number): Promise<void> {
  const [asker] = proxiesOf(VMS);
  await eventually(
    `BuilderHub to forget ${removed.name}`,
    async () => {
      const list = await builders(asker).catch(() => undefined);
      return list !== undefined && registrationOf(list, removed) === undefined ? true : undefined;
    },
    Math.max(HEAL_BUDGET_MS - (Date.now() - since), 1),
  );
}

/** The committed stack again after a counterpart: westeurope's second VM deleted, forgotten, and every proxy listed. */
async function backToCommittedFleet(): Promise<void> {
  const started = Date.now();
  await up({ onlyNewConfigurations: true });
  await forgotten(vmByName(ADDED_VM), started);
  await registryHealed(started);
  for (const vm of proxiesOf(VMS)) await servesLivez(vm);
}

/** index.ts rendering the number of FlowProxy VMs into every proxy's script: fleet-wide input that growing changes. */
const FLEET_INTO_EVERY_SCRIPT = (text: string): string => {
  const anchor = '{ name: "HAPROXY_IMAGE", value: `haproxy:${settings.haProxyVersion}` },';
  assert.ok(
    text.includes(anchor),
    "index.ts no longer declares the HAPROXY_IMAGE variable this counterpart edits beside",
  );
  return text.replace(anchor, `${anchor}\n      { name: "FLEET_SIZE", value: String(sites.length) },`);
};

/** The counterparts of the grow and the shrink: each on its subject broken on purpose, then the committed stack again. */
export const fleetCounterparts = {
  /** A program that renders the fleet into every proxy's script: growing reruns every proxy's extension, which the grow must name. */
  async grown(): Promise<BrokenRun[]> {
    const failure = await failureOf(() =>
      withEditedProject("index.ts", FLEET_INTO_EVERY_SCRIPT, (projectDir) => growRegion({ projectDir })),
    );
    await backToCommittedFleet();
    return [
      {
        broke: "the number of proxies rendered into every proxy's script",
        failure,
        naming: ["vm-eastus's extension ran again", "vm-westeurope's extension ran again"],
      },
    ];
  },

  /**
   * builderhub-prune made to do nothing (a drop-in: its timer keeps running, and BuilderHub's
   * extension, which starts a stopped timer, leaves it so): mockhub keeps listing the deleted proxy,
   * which the shrink must name.
   */
  async shrunk(): Promise<BrokenRun[]> {
    await growRegion();
    const failure = await withUnitDropIn(
      builderhub,
      "[Service]\nExecStart=\nExecStart=/bin/true\n",
      () => failureOf(() => shrinkRegion()),
      UNITS.pruneService,
    );
    await backToCommittedFleet();
    return [{ broke: "builderhub-prune doing nothing", failure, naming: [`BuilderHub to forget ${ADDED_VM}`] }];
  },
};
