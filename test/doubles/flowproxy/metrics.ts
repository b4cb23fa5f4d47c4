// FlowProxy's Prometheus metrics: the names, help texts and labels of src/metrics.rs (prometric
// derives `<scope>_<field>` names; every name gets the "flowproxy_" prefix when served), written
// as the `prometheus` crate's TextEncoder writes them: families sorted by name, empty families
// left out, label pairs sorted by name, series sorted by label values.
type MetricType = "counter" | "gauge" | "histogram" | "summary";

type Labels = Record<string, string>;

interface Family {
  type: MetricType;
  help: string;
  buckets?: readonly number[];
  series: Map<string, Series>;
}

interface Series {
  labels: [string, string][];
  value: number;
  buckets?: number[];
  sum: number;
  count: number;
  /** Summaries: observations of the rolling window, with their time. */
  window?: { at: number; value: number }[];
}

/** prometheus' DEFAULT_BUCKETS, for histograms that name none. */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** prometric 0.2's default summary quantiles and its rolling window (3 buckets of 20 s). */
const SUMMARY_QUANTILES = [0, 0.5, 0.9, 0.95, 0.99, 0.999, 1];
const SUMMARY_WINDOW_MS = 60_000;

/** Rust's `{}` for f64, which never uses an exponent. */
function formatFloat(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  const text = String(value);
  if (!/e/i.test(text)) return text;
  const [mantissa, exponentText] = text.toLowerCase().split("e");
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith("-");
  const [intPart, fracPart = ""] = mantissa.replace("-", "").split(".");
  const digits = intPart + fracPart;
  const point = intPart.length + exponent;
  const body =
    point <= 0
      ? `0.${"0".repeat(-point)}${digits}`
      : point >= digits.length
        ? digits + "0".repeat(point - digits.length)
        : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return (negative ? "-" : "") + body;
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function labelText(pairs: [string, string][]): string {
  return pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

function quantile(sorted: number[], q: number): number {
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export class Registry {
  private readonly families = new Map<string, Family>();

  constructor(
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {}

  declare(name: string, type: MetricType, help: string, buckets?: readonly number[]): void {
    if (!this.families.has(name)) {
      this.families.set(name, {
        type,
        help,
        buckets: type === "histogram" ? (buckets ?? DEFAULT_BUCKETS) : undefined,
        series: new Map(),
      });
    }
  }

  private series(name: string, labels: Labels): Series {
    const family = this.families.get(name);
    if (!family) {
      throw new Error(`metric ${name} is not declared`);
    }
    const pairs = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = JSON.stringify(pairs);
    let series = family.series.get(key);
    if (!series) {
      series = { labels: pairs, value: 0, sum: 0, count: 0 };
      if (family.type === "histogram") series.buckets = (family.buckets ?? []).map(() => 0);
      if (family.type === "summary") series.window = [];
      family.series.set(key, series);
    }
    return series;
  }

  inc(name: string, labels: Labels = {}, by = 1): void {
    this.series(name, labels).value += by;
  }

  set(name: string, labels: Labels, value: number): void {
    this.series(name, labels).value = value;
  }

  observe(name: string, labels: Labels, value: number): void {
    const series = this.series(name, labels);
    const family = this.families.get(name) as Family;
    if (family.type === "histogram") {
      (family.buckets ?? []).forEach((bound, i) => {
        if (value <= bound) (series.buckets as number[])[i]++;
      });
      series.sum += value;
      series.count++;
    } else {
      series.window?.push({ at: this.now(), value });
    }
  }

  /**
   * What registering a prometric struct again with the same constant labels does: prometric
   * unregisters the old collector (AlreadyReg) and registers the new one, so its series start over.
   */
  reset(constLabels: Labels): void {
    const wanted = Object.entries(constLabels);
    for (const family of this.families.values()) {
      for (const [key, series] of family.series) {
        if (wanted.every(([k, v]) => series.labels.some(([sk, sv]) => sk === k && sv === v))) {
          family.series.delete(key);
        }
      }
    }
  }

  render(): string {
    const lines: string[] = [];
    const names = [...this.families.keys()].sort();
    for (const name of names) {
      const family = this.families.get(name) as Family;
      if (family.series.size === 0) continue;
      const full = `${this.prefix}${name}`;
      lines.push(`# HELP ${full} ${escapeHelp(family.help)}`, `# TYPE ${full} ${family.type}`);
      const series = [...family.series.values()].sort((a, b) => {
        const av = a.labels.map(([, v]) => v).join("\u0000");
        const bv = b.labels.map(([, v]) => v).join("\u0000");
        return av < bv ? -1 : av > bv ? 1 : 0;
      });
      for (const s of series) {
        if (family.type === "histogram") {
          let cumulative = 0;
          (family.buckets ?? []).forEach((bound, i) => {
            cumulative = (s.buckets as number[])[i];
            lines.push(`${full}_bucket${labelText([...s.labels, ["le", formatFloat(bound)]])} ${cumulative}`);
          });
          lines.push(`${full}_bucket${labelText([...s.labels, ["le", "+Inf"]])} ${s.count}`);
          lines.push(
            `${full}_sum${labelText(s.labels)} ${formatFloat(s.sum)}`,
            `${full}_count${labelText(s.labels)} ${s.count}`,
          );
        } else if (family.type === "summary") {
          const cutoff = this.now() - SUMMARY_WINDOW_MS;
          s.window = (s.window ?? []).filter((o) => o.at > cutoff);
          const sorted = s.window.map((o) => o.value).sort((a, b) => a - b);
          if (sorted.length > 0) {
            for (const q of SUMMARY_QUANTILES) {
              lines.push(
                `${full}${labelText([...s.labels, ["quantile", formatFloat(q)]])} ${formatFloat(quantile(sorted, q))}`,
              );
            }
          }
          lines.push(`${full}_sum${labelText(s.labels)} ${formatFloat(sorted.reduce((a, b) => a + b, 0))}`);
          lines.push(`${full}_count${labelText(s.labels)} ${sorted.length}`);
        } else {
          lines.push(`${full}${labelText(s.labels)} ${formatFloat(s.value)}`);
        }
      }
    }
    return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
  }
}
