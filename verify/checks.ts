// The checks of `pnpm run verify`, each a decision on facts read from a Target: over SSH on the VMs
// (see remote.ts) and from this machine, as the internet reaches the public IPs. A check says "ok",
// or "FAIL" with its cause, or "skipped" with the failed check it needed; every one but "ok" fails
// the verify.
import { createHash, X509Certificate } from "crypto";
import {
  BUILDERHUB_API,
  BuilderListing,
  CONTAINERS,
  LOOPBACK_PORTS,
  METRICS_PORTS,
  MONITORING,
  PORTS,
  UNITS,
  VM_PATHS,
} from "../lib/contract";
import { BuilderhubVm, Layout, layoutOf, ProxyVm } from "./layout";
import { PEER_COUNT, Series, seriesSum, SYSTEM_FLOW_ACCEPTED } from "./metrics";
import {
  asRoot,
  BUILDERHUB_FACTS_SCRIPT,
  CONNECT_SCRIPT,
  METRICS_SCRIPT,
  parseLastRun,
  parseSections,
  PROMETHEUS_TARGETS_SCRIPT,
  PROXY_FACTS_SCRIPT,
  Section,
  SERVED_CERTIFICATE_URL,
} from "./remote";
import { FlashbotsSearcher } from "./flashbots-client";
import { BundleClient, BundleRefused, Searcher, UserEndpoint } from "./searcher";
import { CertificateMismatch, CommandResult, ConnectOutcome, lastLine, Target } from "./target";
import { setTimeout as sleep } from "timers/promises";

export type CheckName =
  "ssh" | "provisioning" | "services" | "monitoring" | "registration" | "tls" | "closed-ports" | "flow";
type Outcome = "ok" | "FAIL" | "skipped";

export interface CheckResult {
  vm: string;
  check: CheckName;
  outcome: Outcome;
  /** What was seen, or the cause of the failure; never a secret. */
  detail: string;
}

/** HAProxy's user and system frontends, both TLS with the registered certificate. */
export const TLS_PORTS = [PORTS.https, PORTS.system] as const;

export interface VerifyOptions {
  /** How long each peer may take to accept a bundle (peers read BuilderHub every 30 s). */
  flowTimeoutMs: number;
  pollIntervalMs: number;
  /** How long a connection to a loopback-only port may go unanswered before it counts as dropped. */
  portTimeoutMs: number;
  requestTimeoutMs: number;
}

export const DEFAULT_OPTIONS: VerifyOptions = {
  flowTimeoutMs: 40_000,
  pollIntervalMs: 500,
  portTimeoutMs: 3000,
  requestTimeoutMs: 10_000,
};

const ok = (vm: string, check: CheckName, detail: string): CheckResult => ({ vm, check, outcome: "ok", detail });
const fail = (vm: string, check: CheckName, detail: string): CheckResult => ({ vm, check, outcome: "FAIL", detail });
const skipped = (vm: string, check: CheckName, detail: string): CheckResult => ({
  vm,
  check,
  outcome: "skipped",
  detail,
});

/** A short SHA-256 fingerprint of a certificate, enough to tell two apart in a report. */
export const fingerprint = (der: Buffer): string =>
  `sha256 ${createHash("sha256").update(der).digest("hex").slice(0, 16)}`;

function derOf(pem: string): Buffer | undefined {
  try {
    return new X509Certificate(pem).raw;
  } catch {
    return undefined;
  }
}

const sectionProblem = (section: Section | undefined): string =>
  section === undefined
    ? "the remote script printed nothing for it"
    : (lastLine(section.output) ?? `exit status ${section.status}`);

// ---- ssh ----

export interface Login {
  check: CheckResult;
  /** The facts the VM's script printed, when the login and sudo worked. */
  facts?: Map<string, Section>;
}

function sshHint(said: string, printed: string): string {
  if (/Permission denied/.test(said)) return "; load the key whose public half is the stack's sshPublicKey (ssh-add)";
  if (/Host key verification failed/.test(said)) return `; accept the VM's host key once by running \`${printed}\``;
  return "";
}

/** Whether the stack's ssh command reached the VM named `vm` and ran the facts script as root. */
export function decideLogin(vm: string, printed: string, result: CommandResult): Login {
  const facts = parseSections(result.stdout);
  const said = lastLine(result.stderr) ?? lastLine(result.stdout);
  if (result.timedOut) {
    return { check: fail(vm, "ssh", `\`${printed}\` did not finish in time${said ? `; last said: ${said}` : ""}`) };
  }
  if (facts.size === 0) {
    if (result.code === 255) {
      return {
        check: fail(
          vm,
          "ssh",
          `\`${printed}\` failed: ${said ?? "ssh exited with status 255"}${sshHint(said ?? "", printed)}`,
        ),
      };
    }
    return {
      check: fail(
        vm,
        "ssh",
        `\`${printed}\` logged in, but \`sudo -n\` did not run the checks: ${said ?? `exit status ${result.code}`}; the admin user needs sudo without a password, as Azure sets it up`,
      ),
    };
  }
  const hostname = facts.get("hostname")?.output.trim();
  if (hostname !== vm) {
    return {
      check: fail(
        vm,
        "ssh",
        `\`${printed}\` reached ${hostname ? `host ${hostname}` : "a host without a name"}, not ${vm}`,
      ),
    };
  }
  return { check: ok(vm, "ssh", `${printed.replace(/^ssh\s+/, "")}, root through sudo -n`), facts };
}

// ---- provisioning ----

/** The extension's last run, as the provisioning script recorded it (VM_PATHS.lastRun). */
export function decideProvisioning(vm: string, facts: Map<string, Section>): CheckResult {
  const section = facts.get("last-run");
  if (section === undefined || section.status !== 0) {
    if (section && /No such file/.test(section.output)) {
      return fail(
        vm,
        "provisioning",
        `no provisioning run is recorded (${VM_PATHS.lastRun} is missing): the extension has not run yet, or ran a script from before runs were recorded (the next \`pulumi up\` with this checkout reruns it)`,
      );
    }
    return fail(vm, "provisioning", `cannot read ${VM_PATHS.lastRun}: ${sectionProblem(section)}`);
  }
  const run = parseLastRun(section.output);
  if (run === undefined) {
    return fail(vm, "provisioning", `${VM_PATHS.lastRun} holds no status`);
  }
  if (run.status === "0") {
    return ok(vm, "provisioning", `${run.line} (${run.at})`);
  }
  if (run.status === "running") {
    return fail(
      vm,
      "provisioning",
      `the run started at ${run.at} has not finished: it is still running, or was killed midway; its output is in ${run.dir}/stdout`,
    );
  }
  return fail(vm, "provisioning", `the last run (${run.at}) exited with status ${run.status}: ${run.line}`);
}

// ---- services ----

/** A container's state from `docker inspect`: running, exited, restarting..., or missing. */
function containerState(section: Section | undefined): string {
  if (section?.status === 0) return section.output.trim();
  if (section && /No such (object|container)/i.test(section.output)) return "missing";
  return `unknown (${sectionProblem(section)})`;
}

function containerProblem(facts: Map<string, Section>, name: string): string | undefined {
  const state = containerState(facts.get(name));
  return state === "running" ? undefined : `the ${name} container is ${state} (sudo docker logs ${name})`;
}

export function decideProxyServices(vm: string, facts: Map<string, Section>): CheckResult {
  const unit = UNITS.flowproxy(vm);
  const unitState = facts.get("flowproxy")?.output.trim() || "unknown";
  const problems = [
    containerProblem(facts, CONTAINERS.haproxy),
    unitState === "active" ? undefined : `${unit} is ${unitState} (journalctl -u ${unit})`,
  ].filter((p): p is string => p !== undefined);
  return problems.length > 0
    ? fail(vm, "services", problems.join("; "))
    : ok(vm, "services", `${CONTAINERS.haproxy} container running, ${unit} active`);
}

function decideBuilderhubServices(vm: string, facts: Map<string, Section>): CheckResult {
  const problem = containerProblem(facts, CONTAINERS.mockhub);
  return problem ? fail(vm, "services", problem) : ok(vm, "services", `${CONTAINERS.mockhub} container running`);
}

// ---- registration ----

/** An entry of BuilderHub's list, as far as the checks read it. */

/** A BuilderHub listing as read off the wire: every field may be missing. */
type ListedBuilder = {
  name?: string;
  orderflow_proxy?: Partial<BuilderListing["orderflow_proxy"]>;
  instance?: Partial<BuilderListing["instance"]>;
};

export interface Registration {
  check: CheckResult;
  /** The certificate BuilderHub hands to peers for this VM (DER), when it lists one. */
  registered?: Buffer;
}

/**
 * BuilderHub lists the VM's signer, under the VM's name, with the certificate HAProxy serves: asked
 * from the VM itself, at the endpoint its flowproxy.env names, as its FlowProxy and its peers ask.
 */
export function decideRegistration(vm: ProxyVm, facts: Map<string, Section>): Registration {
  const failed = (detail: string, registered?: Buffer): Registration => ({
    check: fail(vm.name, "registration", detail),
    registered,
  });
  const signerFile = facts.get("signer-file");
  const signer = vm.signer ?? (signerFile?.status === 0 ? signerFile.output.trim() : undefined);
  if (signer === undefined) {
    return failed(
      `the stack says ${vm.name} made its own signer key, and ${VM_PATHS.signerAddress} cannot be read: ${sectionProblem(signerFile)}`,
    );
  }
  const endpoint = facts.get("builderhub-endpoint")?.output.trim();
  if (!endpoint) {
    return failed(`${VM_PATHS.flowproxyEnv} names no BUILDERHUB_ENDPOINT`);
  }
  const listing = facts.get("builders");
  if (listing?.status !== 0) {
    return failed(
      `BuilderHub at ${endpoint} does not answer ${BUILDERHUB_API.builders} from ${vm.name}: ${sectionProblem(listing)}`,
    );
  }
  let list: ListedBuilder[];
  try {
    list = JSON.parse(listing.output) as ListedBuilder[];
    if (!Array.isArray(list)) throw new Error("not a list");
  } catch {
    return failed(
      `BuilderHub at ${endpoint} answered ${BUILDERHUB_API.builders} with something other than a JSON list`,
    );
  }
  const served = facts.get("served-certificate");
  if (served?.status !== 0) {
    return failed(
      `HAProxy serves no certificate on ${SERVED_CERTIFICATE_URL}: ${sectionProblem(served)} (sudo docker logs haproxy)`,
    );
  }
  const servedDer = derOf(served.output);
  if (servedDer === undefined) {
    return failed(`${SERVED_CERTIFICATE_URL} answered something other than a PEM certificate`);
  }
  const entry = list.find((b) => b?.orderflow_proxy?.ecdsa_pubkey_address?.toLowerCase() === signer.toLowerCase());
  if (entry === undefined) {
    return failed(
      `BuilderHub at ${endpoint} does not list ${vm.name}'s signer ${signer} (it lists ${list.length} builder${list.length === 1 ? "" : "s"}), so no peer sends to it; flowproxy-registration.timer registers it again within 20 s (journalctl -u flowproxy-registration)`,
    );
  }
  const pem = entry.instance?.tls_cert ?? "";
  if (pem.trim() === "") {
    return failed(
      `BuilderHub lists ${signer} without a certificate, so peers cannot reach ${vm.name} over TLS; restart mockhub on the BuilderHub VM (sudo docker restart mockhub) and the timer registers it again`,
    );
  }
  const registered = derOf(pem);
  if (registered === undefined) {
    return failed(`BuilderHub lists ${signer} with a certificate that does not parse`);
  }
  if (!registered.equals(servedDer)) {
    return failed(
      `BuilderHub lists ${signer} with a certificate (${fingerprint(registered)}) other than the one HAProxy serves (${fingerprint(servedDer)}), so peers reject ${vm.name}; restart mockhub on the BuilderHub VM (sudo docker restart mockhub) and the timer registers it again`,
      registered,
    );
  }
  if (entry.name !== vm.name) {
    return failed(
      `BuilderHub lists ${signer} as "${entry.name ?? ""}", not under its VM's name ${vm.name}: mockhub names a builder after the reverse name of the address it registered from, which had none then (the PTR record in its subnet's reverse zone); builderhub-prune on the BuilderHub VM restarts mockhub to name it anew once that record resolves there (journalctl -u builderhub-prune)`,
      registered,
    );
  }
  return {
    check: ok(
      vm.name,
      "registration",
      `BuilderHub lists ${signer} as ${vm.name} with the certificate HAProxy serves (${fingerprint(servedDer)})`,
    ),
    registered,
  };
}

// ---- from the internet ----

export type Presented = { port: number; der: Buffer } | { port: number; error: string };

/** Each TLS port presents the certificate BuilderHub hands to peers. */
export function decideTls(vm: ProxyVm, registered: Buffer | undefined, presented: Presented[]): CheckResult {
  if (registered === undefined) {
    return skipped(vm.name, "tls", "BuilderHub lists no certificate for this VM to compare with (see registration)");
  }
  const problems = presented.flatMap((p) => {
    if ("error" in p) return [`no TLS handshake on ${vm.publicIp}:${p.port}: ${p.error}`];
    return p.der.equals(registered)
      ? []
      : [
          `${vm.publicIp}:${p.port} presents a certificate (${fingerprint(p.der)}) other than the registered one (${fingerprint(registered)})`,
        ];
  });
  if (problems.length > 0) return fail(vm.name, "tls", problems.join("; "));
  return ok(
    vm.name,
    "tls",
    `${presented.map((p) => `:${p.port}`).join(" and ")} present the registered certificate (${fingerprint(registered)})`,
  );
}

/**
 * Loopback-only ports must be dropped by the NSG: a connection that times out. A refused one went
 * through the NSG to the VM, where only the loopback bind kept it closed.
 */
export function decideClosedPorts(vm: ProxyVm, outcomes: [number, ConnectOutcome][]): CheckResult {
  const problems = outcomes.flatMap(([port, outcome]) => {
    if (outcome === "timeout") return [];
    if (outcome === "ECONNREFUSED")
      return [`${port} refused: the NSG lets it through; only the loopback bind keeps it closed`];
    if (outcome === "connected") return [`${port} accepts connections from the internet`];
    return [`${port} answered ${outcome} instead of being dropped`];
  });
  if (problems.length > 0) return fail(vm.name, "closed-ports", `on ${vm.publicIp}: ${problems.join("; ")}`);
  return ok(
    vm.name,
    "closed-ports",
    `${outcomes.map(([port]) => port).join(", ")} on ${vm.publicIp} dropped (no answer)`,
  );
}

// ---- flow ----

/**
 * Whether a peer's system endpoint accepted anything since the watch began. Generation 2 counts in
 * a rolling window, whose count falls as old requests age out, so only a rise from one sample to
 * the next proves an arrival; with generation 1's histogram every rise is one too.
 */
export class AcceptanceWatch {
  private accepted = false;

  constructor(private last: number) {}

  observe(sample: number): boolean {
    if (sample > this.last) this.accepted = true;
    this.last = sample;
    return this.accepted;
  }
}

/** A number read from a VM's FlowProxy metrics, or why it could not be read. */
async function readMetric(target: Target, vm: ProxyVm, series: Series): Promise<number | string> {
  const result = await target.ssh(vm.ssh, asRoot(METRICS_SCRIPT));
  if (result.code !== 0) {
    return `cannot read ${vm.name}'s FlowProxy metrics: ${lastLine(result.stderr) ?? lastLine(result.stdout) ?? `exit status ${result.code}`}`;
  }
  return seriesSum(result.stdout, series);
}

interface ProxyState {
  vm: ProxyVm;
  /** Facts read over SSH; undefined when the login failed. */
  facts?: Map<string, Section>;
  servicesOk: boolean;
  registered?: Buffer;
  /** Whether its TLS ports present the registered certificate, which peers insist on. */
  tlsOk: boolean;
}

/** Why a peer cannot be watched for the bundle, or undefined when it can. */
function unwatchable(peer: ProxyState): string | undefined {
  if (peer.facts === undefined) return `${peer.vm.name} cannot be asked (see its ssh)`;
  if (!peer.servicesOk) return `${peer.vm.name}'s services are down (see its services)`;
  if (peer.registered === undefined)
    return `BuilderHub lists no certificate for ${peer.vm.name}, so no proxy can send to it (see its registration)`;
  if (!peer.tlsOk)
    return `${peer.vm.name} presents another certificate than the registered one, so peers refuse it (see its tls)`;
  return undefined;
}

/**
 * Polls each peer in `counts` until it accepted something more, for at most the flow timeout: when
 * each one did (ms from now), and why the others did not. `counts` keeps the last number read.
 */
async function arrivals(
  target: Target,
  counts: Map<ProxyState, number>,
  options: VerifyOptions,
): Promise<{ arrived: Map<ProxyState, number>; missing: string[] }> {
  const watches = new Map([...counts].map(([peer, count]) => [peer, new AcceptanceWatch(count)]));
  const sentAt = Date.now();
  const arrived = new Map<ProxyState, number>();
  const lastSeen = new Map<ProxyState, number | string>();
  while (arrived.size < watches.size && Date.now() - sentAt < options.flowTimeoutMs) {
    const waiting = [...watches.keys()].filter((p) => !arrived.has(p));
    const samples = await Promise.all(waiting.map((p) => readMetric(target, p.vm, SYSTEM_FLOW_ACCEPTED)));
    waiting.forEach((peer, i) => {
      const sample = samples[i];
      lastSeen.set(peer, sample);
      if (typeof sample !== "number") return;
      counts.set(peer, sample);
      if (watches.get(peer)?.observe(sample)) arrived.set(peer, Date.now() - sentAt);
    });
    if (arrived.size < watches.size) await sleep(options.pollIntervalMs);
  }
  const missing = [...watches.keys()]
    .filter((peer) => !arrived.has(peer))
    .map((peer) => {
      const seen = lastSeen.get(peer);
      const why = typeof seen === "string" ? seen : `${SYSTEM_FLOW_ACCEPTED.name}{handler="system"} did not rise`;
      return `${peer.vm.name}'s system endpoint accepted nothing within ${options.flowTimeoutMs / 1000} s (${why})`;
    });
  return { arrived, missing };
}

/**
 * A bundle from each searchers' client in turn, sent to `sender`'s public :443 (only to the
 * certificate BuilderHub lists for it), must reach every other proxy's system endpoint: each counts
 * it in FlowProxy's own metrics, read before and after. One bundle at a time, so that a rise on a
 * peer is the bundle just sent.
 */
async function checkFlow(
  target: Target,
  sender: ProxyState,
  others: ProxyState[],
  clients: readonly BundleClient[],
  options: VerifyOptions,
): Promise<CheckResult> {
  const vm = sender.vm.name;
  if (sender.facts === undefined) {
    return skipped(vm, "flow", "needs the certificate BuilderHub lists, read over the ssh login (see ssh)");
  }
  const registered = sender.registered;
  if (registered === undefined) {
    return skipped(vm, "flow", `BuilderHub lists no certificate for ${vm} to send to (see registration)`);
  }
  const reasons = others.map(unwatchable).filter((r): r is string => r !== undefined);
  const peers = others.filter((p) => unwatchable(p) === undefined);
  if (peers.length === 0 && others.length > 0) {
    return skipped(vm, "flow", reasons.join("; "));
  }
  const baselines = await Promise.all(peers.map((p) => readMetric(target, p.vm, SYSTEM_FLOW_ACCEPTED)));
  /** The last count read from each peer that can be watched. */
  const counts = new Map<ProxyState, number>();
  peers.forEach((peer, i) => {
    const baseline = baselines[i];
    if (typeof baseline === "string") reasons.push(baseline);
    else counts.set(peer, baseline);
  });
  const url = `https://${sender.vm.publicIp}/`;
  const endpoint: UserEndpoint = {
    url,
    post: (body, headers) =>
      target.pinnedPost(sender.vm.publicIp, PORTS.https, "/", body, headers, registered, options.requestTimeoutMs),
  };
  const sent: string[] = [];
  for (const client of clients) {
    let bundleHash: string;
    try {
      bundleHash = await client.sendBundle(endpoint, 1);
    } catch (err) {
      const failed = (detail: string) => fail(vm, "flow", [...sent, detail].join("; "));
      if (err instanceof CertificateMismatch) {
        return failed(
          `${url} presents a certificate (${fingerprint(err.presented)}) other than the registered one; the bundle was not sent`,
        );
      }
      if (err instanceof BundleRefused) {
        return failed(`${url} did not take a bundle from ${client.name}: ${err.message}`);
      }
      return failed(`${client.name} could not send a bundle to ${url}: ${(err as Error).message}`);
    }
    const { arrived, missing } = await arrivals(target, counts, options);
    reasons.push(...missing);
    const reached = [...arrived].map(([p, ms]) => `${p.vm.name} in ${(ms / 1000).toFixed(1)} s`);
    const bundle = `a bundle from ${client.name} (${bundleHash.slice(0, 10)}…)`;
    if (reasons.length > 0) {
      if (missing.length > 0) {
        const known = await readMetric(target, sender.vm, PEER_COUNT);
        if (typeof known === "number")
          reasons.push(`${vm}'s FlowProxy knows ${known} of ${others.length} peers (it reads BuilderHub every 30 s)`);
      }
      return fail(
        vm,
        "flow",
        `${[...sent, `${bundle} sent to ${url}`].join("; ")}${reached.length ? ` reached ${reached.join(", ")}, but` : ":"} ${reasons.join("; ")}`,
      );
    }
    sent.push(others.length === 0 ? `${bundle} was taken` : `${bundle} reached ${reached.join(", ")}`);
  }
  return ok(
    vm,
    "flow",
    `sent to ${url}: ${sent.join("; ")}${others.length === 0 ? "; there is no other proxy to reach" : ""}`,
  );
}

// ---- monitoring (a stack with the prometheusTunnel output) ----

interface PrometheusTarget {
  labels: Record<string, string>;
  health: string;
  lastError?: string;
}

/**
 * BuilderHub's Prometheus: every proxy's FlowProxy and HAProxy target up, and the metrics ports
 * closed to the other proxies. `targets` is the /api/v1/targets answer; `probes`, each proxy's
 * CONNECT_SCRIPT lines about the others' metrics ports.
 */
export function decideMonitoring(
  vm: string,
  proxies: readonly ProxyVm[],
  targets: CommandResult,
  probes: { from: string; result: CommandResult }[],
): CheckResult {
  if (targets.code !== 0)
    return fail(
      vm,
      "monitoring",
      `Prometheus's targets could not be read on ${vm}: ${lastLine(targets.stderr) ?? `exit ${targets.code}`}; see docker logs ${CONTAINERS.prometheus}`,
    );
  let active: PrometheusTarget[];
  try {
    active = (JSON.parse(targets.stdout) as { data: { activeTargets: PrometheusTarget[] } }).data.activeTargets;
  } catch {
    return fail(vm, "monitoring", "Prometheus's /api/v1/targets answered something other than its JSON");
  }
  const problems: string[] = [];
  for (const proxy of proxies) {
    for (const job of [MONITORING.jobs.flowproxy, MONITORING.jobs.haproxy]) {
      const target = active.find((t) => t.labels.vm === proxy.name && t.labels.job === job);
      if (target === undefined) problems.push(`${proxy.name} ${job} is no target`);
      else if (target.health !== "up")
        problems.push(`${proxy.name} ${job} is ${target.health}${target.lastError ? ` (${target.lastError})` : ""}`);
    }
  }
  let refused = 0;
  for (const { from, result } of probes) {
    if (result.code !== 0) {
      problems.push(
        `the metrics ports could not be tried from ${from}: ${lastLine(result.stderr) ?? `exit ${result.code}`}`,
      );
      continue;
    }
    for (const line of result.stdout.split("\n")) {
      const [state, address] = line.split(" ");
      if (state === "open") problems.push(`${from} connected to ${address}: only BuilderHub's Prometheus may`);
      if (state === "closed") refused++;
    }
  }
  if (problems.length > 0) return fail(vm, "monitoring", problems.join("; "));
  const up = active.filter((t) => t.health === "up").length;
  return ok(
    vm,
    "monitoring",
    `${up} Prometheus targets up; ${refused} connections from proxies to the others' metrics ports (${METRICS_PORTS.join(", ")}) refused`,
  );
}

async function checkMonitoring(
  target: Target,
  builderhub: BuilderhubVm,
  proxies: readonly ProxyVm[],
): Promise<CheckResult> {
  const others = (vm: ProxyVm) =>
    proxies
      .filter((p) => p !== vm && p.privateIp !== undefined)
      .flatMap((p) => METRICS_PORTS.map((port) => `${p.privateIp}:${port}`));
  const [targets, probes] = await Promise.all([
    target.ssh(builderhub.ssh, ["sh", "-c", PROMETHEUS_TARGETS_SCRIPT]),
    Promise.all(
      proxies.map(async (vm) => ({
        from: vm.name,
        result: await target.ssh(vm.ssh, ["bash", "-c", CONNECT_SCRIPT, "verify", ...others(vm)]),
      })),
    ),
  ]);
  return decideMonitoring(builderhub.name, proxies, targets, probes);
}

// ---- all of it ----

async function login(target: Target, vm: string, printed: string, remote: string[]): Promise<Login> {
  return decideLogin(vm, printed, await target.ssh(printed, remote));
}

const needsSsh = (vm: string, check: CheckName) => skipped(vm, check, "needs the ssh login (see ssh)");

/** Every check on every VM of the target, in report order: BuilderHub first, then each proxy. */
export async function verify(
  target: Target,
  options: VerifyOptions = DEFAULT_OPTIONS,
  clients: readonly BundleClient[] = [new Searcher(), new FlashbotsSearcher()],
): Promise<CheckResult[]> {
  const layout: Layout = layoutOf(target.outputs, target.description);
  const builderhub: BuilderhubVm = layout.builderhub;
  const [builderhubLogin, proxyLogins, ports, presented] = await Promise.all([
    login(target, builderhub.name, builderhub.ssh, asRoot(BUILDERHUB_FACTS_SCRIPT)),
    Promise.all(layout.proxies.map((p) => login(target, p.name, p.ssh, asRoot(PROXY_FACTS_SCRIPT, p.name)))),
    Promise.all(
      layout.proxies.map((p) =>
        Promise.all(
          LOOPBACK_PORTS.map(async (port): Promise<[number, ConnectOutcome]> => [
            port,
            await target.connect(p.publicIp, port, options.portTimeoutMs),
          ]),
        ),
      ),
    ),
    Promise.all(
      layout.proxies.map((p) =>
        Promise.all(
          TLS_PORTS.map((port): Promise<Presented> =>
            target.peerCertificate(p.publicIp, port, options.requestTimeoutMs).then(
              (der) => ({ port, der }),
              (err: NodeJS.ErrnoException) => ({ port, error: err.code ?? err.message }),
            ),
          ),
        ),
      ),
    ),
  ]);

  const results: CheckResult[] = [builderhubLogin.check];
  if (builderhubLogin.facts) {
    results.push(
      decideProvisioning(builderhub.name, builderhubLogin.facts),
      decideBuilderhubServices(builderhub.name, builderhubLogin.facts),
    );
  } else {
    results.push(needsSsh(builderhub.name, "provisioning"), needsSsh(builderhub.name, "services"));
  }
  // Only a stack with monitoring on exports prometheusTunnel.
  if (target.outputs.prometheusTunnel !== undefined) {
    results.push(
      builderhubLogin.facts
        ? await checkMonitoring(target, builderhub, layout.proxies)
        : needsSsh(builderhub.name, "monitoring"),
    );
  }

  const states: ProxyState[] = [];
  const perProxy: CheckResult[][] = layout.proxies.map((vm, i) => {
    const { check, facts } = proxyLogins[i];
    if (facts === undefined) {
      states.push({ vm, servicesOk: false, tlsOk: false });
      return [
        check,
        ...(["provisioning", "services", "registration", "tls"] as const).map((name) => needsSsh(vm.name, name)),
      ];
    }
    const services = decideProxyServices(vm.name, facts);
    const registration = decideRegistration(vm, facts);
    const tls = decideTls(vm, registration.registered, presented[i]);
    states.push({
      vm,
      facts,
      servicesOk: services.outcome === "ok",
      registered: registration.registered,
      tlsOk: tls.outcome === "ok",
    });
    return [check, decideProvisioning(vm.name, facts), services, registration.check, tls];
  });
  // One sender at a time: a rise on a peer is then the current sender's bundle.
  for (const [i, sender] of states.entries()) {
    perProxy[i].push(decideClosedPorts(sender.vm, ports[i]));
    perProxy[i].push(
      await checkFlow(
        target,
        sender,
        states.filter((s) => s !== sender),
        clients,
        options,
      ),
    );
  }
  return results.concat(...perProxy);
}
