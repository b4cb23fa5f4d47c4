// HAProxy's cost on the data path, measured against a backend that is not the bottleneck: in
// vm-eastus, a second HAProxy container answers GET /livez from memory (the backend), and a copy of
// the committed haproxy.cfg runs in the deployed HAProxy image with its user backend pointed at it
// (on ports of its own, so the stack keeps serving; its per-source guard raised, see benchHaproxyCfg). wrk from Debian, inside the VM's network
// namespace, sends the same keep-alive requests at the same concurrency to the backend alone and
// through the copy's :80 and :443 frontends, in alternating rounds.
import * as fs from "fs";
import * as path from "path";
import { CONTAINERS, LOOPBACK, VM_PATHS } from "../lib/contract";
import { PROJECT_DIR } from "../plan/evaluation";
import { haproxyEnvironment } from "../lib/provision";
import { eventually } from "../sandbox/probe";
import { run } from "../sandbox/base/proc";
import { flowproxyVms, netnsOf } from "../sandbox/base/topology";
import { vmCheck, vmExec } from "../sandbox/machines/vm";
import type { Row } from "./bench";
import { BENCH_PORTS, DATAPATH_MEASURES, DATAPATH_TARGETS as TARGETS } from "./bench-measures";
import { median } from "./markdown";

interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

export function parseWrk(output: string): WrkResult {
  const number = (pattern: RegExp, what: string) => {
    const m = pattern.exec(output);
    if (!m) throw new Error(`wrk printed no ${what}:\n${output}`);
    return m;
  };
  const latency = (percent: number) => {
    const m = number(new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m"), `${percent}th percentile`);
    return Number(m[1]) * UNIT_MS[m[2]];
  };
  const errors = [
    /Non-2xx or 3xx responses: (\d+)/,
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/,
  ]
    .map((pattern) => pattern.exec(output))
    .flatMap((m) => (m ? m.slice(1).map(Number) : []))
    .reduce((a, b) => a + b, 0);
  return {
    requestsPerSecond: Number(number(/^Requests\/sec:\s+([\d.]+)/m, "request rate")[1]),
    p50Ms: latency(50),
    p99Ms: latency(99),
    errors,
  };
}

const [east] = flowproxyVms();

/** Keep-alive connections, the same for every target. */
const CONNECTIONS = 16;
const BENCH_CONTAINERS = { backend: "bench-backend", haproxy: "bench-haproxy" } as const;
const BACKEND_DIR = "/run/bench-backend";
const HAPROXY_COPY_DIR = "/run/bench-haproxy";

/** The backend: HAProxy answering from memory, one thread, no logging, nothing else to do. */
const BACKEND_CFG = `global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend answer
    bind ${LOOPBACK}:${BENCH_PORTS.backend}
    http-request return status 200 content-type text/plain string ok
`;

/** The committed HAProxy environment with the benchmark's ports and the backend as FlowProxy's user port. */
function benchHaproxyEnvironment(): string[] {
  const moved: Record<string, string | number> = {
    HTTP_PORT: BENCH_PORTS.http,
    HTTPS_PORT: BENCH_PORTS.https,
    SYSTEM_PORT: BENCH_PORTS.system,
    METRICS_PORT: BENCH_PORTS.metrics,
    SERVED_CERT_PORT: BENCH_PORTS.servedCert,
    FLOWPROXY_USER_ADDR: `${LOOPBACK}:${BENCH_PORTS.backend}`,
  };
  return haproxyEnvironment("http")
    .split("\n")
    .map((setting) => {
      const name = setting.slice(0, setting.indexOf("="));
      return name in moved ? `${name}=${moved[name]}` : setting;
    });
}

/**
 * The committed haproxy.cfg with its per-source request-rate guard raised: wrk sends from one
 * address at more than the guard's 10,000 requests/s, which would measure the 429 path instead.
 * The guard's tracking still runs on every request.
 */
function benchHaproxyCfg(): string {
  const committed = fs.readFileSync(path.join(PROJECT_DIR, "haproxy.cfg"), "utf8");
  const guard = /sc_http_req_rate\(0\) gt \d+/g;
  const raised = committed.replace(guard, "sc_http_req_rate(0) gt 1000000000");
  if ((committed.match(guard) ?? []).length !== 2) {
    throw new Error(
      "haproxy.cfg no longer has the two per-source request-rate guards the data-path benchmark raises; update report/bench-datapath.ts",
    );
  }
  return raised;
}

async function removeBenchContainers(): Promise<void> {
  await vmExec(east, ["docker", "rm", "-f", BENCH_CONTAINERS.backend, BENCH_CONTAINERS.haproxy]);
  await vmExec(east, ["rm", "-rf", BACKEND_DIR, HAPROXY_COPY_DIR]);
}

async function startBenchContainers(): Promise<void> {
  // The image the stack runs, so the copy is the HAProxy build being measured.
  const image = (
    await vmCheck(east, ["docker", "inspect", "--format", "{{.Config.Image}}", CONTAINERS.haproxy])
  ).trim();
  await vmCheck(east, [
    "sh",
    "-c",
    'mkdir -p "$1" && printf "%s" "$2" > "$1/haproxy.cfg"',
    "sh",
    BACKEND_DIR,
    BACKEND_CFG,
  ]);
  await vmCheck(east, [
    "docker",
    "run",
    "-d",
    "--name",
    BENCH_CONTAINERS.backend,
    "--network",
    "host",
    "-v",
    `${BACKEND_DIR}:${VM_PATHS.haproxyDir}:ro`,
    image,
  ]);
  // The stack's certificates beside the copy's configuration, mounted where the stack's are.
  await vmCheck(east, [
    "sh",
    "-c",
    'cp -a "$1" "$2" && printf "%s" "$3" > "$2/haproxy.cfg"',
    "sh",
    VM_PATHS.haproxyDir,
    HAPROXY_COPY_DIR,
    benchHaproxyCfg(),
  ]);
  const env = benchHaproxyEnvironment().flatMap((setting) => ["-e", setting]);
  await vmCheck(east, [
    "docker",
    "run",
    "-d",
    "--name",
    BENCH_CONTAINERS.haproxy,
    "--network",
    "host",
    "--user",
    "root",
    ...env,
    "-v",
    `${HAPROXY_COPY_DIR}:${VM_PATHS.haproxyDir}:ro`,
    image,
  ]);
  for (const { url } of TARGETS) {
    await eventually(
      `${url} to answer`,
      async () =>
        (await vmExec(east, ["curl", "-fsk", "--max-time", "2", "-o", "/dev/null", url])).code === 0 ? true : undefined,
      15_000,
    );
  }
}

async function wrk(url: string, seconds: number): Promise<WrkResult> {
  // Bounded by duration; one wrk thread, so the two containers share the other core.
  const result = await run("ip", [
    "netns",
    "exec",
    netnsOf(east),
    "wrk",
    "-t1",
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    "--latency",
    url,
  ]);
  if (result.code !== 0) throw new Error(`wrk against ${url} failed: ${result.stderr || result.stdout}`);
  return parseWrk(result.stdout);
}

export async function dataPath(rounds = 3, seconds = 8): Promise<Row[]> {
  await removeBenchContainers();
  const samples: WrkResult[][] = TARGETS.map(() => []);
  try {
    await startBenchContainers();
    for (let round = 0; round < rounds; round++) {
      for (const [i, target] of TARGETS.entries()) samples[i].push(await wrk(target.url, seconds));
    }
  } finally {
    await removeBenchContainers();
  }
  const summary = samples.map((s) => ({
    rps: median(s.map((r) => r.requestsPerSecond)),
    p50: median(s.map((r) => r.p50Ms)),
    p99: median(s.map((r) => r.p99Ms)),
    errors: s.reduce((sum, r) => sum + r.errors, 0),
  }));
  const alone = summary[0].rps;
  const rows: Row[] = TARGETS.map((target, i) => ({
    measure: DATAPATH_MEASURES.latency(target.label, rounds, seconds, CONNECTIONS),
    value: `${summary[i].rps.toFixed(0)} req/s, ${summary[i].p50.toFixed(2)} ms, ${summary[i].p99.toFixed(2)} ms, ${summary[i].errors} errors`,
    target: "0 errors",
    verdict: summary[i].errors === 0 ? "met" : "missed",
  }));
  // The comparison only says what HAProxy costs while the backend alone outruns every path through it.
  const baselineOutruns = summary.slice(1).every((s) => alone > s.rps);
  rows.push({
    measure: DATAPATH_MEASURES.baselineOutruns,
    value: `${alone.toFixed(0)} req/s against ${summary
      .slice(1)
      .map((s) => s.rps.toFixed(0))
      .join(" and ")}`,
    target: "alone > through",
    verdict: baselineOutruns ? "met" : "missed",
  });
  rows.push(
    ...[1, 2].map((i): Row => ({
      measure: DATAPATH_MEASURES.throughputRatio(TARGETS[i].label),
      value: `${(summary[i].rps / alone).toFixed(2)} ×; +${(summary[i].p50 - summary[0].p50).toFixed(2)} ms, +${(summary[i].p99 - summary[0].p99).toFixed(2)} ms`,
      target: "—",
      verdict: summary[i].errors === 0 ? "info" : "missed",
    })),
  );
  return rows;
}
