// The rows of docs/BENCHMARKS.md: each part's title and the measure of every row it writes. A
// measure is fixed words, or a function whose arguments are the figures of one run (a count, a
// number of rounds, an outcome); the words around them are the row. The benchmark writes its rows
// through these and refuses a part whose rows differ (report/bench.ts), and
// test/unit/report/reports.test.ts holds the committed document to them.
import { LOOPBACK, PORTS } from "../lib/contract";
import { VMS } from "../sandbox/base/topology";

/** A figure of one run, or a subject the part measures (a VM, a target). */
type Figure = string | number;
// Functions that only interpolate their figures: rows are recognised by calling them with a placeholder.
export type Measure = string | ((...figures: Figure[]) => string);

export const EVALUATION_MEASURES = {
  programWallTime: (resources: Figure, rounds: Figure) =>
    `the program (${resources} resources), wall time (median of ${rounds})`,
  programPeakRss: (rounds: Figure) => `the program, peak RSS (max of ${rounds})`,
  floor: "floor: one resource with the same imports, wall time / peak RSS",
  reference: (resources: Figure) =>
    `reference: the program's ${resources} resources with constant inputs and no logic, wall time / peak RSS`,
  programOverFloor: "program / floor, wall time",
  programOverReference: "program / same resources without logic, wall time (what the program's own code adds)",
  runtimePerResource: "Pulumi's runtime per declared resource ((reference − floor) / extra resources)",
  plainStacks:
    "program / floor with ts-node's source-mapped stack traces switched off in both (what rewriting Pulumi's per-resource stacks costs)",
} satisfies Record<string, Measure>;

export const UNIT_MEASURES = {
  wallTime: "pnpm test, wall time",
} satisfies Record<string, Measure>;

export const PROVISIONING_MEASURES = {
  coldUp: "cold `sandbox up` (empty cache: VM image, Docker Hub's images and registry built)",
  warmUp: "warm `sandbox up` (after `sandbox down`, caches kept)",
  verify: (checks: Figure, outcome: Figure) => `\`pnpm run verify --sandbox\` (${checks} checks, ${outcome})`,
  firstRun: (vmName: Figure) => `first run of ${vmName}'s extension (image cached)`,
  rerun: "rerun with no change (slowest VM)",
  rerunAfterCfg: "rerun after a haproxy.cfg change (slowest VM)",
  lostDuringCfg: (reruns: Figure, duration: Figure, rate: Figure) =>
    `requests lost while HAProxy reloaded (${reruns} reruns alternating two haproxy.cfg, ${duration} in all; only requests sent during a rerun count; GET /livez on :443, ${rate}/s, new TLS connection each)`,
  rerunAfterArtifact: "rerun after a new FlowProxy artifact (slowest VM)",
  unavailableDuringArtifact: "unavailability of :443 during that rerun (probed every 50 ms)",
  haproxyVersionChange: "haProxyVersion change: `sandbox up` pulling, checking and recreating HAProxy on every proxy",
  livezDuringChange: "GET /livez on :443 during that change (100/s, new TLS connection each)",
} satisfies Record<string, Measure>;

/** Ports of the data-path benchmark's own containers in vm-eastus, away from the stack's (PORTS). */
export const BENCH_PORTS = {
  backend: 18001,
  http: 18080,
  https: 18443,
  system: 18544,
  metrics: 18405,
  servedCert: 18727,
} as const;

/** What wrk is pointed at: the backend alone first, the baseline the others are compared with. */
export const DATAPATH_TARGETS = [
  {
    label: `the backend alone (HAProxy answering from memory, ${LOOPBACK}:${BENCH_PORTS.backend})`,
    url: `http://${LOOPBACK}:${BENCH_PORTS.backend}/livez`,
  },
  {
    label: `through haproxy.cfg's :${PORTS.http} frontend (per-source guard raised) to that backend`,
    url: `http://${LOOPBACK}:${BENCH_PORTS.http}/livez`,
  },
  {
    label: `through haproxy.cfg's :${PORTS.https} frontend (TLS, per-source guard raised) to that backend`,
    url: `https://${LOOPBACK}:${BENCH_PORTS.https}/livez`,
  },
] as const;

export const DATAPATH_MEASURES = {
  latency: (label: Figure, rounds: Figure, seconds: Figure, connections: Figure) =>
    `GET /livez ${label}: req/s, p50, p99 (median of ${rounds} × ${seconds} s, ${connections} connections)`,
  baselineOutruns: "the backend alone outruns both paths through HAProxy (else the figures below measure the backend)",
  throughputRatio: (label: Figure) => `throughput ${label} / the backend alone; p50 and p99 added`,
} satisfies Record<string, Measure>;

/** A measure with its subject (a VM, a target) filled in and the run's figures left open. */
const about =
  (measure: (subject: Figure, ...figures: Figure[]) => string, subject: string): Measure =>
  (...figures: Figure[]) =>
    measure(subject, ...figures);

export const BENCH_PARTS = {
  evaluation: { title: "Program evaluation", measures: Object.values(EVALUATION_MEASURES) },
  unit: { title: "Unit tests", measures: Object.values(UNIT_MEASURES) },
  provisioning: {
    title: "Provisioning in the sandbox",
    measures: [
      PROVISIONING_MEASURES.coldUp,
      PROVISIONING_MEASURES.warmUp,
      PROVISIONING_MEASURES.verify,
      ...VMS.map((vm) => about(PROVISIONING_MEASURES.firstRun, vm.name)),
      PROVISIONING_MEASURES.rerun,
      PROVISIONING_MEASURES.rerunAfterCfg,
      PROVISIONING_MEASURES.lostDuringCfg,
      PROVISIONING_MEASURES.rerunAfterArtifact,
      PROVISIONING_MEASURES.unavailableDuringArtifact,
      PROVISIONING_MEASURES.haproxyVersionChange,
      PROVISIONING_MEASURES.livezDuringChange,
    ],
  },
  datapath: {
    title: "HAProxy data path",
    measures: [
      ...DATAPATH_TARGETS.map((target) => about(DATAPATH_MEASURES.latency, target.label)),
      DATAPATH_MEASURES.baselineOutruns,
      ...DATAPATH_TARGETS.slice(1).map((target) => about(DATAPATH_MEASURES.throughputRatio, target.label)),
    ],
  },
} satisfies Record<string, { title: string; measures: Measure[] }>;

const FIGURE = "\u0000";
/** More figures than any measure takes; the extra ones are ignored. */
const ENOUGH_FIGURES = 8;

/** The rows a measure stands for: its words exactly, any text where a figure goes. */
function measurePattern(measure: Measure): RegExp {
  const text = typeof measure === "string" ? measure : measure(...Array<string>(ENOUGH_FIGURES).fill(FIGURE));
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${escaped.split(FIGURE).join(".+?")}$`);
}

/** How a part's rows differ from its measures: each measure without its one row, each row no measure stands for. */
export function measureDifferences(measures: readonly Measure[], rows: readonly string[]): string[] {
  const patterns = measures.map(measurePattern);
  return [
    ...patterns.flatMap((pattern) => {
      const matched = rows.filter((row) => pattern.test(row)).length;
      return matched === 1 ? [] : [`${matched === 0 ? "no row" : `${matched} rows`} for ${pattern.source}`];
    }),
    ...rows.filter((row) => !patterns.some((pattern) => pattern.test(row))).map((row) => `no measure for "${row}"`),
  ];
}
