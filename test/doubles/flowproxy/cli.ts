// FlowProxy's command line and environment as clap 4.5 parses src/cli.rs (OrderflowIngressArgs):
// command-line values first, then each argument's environment variable in declaration order, then
// defaults; then conflicts, then required arguments. Errors are written as clap writes them (no
// colours: stderr is not a terminal under systemd) and exit with clap's usage status, 2.
// `--help` is the one thing not reproduced: it prints the usage line only. Compared with
// FlowProxy's own src/cli.rs at 258bbd6 and 029b7c4, built from source with the clap and alloy each
// locks: exit status, stdout and stderr alike for thousands of random environments and command lines.
import { isIP } from "node:net";
import { parseHex, Signer } from "./crypto";

export type Generation = 1 | 2;

type Parser = (raw: string) => { value?: string; error?: string; possible?: string[]; empty?: boolean };

interface ArgSpec {
  id: string;
  long: string;
  env?: string;
  flag?: boolean;
  required?: boolean;
  default?: string;
  group?: "clickhouse" | "parquet";
  parse?: Parser;
}

/** What clap prints for an argument: `--long <ID>` (derive uses the id as the value name), or `--long` for a flag. */
const display = (a: ArgSpec) => (a.flag ? `--${a.long}` : `--${a.long} <${a.id.toUpperCase()}>`);

const u64: Parser = (raw) => {
  if (raw === "") return { error: "cannot parse integer from empty string" };
  if (!/^\+?[0-9]+$/.test(raw)) return { error: "invalid digit found in string" };
  return BigInt(raw) >= 1n << 64n
    ? { error: "number too large to fit in target type" }
    : { value: raw.replace(/^\+/, "") };
};
const nonZero: Parser = (raw) => {
  const parsed = u64(raw);
  return parsed.error || BigInt(parsed.value as string) !== 0n
    ? parsed
    : { error: "number would be zero for non-zero type" };
};
const path: Parser = (raw) => (raw === "" ? { empty: true } : { value: raw });
// An empty value is "required but none was supplied", with the possible values (BoolValueParser).
const bool: Parser = (raw) =>
  raw === "true" || raw === "false"
    ? { value: raw }
    : raw === ""
      ? { empty: true, possible: ["true", "false"] }
      : { possible: ["true", "false"] };

/** Rust's SocketAddr::from_str: `ip:port` or `[ipv6]:port`, no host names. */
export function parseSocketAddr(raw: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(raw);
  if (!match) return undefined;
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  const family = isIP(host);
  if (port > 65535 || (match[1] !== undefined ? family !== 6 : family !== 4) || (family === 6 && host.includes("%"))) {
    return undefined;
  }
  return { host, port };
}
const socketAddr: Parser = (raw) =>
  parseSocketAddr(raw) ? { value: raw } : { error: "invalid socket address syntax" };

/** const-hex's FromHexError wording, which PrivateKeySigner and Address parsing pass through. */
function hexError(raw: string, bytes: number): string | undefined {
  const digits = raw.replace(/^0[xX]/, "");
  const bad = [...digits].findIndex((c) => !/[0-9a-fA-F]/.test(c));
  if (bad >= 0) return `invalid character ${JSON.stringify(digits[bad]).replace(/"/g, "'")} at position ${bad}`;
  if (digits.length % 2 !== 0) return "odd number of digits";
  return digits.length !== bytes * 2 ? "invalid string length" : undefined;
}
const privateKey: Parser = (raw) => {
  const error = hexError(raw, 32);
  if (error) return { error };
  try {
    Signer.fromHex(raw);
    return { value: raw };
  } catch (err) {
    return { error: (err as Error).message };
  }
};
const address: Parser = (raw) => {
  const error = hexError(raw, 20);
  return error ? { error } : { value: `0x${(parseHex(raw) as Buffer).toString("hex")}` };
};

/** src/cli.rs at 258bbd6 (generation 1) and 029b7c4 (generation 2), in declaration order. */
function argSpecs(generation: Generation): ArgSpec[] {
  const g2 = generation === 2;
  const listen = g2 ? socketAddr : undefined;
  return [
    {
      id: "USER_LISTEN_ADDR",
      long: g2 ? "user-listen-addr" : "user-listen-url",
      env: "USER_LISTEN_ADDR",
      required: true,
      parse: listen,
    },
    {
      id: "SYSTEM_LISTEN_ADDR",
      long: g2 ? "system-listen-addr" : "system-listen-url",
      env: "SYSTEM_LISTEN_ADDR",
      required: true,
      parse: listen,
    },
    ...(g2
      ? [
          { id: "PRIVATE_KEY_PEM_FILE", long: "private-key-pem-file", env: "PRIVATE_KEY_PEM_FILE", parse: path },
          { id: "CERTIFICATE_PEM_FILE", long: "certificate-pem-file", env: "CERTIFICATE_PEM_FILE", parse: path },
        ]
      : []),
    {
      id: "BUILDER_LISTEN_ADDR",
      long: g2 ? "builder-listen-addr" : "builder-listen-url",
      env: "BUILDER_LISTEN_ADDR",
      parse: listen,
    },
    { id: "BUILDER_ENDPOINT", long: "builder-url", env: "BUILDER_ENDPOINT" },
    {
      id: "BUILDER_READY_ENDPOINT",
      long: "builder-ready-endpoint",
      env: "BUILDER_READY_ENDPOINT",
      default: "http://127.0.0.1:6070",
    },
    // Generation 2 replaces dashes with underscores (cli.rs@029b7c4, replace_dashes_with_underscores).
    {
      id: "BUILDERNET_NODE_NAME",
      long: "builder-name",
      env: "BUILDERNET_NODE_NAME",
      required: true,
      parse: g2 ? (raw) => ({ value: raw.replace(/-/g, "_") }) : undefined,
    },
    { id: "BUILDERHUB_ENDPOINT", long: "builder-hub-url", env: "BUILDERHUB_ENDPOINT" },
    { id: "METRICS_ADDR", long: "metrics", env: "METRICS_ADDR" },
    {
      id: "FLASHBOTS_ORDERFLOW_SIGNER",
      long: "orderflow-signer",
      env: "FLASHBOTS_ORDERFLOW_SIGNER",
      parse: privateKey,
    },
    {
      id: "FLASHBOTS_ORDERFLOW_SIGNER_ADDRESS",
      long: "flashbots-signer",
      env: "FLASHBOTS_ORDERFLOW_SIGNER_ADDRESS",
      parse: address,
    },
    { id: "max_request_size", long: "max-request-size", default: String(10 * 1024 * 1024), parse: u64 },
    { id: "max_txs_per_bundle", long: "max-txs-per-bundle", default: "100", parse: u64 },
    { id: "enable_rate_limiting", long: "enable-rate-limiting", flag: true },
    { id: "rate_limit_lookback_s", long: "rate-limit-lookback-s", default: "1", parse: u64 },
    { id: "rate_limit_count", long: "rate-limit-count", default: "500", parse: u64 },
    { id: "score_lookback_s", long: "score-lookback-s", default: "60", parse: u64 },
    { id: "score_bucket_s", long: "score-bucket-s", default: "4", parse: u64 },
    { id: "disable_forwarding", long: "disable-forwarding", flag: true },
    { id: "LOG_JSON", long: "log.json", env: "LOG_JSON", flag: true },
    { id: "gzip_enabled", long: "http.enable-gzip", flag: true },
    ...(g2
      ? [
          {
            id: "DISK_BACKUP_SIZE_REJECT_FLOW_THRESHOLD_MB",
            long: "disk-backup-size-reject-flow-threshold-mb",
            env: "DISK_BACKUP_SIZE_REJECT_FLOW_THRESHOLD_MB",
            default: "1024",
            parse: u64,
          },
          {
            id: "DISK_BACKUP_SIZE_TO_RESUME_FLOW_THRESHOLD_MB",
            long: "disk-backup-size-to-resume-flow-threshold-mb",
            env: "DISK_BACKUP_SIZE_TO_RESUME_FLOW_THRESHOLD_MB",
            default: "512",
            parse: u64,
          },
          {
            id: "PEER_UPDATE_INTERVAL_S",
            long: "peer.update-interval-s",
            env: "PEER_UPDATE_INTERVAL_S",
            default: "30",
            parse: u64,
          },
          {
            id: "TCP_SMALL_CLIENTS",
            long: "tcp.small-clients",
            env: "TCP_SMALL_CLIENTS",
            default: "4",
            parse: nonZero,
          },
          { id: "TCP_BIG_CLIENTS", long: "tcp.big-clients", env: "TCP_BIG_CLIENTS", default: "0", parse: u64 },
          { id: "IO_THREADS", long: "io-threads", env: "IO_THREADS", default: "4", parse: u64 },
          { id: "COMPUTE_THREADS", long: "compute-threads", env: "COMPUTE_THREADS", default: "4", parse: u64 },
        ]
      : []),
    { id: "order_cache_ttl", long: "order-cache.ttl", default: "60", parse: u64 },
    { id: "order_cache_size", long: "order-cache.size", default: "1048576", parse: u64 },
    { id: "signer_cache_ttl", long: "signer-cache.ttl", default: "36", parse: u64 },
    { id: "signer_cache_size", long: "signer-cache.size", default: "16384", parse: u64 },
    // The ClickHouse group: every argument of ClickhouseArgs belongs to it, defaults included.
    { id: "CLICKHOUSE_HOST", long: "indexer.clickhouse.host", env: "CLICKHOUSE_HOST", group: "clickhouse" },
    { id: "CLICKHOUSE_USERNAME", long: "indexer.clickhouse.username", env: "CLICKHOUSE_USERNAME", group: "clickhouse" },
    { id: "CLICKHOUSE_PASSWORD", long: "indexer.clickhouse.password", env: "CLICKHOUSE_PASSWORD", group: "clickhouse" },
    { id: "CLICKHOUSE_DATABASE", long: "indexer.clickhouse.database", env: "CLICKHOUSE_DATABASE", group: "clickhouse" },
    {
      id: "CLICKHOUSE_BUNDLES_TABLE_NAME",
      long: "indexer.clickhouse.bundles-table-name",
      env: "CLICKHOUSE_BUNDLES_TABLE_NAME",
      default: "bundles",
      group: "clickhouse",
    },
    {
      id: "CLICKHOUSE_BUNDLE_RECEIPTS_TABLE_NAME",
      long: "indexer.clickhouse.bundle-receipts-table-name",
      env: "CLICKHOUSE_BUNDLE_RECEIPTS_TABLE_NAME",
      default: "bundle_receipts",
      group: "clickhouse",
    },
    {
      id: "CLICKHOUSE_BACKUP_MEMORY_SIZE_BYTES",
      long: "indexer.clickhouse.backup.memory-max-size-bytes",
      env: "CLICKHOUSE_BACKUP_MEMORY_SIZE_BYTES",
      default: String(1024 ** 3),
      group: "clickhouse",
      parse: u64,
    },
    {
      id: "CLICKHOUSE_BACKUP_DISK_DATABASE_PATH",
      long: "indexer.clickhouse.backup.disk-database-path",
      env: "CLICKHOUSE_BACKUP_DISK_DATABASE_PATH",
      default: "~/.buildernet-of-proxy/clickhouse-backup.db",
      group: "clickhouse",
    },
    {
      id: "CLICKHOUSE_BACKUP_DISK_MAX_SIZE_BYTES",
      long: "indexer.clickhouse.backup.disk-max-size-bytes",
      env: "CLICKHOUSE_BACKUP_DISK_MAX_SIZE_BYTES",
      default: String(10 * 1024 ** 3),
      group: "clickhouse",
      parse: u64,
    },
    ...(g2
      ? [
          {
            id: "CLICKHOUSE_SEND_TIMEOUT_MS",
            long: "indexer.clickhouse.send-timeout-ms",
            env: "CLICKHOUSE_SEND_TIMEOUT_MS",
            default: "2000",
            group: "clickhouse" as const,
            parse: u64,
          },
          {
            id: "CLICKHOUSE_END_TIMEOUT_MS",
            long: "indexer.clickhouse.end-timeout-ms",
            env: "CLICKHOUSE_END_TIMEOUT_MS",
            default: "3000",
            group: "clickhouse" as const,
            parse: u64,
          },
        ]
      : []),
    {
      id: "PARQUET_BUNDLE_RECEIPTS_FILE_PATH",
      long: "indexer.parquet.bundle-receipts-file-path",
      env: "PARQUET_BUNDLE_RECEIPTS_FILE_PATH",
      group: "parquet",
      parse: path,
    },
  ];
}

/** `requires_all` of the clickhouse group (cli.rs, `#[group(id = "clickhouse", ...)]`). */
const CLICKHOUSE_REQUIRES = ["CLICKHOUSE_HOST", "CLICKHOUSE_USERNAME", "CLICKHOUSE_PASSWORD", "CLICKHOUSE_DATABASE"];

export type Settings = Record<string, string | undefined>;

export type CliOutcome =
  { kind: "run"; settings: Settings } | { kind: "exit"; status: number; stdout: string; stderr: string };

const TRY_HELP = "\n\nFor more information, try '--help'.\n";

/** A token clap reads as an argument, not as a pending option's value: `--...`, or `-x` but not `-`. */
const looksLikeAnArgument = (token: string) => token.startsWith("--") || (token.startsWith("-") && token.length > 1);

/** strsim 0.11's jaro (generic_jaro over chars), which clap's suggestions use. */
function jaro(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  if (x.length === 0 && y.length === 0) return 1;
  if (x.length === 0 || y.length === 0) return 0;
  const range = Math.max(0, Math.floor(Math.max(x.length, y.length) / 2) - 1);
  const xFlags = x.map(() => false);
  const yFlags = y.map(() => false);
  let matches = 0;
  x.forEach((c, i) => {
    const lo = i > range ? i - range : 0;
    const hi = Math.min(y.length, i + range + 1);
    for (let j = lo; j < hi; j++) {
      if (!yFlags[j] && y[j] === c) {
        xFlags[i] = yFlags[j] = true;
        matches++;
        break;
      }
    }
  });
  if (matches === 0) return 0;
  const matchedY = y.filter((_, j) => yFlags[j]);
  const transpositions = Math.floor(x.filter((_, i) => xFlags[i]).filter((c, k) => c !== matchedY[k]).length / 2);
  return (matches / x.length + matches / y.length + (matches - transpositions) / matches) / 3;
}

/** clap's did_you_mean: candidates above 0.7 kept in ascending order, ties after; the last one wins. */
function didYouMean(name: string, longs: string[]): string | undefined {
  let best: { confidence: number; long: string } | undefined;
  for (const long of longs) {
    const confidence = jaro(name, long);
    if (confidence > 0.7 && (best === undefined || confidence >= best.confidence)) best = { confidence, long };
  }
  return best?.long;
}

/**
 * Parses argv (without node and the script) and the environment. `binName` is argv[0]'s file
 * name, which clap shows in usage lines; `version` is what `--version` prints after the name.
 */
export function parseCli(
  generation: Generation,
  argv: string[],
  env: NodeJS.ProcessEnv,
  binName: string,
  version: string,
): CliOutcome {
  const specs = argSpecs(generation);
  const byLong = new Map(specs.map((a) => [a.long, a]));
  /** Explicit values (command line, then environment) in the order clap's matcher records them. */
  const explicit = new Map<string, string>();
  const usageError = (message: string, usage?: string): CliOutcome => ({
    kind: "exit",
    status: 2,
    stdout: "",
    stderr: `error: ${message}${usage ? `\n\n${usage}` : ""}${TRY_HELP}`,
  });
  const required = () => specs.filter((a) => a.required).map((a) => a.id);
  /** clap's "smart usage": the bin name, then every required argument, then every used one. */
  const smartUsage = (used: string[]) => {
    const shown: string[] = [];
    for (const id of [...required(), ...used]) {
      const spec = specs.find((a) => a.id === id);
      // clap's own --help and --version, which a suggestion can name.
      const text = spec ? display(spec) : `--${id}`;
      if (!shown.includes(text)) shown.push(text);
    }
    return `Usage: ${[binName, ...shown].join(" ")}`;
  };
  /** Usage after an error in argv: the smart usage of what argv gave so far, else the help usage. */
  const argvUsage = (used: string[]) => (used.length > 0 ? smartUsage(used) : helpUsage());
  const helpUsage = () =>
    `Usage: ${[binName, "[OPTIONS]", ...required().map((id) => display(specs.find((a) => a.id === id) as ArgSpec))].join(" ")}`;
  const accept = (spec: ArgSpec, raw: string): CliOutcome | undefined => {
    // A flag's environment value goes through BoolValueParser: "true" or "false" only.
    const parser: Parser = spec.parse ?? (spec.flag ? bool : (value) => ({ value }));
    const parsed = parser(raw);
    if (parsed.empty)
      return usageError(
        `a value is required for '${display(spec)}' but none was supplied${parsed.possible ? `\n  [possible values: ${parsed.possible.join(", ")}]` : ""}`,
      );
    if (parsed.possible)
      return usageError(
        `invalid value '${raw}' for '${display(spec)}'\n  [possible values: ${parsed.possible.join(", ")}]`,
      );
    if (parsed.error) return usageError(`invalid value '${raw}' for '${display(spec)}': ${parsed.error}`);
    explicit.set(spec.id, parsed.value as string);
    return undefined;
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--version" || arg === "-V") {
      return { kind: "exit", status: 0, stdout: `flowproxy ${version}\n`, stderr: "" };
    }
    if (arg === "--help" || arg === "-h") {
      return { kind: "exit", status: 0, stdout: `${helpUsage()}\n`, stderr: "" };
    }
    if (arg === "--") {
      // The end of options: what follows is positional, and OrderflowIngressArgs takes none.
      if (i + 1 < argv.length) return usageError(`unexpected argument '${argv[i + 1]}' found`, helpUsage());
      break;
    }
    const match = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    const spec = match ? byLong.get(match[1]) : undefined;
    if (!match || !spec) {
      // Parser::did_you_mean_error (clap_builder 4.5.48/4.5.53 parser.rs, suggestions.rs): for a
      // long argument, the most similar long name (strsim's Jaro above 0.7; the later one on a
      // tie) is offered and counts as used in the usage line.
      const suggestion = match ? didYouMean(match[1], [...specs.map((a) => a.long), "help", "version"]) : undefined;
      if (match && suggestion !== undefined) {
        const suggested = specs.find((a) => a.long === suggestion)?.id ?? suggestion;
        return usageError(
          `unexpected argument '--${match[1]}' found\n\n  tip: a similar argument exists: '--${suggestion}'`,
          smartUsage([...explicit.keys(), suggested]),
        );
      }
      // A long argument that matches nothing shows what argv used so far; anything else (a short
      // one, a positional) the help usage.
      return usageError(
        `unexpected argument '${match ? `--${match[1]}` : arg}' found`,
        match ? argvUsage([...explicit.keys()]) : helpUsage(),
      );
    }
    if (explicit.has(spec.id)) {
      return usageError(`the argument '${display(spec)}' cannot be used multiple times`, helpUsage());
    }
    let raw: string;
    if (spec.flag) {
      if (match[2] !== undefined) {
        // The flag was already started: it counts as used in the usage line.
        return usageError(
          `unexpected value '${match[2]}' for '${display(spec)}' found; no more were expected`,
          smartUsage([...explicit.keys(), spec.id]),
        );
      }
      raw = "true";
    } else if (match[2] !== undefined) {
      raw = match[2];
    } else if (i + 1 < argv.length && !looksLikeAnArgument(argv[i + 1])) {
      raw = argv[++i];
    } else if (
      i + 1 < argv.length &&
      argv[i + 1] !== "--" &&
      !(argv[i + 1].startsWith("--") && byLong.has(/^--([^=]+)/.exec(argv[i + 1])?.[1] ?? ""))
    ) {
      // clap parses the next token as an argument of its own (an unknown one, or -V/-h): that
      // fails or exits first, and this option never gets a value.
      continue;
    } else {
      return usageError(`a value is required for '${display(spec)}' but none was supplied`);
    }
    const failed = accept(spec, raw);
    if (failed) return failed;
  }
  for (const spec of specs) {
    if (spec.env && !explicit.has(spec.id) && env[spec.env] !== undefined) {
      const failed = accept(spec, env[spec.env] as string);
      if (failed) return failed;
    }
  }

  const used = [...explicit.keys()];
  const groupPresent = (group: string) => specs.some((a) => a.group === group && explicit.has(a.id));
  // Conflicts come first: the parquet argument against every member of the clickhouse group.
  const parquet = specs.find((a) => a.group === "parquet") as ArgSpec;
  if (explicit.has(parquet.id) && groupPresent("clickhouse")) {
    const members = specs
      .filter((a) => a.group === "clickhouse")
      .map((a) => `\n  ${display(a)}`)
      .join("");
    return usageError(`the argument '${display(parquet)}' cannot be used with:${members}`, smartUsage(used));
  }
  const groupRequires = groupPresent("clickhouse") ? CLICKHOUSE_REQUIRES : [];
  const needed = [...required(), ...groupRequires];
  const missing = needed.filter((id) => !explicit.has(id));
  if (missing.length > 0) {
    const lines = missing.map((id) => `\n  ${display(specs.find((a) => a.id === id) as ArgSpec)}`).join("");
    // Validator::missing_required_error: the usage lists what is required, the group's
    // requirements included, before what was used (clap_builder validator.rs, usage.rs write_args).
    return usageError(
      `the following required arguments were not provided:${lines}`,
      smartUsage([...groupRequires, ...used, ...missing]),
    );
  }

  const settings: Settings = {};
  for (const spec of specs) {
    settings[spec.id] = explicit.get(spec.id) ?? spec.default ?? (spec.flag ? "false" : undefined);
  }
  return { kind: "run", settings };
}
