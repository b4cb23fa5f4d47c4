// Stand-in for the FlowProxy binary (BuilderNet/FlowProxy, Rust), shipped to the sandbox VMs inside
// the GitHub artifact double's zip. Test code: it never ships to Azure. It does what the real
// binary does at two upstream revisions, picked by the build's version (major 1 or 2):
//
// - Generation 1, HTTP system API: v1.1.2 as the spec ran it, commit 258bbd6 (branch
//   jonas/feat/azure-staging). User and system servers are HTTP; peers are reached over
//   http(s)://<dns_name>:5544; the peer list is read every 30 s.
// - Generation 2, TCP system API: v2.1.0, commit 029b7c4 (main; its Cargo.toml says 2.0.2). The
//   system API is a msg-rs request/reply socket with bitcode payloads; peers are reached over TCP
//   or TCP+TLS at <dns_name>:5544; PEER_UPDATE_INTERVAL_S sets the interval.
//
// v1.3.x (both SYSTEM_LISTEN_ADDR and SYSTEM_LISTEN_ADDR_TCP) and 3.x are not modelled. Every
// behaviour names the upstream file and commit it follows; flowproxy/*.ts holds the parts.
// Not upstream: a build with `crashLoop` set panics at start every time, standing for a broken
// release in the sandbox's reliability tests.
//
// It runs under `node --jitless --no-expose-wasm` (the unit sets MemoryDenyWriteExecute=yes), so it
// speaks HTTP and TCP through node:http, node:https, node:net and node:tls only; secp256k1 and
// keccak come from @noble/curves and @noble/hashes, which sandbox/internet/bundle.ts inlines.
import * as fs from "node:fs";
import * as path from "node:path";
import { Generation, parseCli } from "./flowproxy/cli";
import { Logger } from "./flowproxy/log";
import { Panic, RunError } from "./flowproxy/errors";
import { FlowProxy } from "./flowproxy/proxy";

export { RunError } from "./flowproxy/errors";
export { FlowProxy } from "./flowproxy/proxy";
export { parseCli } from "./flowproxy/cli";

/** What the artifact builder (sandbox/internet/doubles.ts, FlowProxyBuild) stamps into the bundle. */
interface BuildStamp {
  version: string;
  gitHash: string;
  crashLoop?: boolean;
}

function generationOf(version: string): Generation | undefined {
  const major = /^(\d+)\./.exec(version)?.[1];
  return major === "1" ? 1 : major === "2" ? 2 : undefined;
}

/** A Rust panic as the default hook prints it; the process exits with 101. */
function panic(thread: string, location: string, message: string): string {
  return `thread '${thread}' panicked at ${location}:\n${message}\nnote: run with \`RUST_BACKTRACE=1\` environment variable to display a backtrace\n`;
}

/**
 * dotenvy::dotenv() (src/main.rs, both revisions): the first `.env` in the working directory or
 * above; its variables fill in what the environment lacks. A malformed file is ignored.
 */
function loadDotenv(env: NodeJS.ProcessEnv): void {
  for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
    const file = path.join(dir, ".env");
    if (fs.existsSync(file)) {
      let text: string;
      try {
        text = fs.readFileSync(file, "utf8");
      } catch {
        return;
      }
      const parsed: [string, string][] = [];
      for (const line of text.split(/\r?\n/)) {
        const trimmed = line.trim();
        if (trimmed === "" || trimmed.startsWith("#")) continue;
        const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(trimmed);
        if (!match) return;
        const raw = match[2];
        const value = /^'.*'$/.test(raw)
          ? raw.slice(1, -1)
          : /^".*"$/.test(raw)
            ? raw
                .slice(1, -1)
                .replace(/\\n/g, "\n")
                .replace(/\\(["\\])/g, "$1")
            : raw.replace(/\s+#.*$/, "");
        parsed.push([match[1], value]);
      }
      for (const [key, value] of parsed) {
        env[key] ??= value;
      }
      return;
    }
    if (path.dirname(dir) === dir) return;
  }
}

async function main(build: BuildStamp): Promise<void> {
  const generation = generationOf(build.version);
  if (generation === undefined) {
    process.stderr.write(`the sandbox's FlowProxy double models versions 1.x and 2.x, not ${build.version}\n`);
    process.exit(2);
  }
  loadDotenv(process.env);
  const cli = parseCli(
    generation,
    process.argv.slice(2),
    process.env,
    path.basename(process.argv[1]),
    `${build.version}-${build.gitHash}`,
  );
  if (cli.kind === "exit") {
    process.stdout.write(cli.stdout);
    process.stderr.write(cli.stderr);
    process.exit(cli.status);
  }
  // A broken release still answers --version (clap handles it before main runs) and crashes after.
  if (build.crashLoop) {
    process.stderr.write(panic("main", "src/main.rs:1:1", "this build of the sandbox double always crashes"));
    process.exit(101);
  }
  const logger = new Logger(cli.settings.LOG_JSON === "true", process.env);
  const target = generation === 1 ? "flowproxy::runner" : "flowproxy";
  if (generation === 2) {
    logger.event("INFO", "flowproxy", "Main task started");
  }
  // Both revisions end main() normally after an error: the exit status is 0, not 1.
  const shutDown = (error: RunError | Panic) => {
    if (error instanceof Panic) {
      process.stderr.write(panic(generation === 1 ? "tokio-runtime-worker" : "main", error.location, error.message));
      if (generation === 2) process.exit(101);
    }
    const message =
      error instanceof Panic ? `Critical task \`run_update_peers\` panicked: \`${error.message}\`` : error.message;
    if (generation === 1) {
      logger.event("ERROR", "cli", "shutting down due to error");
      process.stderr.write(`Orderflow proxy terminated with error: ${message}\n`);
    } else {
      logger.event("ERROR", "flowproxy", "shutting down due to error", [
        ["err", { debug: message }],
        ["target", "cli"],
      ]);
      logger.event("INFO", "flowproxy", "Main task finished. Shutting down tokio runtime");
    }
    process.exit(0);
  };
  const proxy = new FlowProxy({
    generation,
    settings: cli.settings,
    gitHash: build.gitHash,
    version: build.version,
    logger,
    onFatal: shutDown,
  });
  for (const [signal, message] of [
    ["SIGTERM", "Received SIGTERM"],
    ["SIGINT", "Received ctrl-c"],
  ] as const) {
    process.once(signal, () => {
      logger.event("INFO", target, message);
      if (generation === 1) {
        logger.event("DEBUG", "cli", "shutting down gracefully");
      } else {
        logger.event("WARN", "flowproxy", "shutting down gracefully", [["target", "cli"]]);
        logger.event("INFO", "flowproxy", "Main task finished. Shutting down tokio runtime");
      }
      void proxy.stop().then(() => process.exit(0));
    });
  }
  try {
    await proxy.start();
  } catch (err) {
    if (err instanceof RunError || err instanceof Panic) {
      shutDown(err);
    }
    throw err;
  }
}

if (require.main === module) {
  const build = (globalThis as { FLOWPROXY_BUILD?: BuildStamp }).FLOWPROXY_BUILD;
  if (build === undefined) {
    process.stderr.write("this double runs as built by sandbox/internet/doubles.ts, which stamps FLOWPROXY_BUILD\n");
    process.exit(2);
  }
  void main(build);
}
