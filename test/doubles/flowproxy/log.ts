// FlowProxy's logs as tracing-subscriber 0.3 writes them to stdout (src/trace.rs@258bbd6): the
// default `fmt` layer (ANSI styles on, unless NO_COLOR is set), or its JSON layer when LOG_JSON;
// levels filtered by RUST_LOG with INFO as the default directive. Only the directive forms
// `level`, `target` and `target=level` of EnvFilter are understood; others are ignored, as
// from_env_lossy ignores what it cannot parse.
export type Level = "ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE";
const RANK: Record<Level, number> = { ERROR: 1, WARN: 2, INFO: 3, DEBUG: 4, TRACE: 5 };

/** A field value with the formatting tracing gives it: `%x` display, `?x` debug, a &str, a number or bool. */
type FieldValue = { display: string } | { debug: string } | string | number | boolean;
export type Fields = [string, FieldValue][];

export interface Span {
  name: string;
  fields: Fields;
}

interface Directive {
  target?: string;
  level: number;
}

function parseFilter(spec: string | undefined): Directive[] {
  const directives: Directive[] = [{ level: RANK.INFO }];
  const levelOf = (text: string): number | undefined =>
    text.toLowerCase() === "off" ? 0 : RANK[text.toUpperCase() as Level];
  for (const part of (spec ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [target, level] = part.includes("=")
      ? part.split("=", 2)
      : levelOf(part) !== undefined
        ? [undefined, part]
        : [part, "trace"];
    const rank = levelOf(level);
    if (rank === undefined || (target !== undefined && !/^[\w:]+$/.test(target))) {
      continue;
    }
    directives.push({ target, level: rank });
  }
  return directives;
}

const ANSI = {
  dim: (s: string) => `\x1b[2m${s}\x1b[0m`,
  bold: (s: string) => `\x1b[1m${s}\x1b[0m`,
  italic: (s: string) => `\x1b[3m${s}\x1b[0m`,
};
const LEVEL_COLOUR: Record<Level, number> = { TRACE: 35, DEBUG: 34, INFO: 32, WARN: 33, ERROR: 31 };

/** SystemTime as tracing-subscriber prints it: RFC 3339, microseconds, UTC. */
function timestamp(now: Date, micros: number): string {
  return `${now.toISOString().slice(0, 19)}.${String(micros).padStart(6, "0")}Z`;
}

function textValue(value: FieldValue): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "object") return "display" in value ? value.display : value.debug;
  return String(value);
}

function jsonValue(value: FieldValue): unknown {
  if (typeof value === "object") return "display" in value ? value.display : value.debug;
  return value;
}

export class Logger {
  private readonly directives: Directive[];
  private readonly ansi: boolean;

  constructor(
    private readonly json: boolean,
    env: NodeJS.ProcessEnv,
    private readonly write: (line: string) => void = (line) => process.stdout.write(line),
  ) {
    this.directives = parseFilter(env.RUST_LOG);
    this.ansi = !env.NO_COLOR;
  }

  /** EnvFilter: the most specific directive whose target prefixes the event's decides. */
  enabled(level: Level, target: string): boolean {
    let best: Directive | undefined;
    for (const d of this.directives) {
      const matches = d.target === undefined || target === d.target || target.startsWith(`${d.target}::`);
      if (matches && (best === undefined || (d.target?.length ?? -1) >= (best.target?.length ?? -1))) {
        best = d;
      }
    }
    return RANK[level] <= (best?.level ?? RANK.INFO);
  }

  event(level: Level, target: string, message: string, fields: Fields = [], spans: Span[] = []): void {
    if (!this.enabled(level, target)) {
      return;
    }
    const now = new Date();
    const micros = now.getUTCMilliseconds() * 1000 + Math.floor((performance.now() % 1) * 1000);
    const ts = timestamp(now, micros);
    if (this.json) {
      const record: Record<string, unknown> = {
        timestamp: ts,
        level,
        fields: Object.fromEntries([["message", message], ...fields.map(([k, v]) => [k, jsonValue(v)])]),
        target,
      };
      if (spans.length > 0) {
        const span = (s: Span) => ({
          ...Object.fromEntries(s.fields.map(([k, v]) => [k, jsonValue(v)])),
          name: s.name,
        });
        record.span = span(spans[spans.length - 1]);
        record.spans = spans.map(span);
      }
      this.write(`${JSON.stringify(record)}\n`);
      return;
    }
    const a = this.ansi;
    const fieldText = (list: Fields) =>
      list.map(([k, v]) => `${a ? ANSI.italic(k) : k}${a ? ANSI.dim("=") : "="}${textValue(v)}`).join(" ");
    const levelText = level.padStart(5);
    const spanText = spans
      .map((s) => {
        const inner =
          s.fields.length > 0 ? `${a ? ANSI.bold("{") : "{"}${fieldText(s.fields)}${a ? ANSI.bold("}") : "}"}` : "";
        return `${a ? ANSI.bold(s.name) : s.name}${inner}${a ? ANSI.dim(":") : ":"}`;
      })
      .join("");
    const body = [message, fieldText(fields)].filter(Boolean).join(" ");
    const parts = [
      a ? ANSI.dim(ts) : ts,
      a ? `\x1b[${LEVEL_COLOUR[level]}m${levelText}\x1b[0m` : levelText,
      ...(spanText ? [spanText] : []),
      a ? `${ANSI.dim(target)}${ANSI.dim(":")}` : `${target}:`,
      body,
    ];
    this.write(`${parts.join(" ")}\n`);
  }
}

/** Rust's Debug of a str. */
export function debugString(value: string): string {
  return JSON.stringify(value).replace(/\\u0000/g, "\\0");
}
