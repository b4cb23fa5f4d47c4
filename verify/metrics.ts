// FlowProxy's Prometheus metrics as `pnpm run verify` and the sandbox read them: the text format
// parsed, and the series that prove a peer's orderflow arrived. The names follow FlowProxy's
// src/metrics.rs at 258bbd6 and 029b7c4 (see test/doubles/flowproxy/declare.ts, which cites them).

/** A series selected by name and a subset of its labels. */
export interface Series {
  name: string;
  labels: Record<string, string>;
}

/**
 * Orderflow requests FlowProxy's system endpoint accepted (signature and peer checked): observed
 * once per accepted request by both generations. Generation 1 keeps a histogram, whose count only
 * grows; generation 2 a summary over a rolling window, whose count also falls as requests age out.
 */
export const SYSTEM_FLOW_ACCEPTED: Series = {
  name: "flowproxy_ingress_rpc_request_duration_count",
  labels: { handler: "system" },
};

/** How many peers a FlowProxy learnt from BuilderHub (it reads the list every 30 s). */
export const PEER_COUNT: Series = { name: "flowproxy_builderhub_peer_count", labels: {} };

/**
 * The sum of a metric's samples whose labels include `labels`, from Prometheus' text format: e.g.
 * the `_count` of FlowProxy's ingress_rpc_request_duration for handler="system".
 */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const pairs = new Map([...(match[2] ?? "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => pairs.get(k) === v)) sum += Number(match[3]);
  }
  return sum;
}

export const seriesSum = (text: string, series: Series): number => metricSum(text, series.name, series.labels);
