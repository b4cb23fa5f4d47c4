// HAProxy's cost on the data path: wrk from Debian runs inside vm-eastus's network namespace and
// sends the same keep-alive requests straight to the FlowProxy stand-in's user port and through
// HAProxy's :80 and :443, one after the other, in alternating rounds.
import { run } from "../sandbox/proc";
import { flowproxyVms, netnsOf } from "../sandbox/topology";
import type { Row } from "./bench";
import { DATAPATH_MEASURES, DATAPATH_TARGETS as TARGETS } from "./bench-measures";
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
  const errors = [/Non-2xx or 3xx responses: (\d+)/, /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/]
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

async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const [vm] = flowproxyVms();
  // Bounded by duration; 16 keep-alive connections, one wrk thread so HAProxy and the stand-in
  // keep a core between them.
  const result = await run("ip", ["netns", "exec", netnsOf(vm), "wrk", "-t1", "-c16", `-d${seconds}s`, "--latency", url]);
  if (result.code !== 0) throw new Error(`wrk against ${url} failed: ${result.stderr || result.stdout}`);
  return parseWrk(result.stdout);
}

export async function dataPath(rounds = 3, seconds = 8): Promise<Row[]> {
  const samples: WrkResult[][] = TARGETS.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, target] of TARGETS.entries()) samples[i].push(await wrk(target.url, seconds));
  }
  const summary = samples.map((s) => ({
    rps: median(s.map((r) => r.requestsPerSecond)),
    p50: median(s.map((r) => r.p50Ms)),
    p99: median(s.map((r) => r.p99Ms)),
    errors: s.reduce((sum, r) => sum + r.errors, 0),
  }));
  const direct = summary[0].rps;
  const rows: Row[] = TARGETS.map((target, i) => ({
    measure: DATAPATH_MEASURES.latency(target.label, rounds, seconds),
    value: `${summary[i].rps.toFixed(0)} req/s, ${summary[i].p50.toFixed(2)} ms, ${summary[i].p99.toFixed(2)} ms, ${summary[i].errors} errors`,
    target: i === 1 ? "≥ 0.8 × direct" : "—",
    verdict: i === 1 ? (summary[i].rps >= 0.8 * direct && summary[i].errors === 0 ? "met" : "missed") : "info",
  }));
  rows.push(
    ...[1, 2].map((i): Row => ({
      measure: DATAPATH_MEASURES.throughputRatio(TARGETS[i].label),
      value: `${(summary[i].rps / direct).toFixed(2)} ×`,
      target: i === 1 ? "≥ 0.80 ×" : "—",
      verdict: i === 1 ? (summary[i].rps / direct >= 0.8 ? "met" : "missed") : "info",
    })),
  );
  return rows;
}
