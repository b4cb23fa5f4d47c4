// Provisioning figures from the sandbox: a cold and a warm `sandbox up`, the first run of each VM's
// extension, a rerun with no change, a rerun after a haproxy.cfg change under steady load through
// :443, a rerun after a new FlowProxy artifact with the time the public endpoint did not answer, and
// a haProxyVersion change with what requests in flight saw.
import * as fs from "fs";
import { PORTS } from "../lib/contract";
import { Evaluation, withEditedProject } from "../plan/evaluation";
import { GENERATION_1_BUILD, publishArtifact } from "../sandbox/internet/doubles";
import type { ExtensionRun } from "../sandbox/azure/extension";
import { CACHE_DIR } from "../sandbox/base/paths";
import { describeLoad, livezLoad, LoadResult, loadWithin, servesLivez } from "../sandbox/probe";
import { sleep } from "../sandbox/base/proc";
import { down, evaluateSandboxStack, provision, up } from "../sandbox/sandbox";
import { changeHaproxyVersion } from "../test/sandbox/scenarios/operations";
import { verifySandbox, VERIFY_BUDGET_MS } from "../test/sandbox/scenarios/verify-faults";
import { artifactUrl, SANDBOX_ARTIFACT } from "../sandbox/internet/stack-config";
import { flowproxyVms } from "../sandbox/base/topology";
import type { Row } from "./bench";
import { PROVISIONING_MEASURES as MEASURES } from "./bench-measures";

const [east] = flowproxyVms();
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const slowest = (runs: ExtensionRun[]) => Math.max(...runs.map((r) => r.durationMs));

function requireSuccess(runs: ExtensionRun[], what: string): ExtensionRun[] {
  const failed = runs.filter((r) => r.exitCode !== 0);
  if (failed.length > 0) throw new Error(`${what}: ${failed.map((r) => `${r.vmName} exit ${r.exitCode}`).join(", ")}`);
  return runs;
}

/** GET /livez on east's :443 at `ratePerSecond` while `action` runs, a new TLS connection each. */
async function underLoad<T>(
  ratePerSecond: number,
  minRequests: number,
  action: () => Promise<T>,
): Promise<{ value: T; load: LoadResult }> {
  const load = livezLoad(east, PORTS.https, {
    ratePerSecond,
    minRequests,
    maxRequests: Math.max(minRequests, ratePerSecond * 600),
  });
  try {
    return { value: await action(), load: await load.stop() };
  } finally {
    await load.stop();
  }
}

const failed = (load: LoadResult) => load.sent - load.ok;

const RELOAD_RATE = 250;
/** Rerun time to sample: at RELOAD_RATE, about 2000 requests sent while HAProxy reloads. */
const RELOAD_WINDOW_MS = 8000;
/** What RELOAD_WINDOW_MS must have carried, less a tenth for the sender falling behind its rate. */
const MIN_REQUESTS_DURING_RELOADS = 1800;
const MAX_RELOAD_ROUNDS = 12;

const windowTotal = (windows: [number, number][]) => windows.reduce((sum, [from, to]) => sum + to - from, 0);

/** One rerun of every extension, its time window recorded, after a pause that separates it from the last. */
async function timedRerun(stack: Evaluation, windows: [number, number][]): Promise<ExtensionRun[]> {
  await sleep(500);
  const from = Date.now();
  const runs = await provision(stack);
  windows.push([from, Date.now()]);
  return runs;
}

function stackWithEditedHaproxyCfg(): Promise<Evaluation> {
  return withEditedProject(
    "haproxy.cfg",
    (text) => text.replace("timeout client 30s", "timeout client 31s"),
    (projectDir) => evaluateSandboxStack({ projectDir }),
  );
}

/** Leaves the sandbox up for the data-path figures, or removes it when something failed. */
export async function provisioningFigures(): Promise<Row[]> {
  const rows: Row[] = [];
  await down();
  try {
    // Cold: nothing cached, so the VM image (debootstrap), the Debian packages of Docker Hub's images,
    // the images and the registry are all made again.
    fs.rmSync(CACHE_DIR, { recursive: true, force: true });
    const coldStarted = Date.now();
    await up();
    const coldMs = Date.now() - coldStarted;
    await down();
    const warmStarted = Date.now();
    const report = await up();
    const warmMs = Date.now() - warmStarted;
    rows.push(
      {
        measure: MEASURES.coldUp,
        value: seconds(coldMs),
        target: "≤ 180 s",
        verdict: coldMs <= 180_000 ? "met" : "missed",
      },
      {
        measure: MEASURES.warmUp,
        value: seconds(warmMs),
        target: "≤ 30 s",
        verdict: warmMs <= 30_000 ? "met" : "missed",
      },
    );
    for (const vm of flowproxyVms()) await servesLivez(vm);
    const verified = await verifySandbox();
    rows.push({
      measure: MEASURES.verify(verified.results.length, verified.ok ? "all passed" : "SOME FAILED"),
      value: seconds(verified.durationMs),
      target: `≤ ${VERIFY_BUDGET_MS / 1000} s`,
      verdict: verified.ok && verified.durationMs <= VERIFY_BUDGET_MS ? "met" : "missed",
    });
    for (const run of requireSuccess(report.runs, "first run")) {
      rows.push({
        measure: MEASURES.firstRun(run.vmName),
        value: seconds(run.durationMs),
        target: "—",
        verdict: "info",
      });
    }

    const rerun = requireSuccess(await provision(report.stack), "rerun");
    const rerunMs = slowest(rerun);
    rows.push({
      measure: MEASURES.rerun,
      value: seconds(rerunMs),
      target: "≤ 5 s",
      verdict: rerunMs <= 5000 ? "met" : "missed",
    });

    // Reruns alternate between an edited haproxy.cfg and the committed one, each a reload under
    // load; only requests sent while a rerun ran count, until the reruns lasted RELOAD_WINDOW_MS.
    const edited = await stackWithEditedHaproxyCfg();
    const windows: [number, number][] = [];
    const { value: cfgRuns, load: cfgLoad } = await underLoad(RELOAD_RATE, 0, async () => {
      const first = requireSuccess(await timedRerun(edited, windows), "rerun after a haproxy.cfg change");
      for (let round = 1; round < MAX_RELOAD_ROUNDS && windowTotal(windows) < RELOAD_WINDOW_MS; round++) {
        requireSuccess(
          await timedRerun(round % 2 === 0 ? edited : report.stack, windows),
          "rerun after a haproxy.cfg change",
        );
      }
      return first;
    });
    const cfgMs = slowest(cfgRuns);
    const during = windows.map(([from, to]) => loadWithin(cfgLoad, from, to));
    const sentDuring = during.reduce((sum, load) => sum + load.sent, 0);
    const lostDuring = during.reduce((sum, load) => sum + failed(load), 0);
    rows.push(
      {
        measure: MEASURES.rerunAfterCfg,
        value: seconds(cfgMs),
        target: "≤ 10 s",
        verdict: cfgMs <= 10_000 ? "met" : "missed",
      },
      {
        measure: MEASURES.lostDuringCfg(windows.length, seconds(windowTotal(windows)), RELOAD_RATE),
        value: `${lostDuring} of ${sentDuring}`,
        target: `0 of ≥ ${MIN_REQUESTS_DURING_RELOADS}`,
        verdict: lostDuring === 0 && sentDuring >= MIN_REQUESTS_DURING_RELOADS ? "met" : "missed",
      },
    );

    const next = { ...SANDBOX_ARTIFACT, id: "30", build: { ...GENERATION_1_BUILD, gitHash: "bench02" } };
    publishArtifact(next);
    const withArtifact = await evaluateSandboxStack({ overrides: { flowProxyArtifact: artifactUrl(next) } });
    // One probe every 50 ms: each failed probe stands for 50 ms without an answer.
    const { value: artifactRuns, load: artifactLoad } = await underLoad(20, 0, () => provision(withArtifact));
    requireSuccess(artifactRuns, "rerun after a new artifact");
    rows.push(
      { measure: MEASURES.rerunAfterArtifact, value: seconds(slowest(artifactRuns)), target: "—", verdict: "info" },
      {
        measure: MEASURES.unavailableDuringArtifact,
        value: `${seconds(failed(artifactLoad) * 50)} (${describeLoad(artifactLoad)})`,
        target: "—",
        verdict: "info",
      },
    );

    const change = await changeHaproxyVersion();
    rows.push(
      { measure: MEASURES.haproxyVersionChange, value: seconds(change.changeMs), target: "—", verdict: "info" },
      { measure: MEASURES.livezDuringChange, value: describeLoad(change.load), target: "—", verdict: "info" },
    );
  } catch (err) {
    await down();
    throw err;
  }
  return rows;
}
