// Monitoring on the sandbox (config key monitoring): the stack brought up with it on, then
// Prometheus on BuilderHub asked what it sees, through its HTTP API on BuilderHub's loopback, as the
// prometheusTunnel output brings it to an operator. Prometheus is Debian bookworm's 2.42.0 from the
// sandbox's Docker Hub (sandbox/internet/docker-hub-images.ts), under the name the stack pins.
import assert from "node:assert/strict";
import { BUILDERHUB, METRICS_PORTS, MONITORING, PORTS } from "../../../lib/contract";
import { withEditedProject } from "../../../plan/evaluation";
import { FlashbotsSearcher } from "../../../verify/flashbots-client";
import { connectOutcome, eventually, flowproxyUnit, publicEndpoint } from "../../../sandbox/probe";
import { formatSeconds, sleep } from "../../../sandbox/base/proc";
import { up } from "../../../sandbox/sandbox";
import { FIRST_PROXIES, flowproxyVms, Vm, vmByName } from "../../../sandbox/base/topology";
import { vmCheck, vmExec } from "../../../sandbox/machines/vm";
import { BrokenRun, failureOf } from "./broken";
import { verifySandbox } from "./verify-faults";

const builderhub = vmByName(BUILDERHUB.vmName);
const [east] = FIRST_PROXIES;
const PROMETHEUS_API = `http://127.0.0.1:${PORTS.prometheus}/api/v1`;
/** FlowProxy's accepted system flow, per proxy, as Prometheus scraped it (verify/metrics.ts SYSTEM_FLOW_ACCEPTED). */
const SYSTEM_FLOW_QUERY = 'sum by (vm) (flowproxy_ingress_rpc_request_duration_count{handler="system"})';
/** ProxyDown's `for:` in monitoring/alerts.yml. */
export const PROXY_DOWN_FOR_S = 60;
/**
 * The longest a stop can take to fire ProxyDown: the next scrape fails (one scrape interval), the next
 * evaluation sees it and the alert is pending (one evaluation interval), `for:` passes, and the
 * evaluation after that fires it (one more interval).
 */
export const PROXY_DOWN_BUDGET_S = PROXY_DOWN_FOR_S + 3 * MONITORING.scrapeIntervalSeconds;

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

interface Target {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}

async function prometheusGet<T>(path: string, query?: string): Promise<T> {
  const args = query === undefined ? [] : ["--get", "--data-urlencode", `query=${query}`];
  const body = JSON.parse(
    await vmCheck(builderhub, ["curl", "-fsS", "--max-time", "5", ...args, `${PROMETHEUS_API}${path}`]),
  ) as { status: string; data: T };
  assert.equal(body.status, "success", `Prometheus answered ${path} with ${body.status}`);
  return body.data;
}

const prometheusQuery = (query: string) => prometheusGet<{ result: Sample[] }>("/query", query).then((d) => d.result);

const activeTargets = () => prometheusGet<{ activeTargets: Target[] }>("/targets").then((d) => d.activeTargets);

/** The stack brought up with monitoring on; how long the up took. */
export async function monitoringOn(): Promise<string> {
  const started = Date.now();
  await up({ overrides: { monitoring: "true" } });
  return `up with monitoring: true in ${formatSeconds(Date.now() - started)}`;
}

/** What is wrong with `targets`: each FlowProxy VM must have its FlowProxy and HAProxy target up, and the listing check its own. */
function targetProblems(targets: readonly Target[], proxies: readonly string[]): string[] {
  const expected = [
    ...proxies.flatMap((vm) => [MONITORING.jobs.flowproxy, MONITORING.jobs.haproxy].map((job) => `${vm} ${job}`)),
    `${builderhub.name} ${MONITORING.jobs.listing}`,
  ];
  const name = (t: Target) => `${t.labels.vm ?? t.labels.checked_on} ${t.labels.job}`;
  return [
    ...expected.filter((e) => !targets.some((t) => name(t) === e)).map((e) => `${e}: not a target`),
    ...targets
      .filter((t) => t.health !== "up")
      .map((t) => `${name(t)}: ${t.health}${t.lastError ? ` (${t.lastError})` : ""}`),
  ];
}

/** Every target up within a minute (Prometheus scrapes every 15 s); the targets, as evidence. */
export async function everyTargetUp(timeoutMs = 60_000): Promise<string> {
  const proxies = flowproxyVms().map((vm) => vm.name);
  let last: string[] = [];
  try {
    await eventually(
      "every Prometheus target to be up",
      async () => {
        last = targetProblems(await activeTargets(), proxies);
        return last.length === 0 ? true : undefined;
      },
      timeoutMs,
    );
  } catch {
    throw new Error(`Prometheus's targets are not all up: ${last.join("; ")}`);
  }
  const targets = await activeTargets();
  return `${targets.length} targets up: ${targets.map((t) => `${t.labels.vm ?? t.labels.checked_on} ${t.labels.job}`).join(", ")}`;
}

const systemFlowByVm = async (): Promise<Map<string, number>> =>
  new Map((await prometheusQuery(SYSTEM_FLOW_QUERY)).map((s) => [s.metric.vm, Number(s.value[1])]));

/** The proxies other than `sender` whose system flow in Prometheus did not rise from `before` to `after`. */
function flowProblems(before: Map<string, number>, after: Map<string, number>, sender: string): string[] {
  return flowproxyVms()
    .filter((vm) => vm.name !== sender)
    .filter((vm) => (after.get(vm.name) ?? 0) <= (before.get(vm.name) ?? 0))
    .map((vm) => `${vm.name}'s system flow stayed at ${after.get(vm.name) ?? 0} in Prometheus`);
}

/** Waits until every proxy but `sender` shows more system flow in Prometheus than `before`. */
async function flowRose(before: Map<string, number>, sender: string, timeoutMs: number): Promise<Map<string, number>> {
  let problems: string[] = [];
  try {
    return await eventually(
      "every other proxy's system flow to rise in Prometheus",
      async () => {
        const now = await systemFlowByVm();
        problems = flowProblems(before, now, sender);
        return problems.length === 0 ? now : undefined;
      },
      timeoutMs,
    );
  } catch {
    throw new Error(problems.join("; "));
  }
}

/**
 * A signed bundle (Flashbots' own client) on `sender`'s public :443, a new one every 5 s, until
 * Prometheus shows FlowProxy's system-flow counter risen on every other proxy of the fleet.
 */
export async function bundleReachesEveryPeer(sender: Vm = east, timeoutMs = 90_000): Promise<string> {
  const before = await systemFlowByVm();
  const client = new FlashbotsSearcher();
  const started = Date.now();
  let sent = 0;
  let stop = false;
  // A proxy forwards only to the peers it knew when a bundle came in (it reads BuilderHub every 30 s),
  // so bundles keep coming until every peer's count rose.
  const sending = (async () => {
    while (!stop && Date.now() - started < timeoutMs) {
      await client.sendBundle(publicEndpoint(sender, PORTS.https), sent + 1);
      sent++;
      await sleep(5000);
    }
  })();
  try {
    const after = await flowRose(before, sender.name, timeoutMs);
    const risen = [...after]
      .filter(([vm]) => vm !== sender.name)
      .map(([vm, n]) => `${vm} ${before.get(vm) ?? 0} → ${n}`);
    return `after ${sent} bundle(s) on ${sender.name}:${PORTS.https}, in Prometheus after ${formatSeconds(Date.now() - started)}: ${risen.join(", ")}`;
  } finally {
    stop = true;
    await sending;
  }
}

/** The firing ProxyDown alert of `vm`'s FlowProxy target, if any. */
const proxyDownFiring = async (vm: Vm): Promise<boolean> =>
  (
    await prometheusQuery(
      `ALERTS{alertname="ProxyDown",alertstate="firing",job="${MONITORING.jobs.flowproxy}",vm="${vm.name}"}`,
    )
  ).length > 0;

/**
 * FlowProxy stopped on `vm`: the seconds from the stop until Prometheus fires ProxyDown for it,
 * which must be within PROXY_DOWN_BUDGET_S. FlowProxy is started again and its target comes back up.
 */
export async function stopFiresProxyDown(vm: Vm = east): Promise<{ seconds: number; evidence: string }> {
  assert.equal(await proxyDownFiring(vm), false, `ProxyDown already fires for ${vm.name} before the stop`);
  await vmCheck(vm, ["systemctl", "stop", flowproxyUnit(vm)]);
  const stopped = Date.now();
  try {
    await eventually(
      "ProxyDown to fire",
      async () => ((await proxyDownFiring(vm)) ? true : undefined),
      (PROXY_DOWN_BUDGET_S + 30) * 1000,
    );
  } finally {
    await vmCheck(vm, ["systemctl", "start", flowproxyUnit(vm)]);
  }
  const seconds = (Date.now() - stopped) / 1000;
  console.log(`monitoring: ProxyDown fired for ${vm.name} ${seconds.toFixed(1)} s after FlowProxy stopped`);
  assert.ok(
    seconds <= PROXY_DOWN_BUDGET_S,
    `ProxyDown fired ${seconds.toFixed(1)} s after the stop, later than ${PROXY_DOWN_BUDGET_S} s`,
  );
  await everyTargetUp(90_000);
  return {
    seconds,
    evidence: `${flowproxyUnit(vm)} stopped: ProxyDown firing after ${seconds.toFixed(1)} s (for: ${PROXY_DOWN_FOR_S} s, within ${PROXY_DOWN_BUDGET_S} s); started again, every target up`,
  };
}

/** Who tries which metrics port: a VM inside the VNets, or the host from the internet. */
interface Attempt {
  from: string;
  to: string;
  connected: boolean;
}

/** A TCP connection from inside `from` to `ip:port`: whether it opened within 3 s. */
async function connectsFrom(from: Vm, ip: string, port: number): Promise<boolean> {
  // The inner bash expands its own arguments: address and port are never spliced into code.
  const result = await vmExec(from, ["timeout", "3", "bash", "-c", ': >"/dev/tcp/$1/$2"', "_", ip, String(port)]);
  return result.code === 0;
}

/** Every metrics port of every proxy, tried from BuilderHub, from every other proxy and from the host. */
async function metricsAttempts(): Promise<Attempt[]> {
  const proxies = flowproxyVms();
  // All at once: a dropped connection costs its whole timeout.
  return Promise.all(
    proxies.flatMap((vm) =>
      METRICS_PORTS.flatMap((port) => [
        ...[builderhub, ...proxies.filter((p) => p !== vm)].map(async (from): Promise<Attempt> => ({
          from: from.name,
          to: `${vm.name}:${port}`,
          connected: await connectsFrom(from, vm.privateIp, port),
        })),
        (async (): Promise<Attempt> => ({
          from: "host",
          to: `${vm.name} public ${port}`,
          connected: (await connectOutcome(vm.publicIp!, port)) === "connected",
        }))(),
      ]),
    ),
  );
}

/** What is wrong with `attempts`: the scraper (`scraper`) must connect, everyone else must not. */
function reachProblems(attempts: readonly Attempt[], scraper: string): string[] {
  return attempts
    .filter((a) => a.connected !== (a.from === scraper))
    .map((a) => (a.connected ? `${a.from}→${a.to} connected` : `${a.from}→${a.to} did not connect`));
}

/** The metrics ports answer BuilderHub's Prometheus and refuse every other VM and the internet. */
export async function onlyTheScraperReaches(): Promise<string> {
  const attempts = await metricsAttempts();
  const problems = reachProblems(attempts, builderhub.name);
  if (problems.length > 0) throw new Error(`the metrics ports: ${problems.join("; ")}`);
  const others = attempts.filter((a) => a.from !== builderhub.name).length;
  return `${attempts.length - others} connections from ${builderhub.name} opened; ${others} from the other proxies and the host did not (NSG: allow the scraper, deny VirtualNetwork, before AllowVnetInBound)`;
}

/** `pnpm run verify --sandbox` on the monitored sandbox: every check passes, BuilderHub's monitoring check among them. */
export async function verifyMonitoring(): Promise<string> {
  const verified = await verifySandbox();
  const monitoring = verified.results.find((r) => r.vm === builderhub.name && r.check === "monitoring");
  const failed = verified.results
    .filter((r) => r.outcome !== "ok")
    .map((r) => `${r.vm}/${r.check} ${r.outcome}: ${r.detail}`);
  if (monitoring === undefined || failed.length > 0) {
    throw new Error(`verify --sandbox: ${monitoring === undefined ? "no monitoring check; " : ""}${failed.join("; ")}`);
  }
  return `verify --sandbox: ${verified.results.length} checks passed; ${builderhub.name} monitoring: ${monitoring.detail}`;
}

/** index.ts with the metrics ports' VNet rule allowing instead of denying: the NSG no longer keeps the other proxies out. */
const withMetricsOpenToVnets = (text: string): string => {
  // Whitespace as the formatter leaves it: the rule's fields may sit on one line or several.
  const changed = text.replace(/(source: "VirtualNetwork",\s*access: )"Deny"( as const)/, '$1"Allow"$2');
  assert.notEqual(changed, text, "index.ts denies the VNets the metrics ports in metricsRules");
  return changed;
};

/** The checks of this section run on their subject broken on purpose. */
export const monitoringCounterparts = {
  /** FlowProxy stopped on vm-eastus: the targets check must name its target. */
  async targetsUp(): Promise<BrokenRun[]> {
    await vmCheck(east, ["systemctl", "stop", flowproxyUnit(east)]);
    try {
      // Two scrapes: Prometheus has seen the target fail.
      await sleep(2 * MONITORING.scrapeIntervalSeconds * 1000 + 2000);
      const failure = await failureOf(() => everyTargetUp(1000));
      return [
        {
          broke: `${flowproxyUnit(east)} stopped`,
          failure,
          naming: [`${east.name} ${MONITORING.jobs.flowproxy}: down`],
        },
      ];
    } finally {
      await vmCheck(east, ["systemctl", "start", flowproxyUnit(east)]);
      await everyTargetUp(90_000);
    }
  },
  /** No bundle sent: the flow check, given the counts of now as the counts after, must name every other proxy. */
  async flowRises(): Promise<BrokenRun[]> {
    const now = await systemFlowByVm();
    const problems = flowProblems(now, await systemFlowByVm(), east.name);
    const others = flowproxyVms()
      .filter((vm) => vm !== east)
      .map((vm) => vm.name);
    return [{ broke: "no bundle sent", failure: problems.length > 0 ? [problems.join("; ")] : [], naming: others }];
  },
  /** The metrics ports opened to the VNets by the NSG: verify's monitoring check must name a proxy that connected. */
  async verifyRefusal(): Promise<BrokenRun[]> {
    try {
      const failure = await withEditedProject("index.ts", withMetricsOpenToVnets, async (projectDir) => {
        await up({ projectDir, overrides: { monitoring: "true" } });
        return failureOf(() => verifyMonitoring());
      });
      const peer = flowproxyVms().find((vm) => vm !== east)!;
      return [
        {
          broke: "the NSGs allowing the VNets on the metrics ports",
          failure,
          naming: [`${peer.name} connected to ${east.privateIp}:${PORTS.flowproxyMetrics}`],
        },
      ];
    } finally {
      await up({ overrides: { monitoring: "true" } });
    }
  },
  /** BuilderHub counted as one of the others: the reach check must name each of its connections. */
  async onlyScraper(): Promise<BrokenRun[]> {
    const attempts = await metricsAttempts();
    const problems = reachProblems(attempts, "no scraper");
    const fromBuilderhub = attempts.filter((a) => a.from === builderhub.name).map((a) => `${a.from}→${a.to} connected`);
    return [
      {
        broke: "BuilderHub's Prometheus taken for an outsider",
        failure: problems.length > 0 ? [problems.join("; ")] : [],
        naming: fromBuilderhub,
      },
    ];
  },
};
