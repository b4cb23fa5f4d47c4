// The FlowProxy double (test/doubles/flowproxy.ts) against the upstream behaviour it follows:
// BuilderNet/FlowProxy at 258bbd6 (generation 1, HTTP system API) and 029b7c4 (generation 2, msg-rs
// TCP system API). Each test names the upstream file whose behaviour it checks.
//
// FLOWPROXY_BINARY=/path/to/flowproxy runs the contract tests (command line, registration, peer
// polling, user and system flow) against that executable for its generation, read from its
// `--version`, as a process of its own; the other generation, and what looks inside the double,
// stay on the double. Without it every test runs the double.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { after, test } from "node:test";
import { secp256k1 } from "@noble/curves/secp256k1";
import { hashMessage, keccak256 } from "viem";
import { privateKeyToAddress } from "viem/accounts";
import {
  flowproxyExecutable,
  FlowProxyBuild,
  GENERATION_1_BUILD,
  GENERATION_2_BUILD,
} from "../../../sandbox/internet/doubles";
import { FlowProxy, parseCli, RunError } from "../../doubles/flowproxy";
import {
  BitcodeError,
  decodeRawBundle,
  decodeTcpResponse,
  decodeWithHeaders,
  encodeRawBundle,
  encodeTcpResponse,
  encodeWithHeaders,
  TcpData,
  TcpStatus,
} from "../../doubles/flowproxy/bitcode";
import { Generation } from "../../doubles/flowproxy/cli";
import { Logger } from "../../doubles/flowproxy/log";
import { Clock, encodeFrame, FrameReader, RepServer, ReqSocket, WIRE_DECOMPRESSION } from "../../doubles/flowproxy/msg";
import { RawBundle, rawBundleHash, RawShareBundle, rawShareBundleHash } from "../../doubles/flowproxy/orders";
import { systemHostPort } from "../../doubles/flowproxy/builderhub";
import { checkPeerHost } from "../../doubles/flowproxy/forward-tcp";
import { signatureHeader, verifySignature } from "../../doubles/flowproxy/signature";
import { Signer } from "../../doubles/flowproxy/crypto";
import { RustHasher } from "../../doubles/flowproxy/rusthash";
import { selfSignedCertificate } from "../../support/certificates";
import { scratchDir } from "../../support/scratch";

// --- helpers ----------------------------------------------------------------------------------

const KEY_A = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY_B = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const SEARCHER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
// Hashes, addresses and the EIP-191 digest come from viem, a second implementation beside the
// double's own (test/doubles/flowproxy/crypto.ts), so a slip in the double's cannot cancel out here.
const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString("hex")}`;
const keccak = (b: Uint8Array) => Buffer.from(keccak256(b, "bytes"));
const addressOf = (key: string) => privateKeyToAddress(key as `0x${string}`).toLowerCase();

/** EIP-191 personal_sign of the text "0x" + hex(keccak256(body)): the X-Flashbots-Signature scheme. */
function personalSign(key: string, body: string | Buffer): string {
  const digest = Buffer.from(hashMessage(keccak256(Buffer.from(body))).slice(2), "hex");
  const sig = secp256k1.sign(digest, Buffer.from(key.slice(2), "hex"));
  const bytes = Buffer.concat([Buffer.from(sig.toCompactRawBytes()), Buffer.from([27 + sig.recovery])]);
  return `${addressOf(key)}:${hex(bytes)}`;
}

function rlp(item: Buffer | Buffer[]): Buffer {
  const length = (n: number, offset: number) => {
    if (n < 56) return Buffer.from([offset + n]);
    const b = Buffer.from(n.toString(16).padStart(n.toString(16).length + (n.toString(16).length % 2), "0"), "hex");
    return Buffer.concat([Buffer.from([offset + 55 + b.length]), b]);
  };
  if (Array.isArray(item)) {
    const payload = Buffer.concat(item.map(rlp));
    return Buffer.concat([length(payload.length, 0xc0), payload]);
  }
  return item.length === 1 && item[0] < 0x80 ? item : Buffer.concat([length(item.length, 0x80), item]);
}
const uint = (n: bigint) =>
  n === 0n
    ? Buffer.alloc(0)
    : Buffer.from(n.toString(16).padStart(n.toString(16).length + (n.toString(16).length % 2), "0"), "hex");

/** A signed EIP-1559 transfer (type 2), the kind of transaction a searcher's bundle carries. */
function signedTx(key: string, nonce: bigint, options: { chainId?: bigint; gas?: bigint } = {}): string {
  const fields = [
    uint(options.chainId ?? 1n),
    uint(nonce),
    uint(1n),
    uint(100n),
    uint(options.gas ?? 21000n),
    Buffer.alloc(20, 0x11),
    uint(1n),
    Buffer.alloc(0),
    [],
  ] as (Buffer | Buffer[])[];
  const digest = keccak(Buffer.concat([Buffer.from([2]), rlp(fields as Buffer[])]));
  const sig = secp256k1.sign(digest, Buffer.from(key.slice(2), "hex"));
  return hex(
    Buffer.concat([
      Buffer.from([2]),
      rlp([...(fields as Buffer[]), uint(BigInt(sig.recovery)), uint(sig.r), uint(sig.s)]),
    ]),
  );
}

const tempDir = () => scratchDir("flowproxy-double-");

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(
  port: number,
  method: string,
  urlPath: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: urlPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

const rpc = (method: string, params: unknown[], id: unknown = 1) =>
  JSON.stringify({ jsonrpc: "2.0", id, method, params });
const signedPost = (port: number, body: string, key = SEARCHER_KEY, header = "x-flashbots-signature") =>
  request(port, "POST", "/", body, { "content-type": "application/json", [header]: personalSign(key, body) });

async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface ListedBuilder {
  name: string;
  ip: string;
  dns_name: string;
  orderflow_proxy: { tls_cert: string | null; ecdsa_pubkey_address: string };
  instance: { tls_cert: string };
}

/** A BuilderHub as small as the test needs: records registrations, serves a list the test sets. */
async function startBuilderhub(registerStatus = 200, registerBody = "") {
  const state = {
    registrations: [] as { body: string; contentType?: string; path?: string }[],
    builders: [] as ListedBuilder[],
    gets: 0,
    getTimes: [] as number[],
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST") {
        state.registrations.push({
          body: Buffer.concat(chunks).toString(),
          contentType: req.headers["content-type"],
          path: req.url,
        });
        res.writeHead(registerStatus).end(registerBody);
      } else {
        state.gets++;
        state.getTimes.push(Date.now());
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(state.builders));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  // A test whose FlowProxy fails to start leaves it open: that must not keep the process alive.
  server.unref();
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return { state, url, close: () => new Promise((r) => server.close(r)) };
}

const peerEntry = (name: string, key: string, ip: string, instanceCert = ""): ListedBuilder => ({
  name,
  ip,
  dns_name: "",
  orderflow_proxy: { tls_cert: null, ecdsa_pubkey_address: addressOf(key) },
  instance: { tls_cert: instanceCert },
});

/** The executable under test and its generation, or undefined: the double. */
const BINARY = process.env.FLOWPROXY_BINARY ? binaryUnderTest(process.env.FLOWPROXY_BINARY) : undefined;

function binaryUnderTest(given: string): { file: string; generation: Generation; version: string; gitHash: string } {
  // Run through a link named flowproxy: clap names the program in its usage line after argv[0].
  const file = path.join(tempDir(), "flowproxy");
  fs.symlinkSync(path.resolve(given), file);
  const line = execFileSync(file, ["--version"], { encoding: "utf8", timeout: 10_000 }).trim();
  const match = /^flowproxy ((\d+)\.\d+\.\d+\S*?)-(\S+)$/.exec(line);
  if (!match || (match[2] !== "1" && match[2] !== "2"))
    throw new Error(`FLOWPROXY_BINARY: no generation 1 or 2 in its --version: ${line}`);
  return { file, generation: Number(match[2]) as Generation, version: match[1], gitHash: match[3] };
}

/** The binary under test when it is of this generation. */
const binaryFor = (generation: Generation) => (BINARY?.generation === generation ? BINARY : undefined);

/** version and commit of what startProxy runs for a generation. */
const versionUnderTest = (generation: Generation) =>
  binaryFor(generation) ?? { version: generation === 1 ? "1.1.2" : "2.0.2", gitHash: "test" };

interface LogLine {
  level: string;
  target: string;
  fields: Record<string, unknown>;
}

/** A started FlowProxy, whichever it is: its ports, its log, its metrics. */
interface Started {
  proxy: { ports: { user: number; system: number; metrics: number } };
  logs: () => LogLine[];
  metrics: () => Promise<string>;
  peers: (count: number) => Promise<void>;
  fatal: Error[];
  stop: () => Promise<void>;
}

const PROXY_ENV = { BUILDERNET_NODE_NAME: "vm-test", LOG_JSON: "true" };

/** The FlowProxy under test for this generation: the binary (FLOWPROXY_BINARY) or the double. */
function startProxy(generation: Generation, env: Record<string, string>): Promise<Started> {
  const binary = binaryFor(generation);
  return binary ? startBinary(binary.file, env) : startDouble(generation, env);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** What is still running: a test that fails before its `finally` leaves it to the end of the file. */
const running = new Set<Started>();
after(async () => {
  await Promise.all([...running].map((p) => p.stop()));
});

function withMetrics(started: Omit<Started, "metrics" | "peers">): Started {
  const metrics = async () => (await request(started.proxy.ports.metrics, "GET", "/metrics")).body;
  // The peer updater runs beside the servers, as upstream's spawned task does: wait for its first round.
  const peers = (count: number) =>
    until(`${count} peer(s)`, async () => (await metrics()).includes(`flowproxy_builderhub_peer_count ${count}\n`));
  const result: Started = {
    ...started,
    metrics,
    peers,
    stop: async () => {
      running.delete(result);
      await started.stop();
    },
  };
  running.add(result);
  return result;
}

/** An executable run as a process of its own, on ports picked for it; ready once its user server answers. */
async function startBinary(file: string, env: Record<string, string>): Promise<Started> {
  const dir = tempDir();
  const ports = { user: await freePort(), system: await freePort(), metrics: await freePort() };
  const fullEnv = {
    PATH: process.env.PATH ?? "",
    HOME: dir,
    USER_LISTEN_ADDR: `127.0.0.1:${ports.user}`,
    SYSTEM_LISTEN_ADDR: `127.0.0.1:${ports.system}`,
    METRICS_ADDR: `127.0.0.1:${ports.metrics}`,
    RUST_LOG: "info",
    ...PROXY_ENV,
    ...env,
  };
  const child = spawn(file, [], { env: fullEnv, cwd: dir });
  let stdout = "";
  let stderr = "";
  const fatal: Error[] = [];
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) =>
    child.on("close", (status, signal) => {
      fatal.push(new Error(`exited with ${status ?? signal}: ${stderr}`));
      resolve();
    }),
  );
  const logs = () =>
    stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LogLine);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
    }
  };
  try {
    await until(
      `${file} to serve users`,
      async () => {
        if (fatal.length > 0) throw fatal[0];
        return request(ports.user, "GET", "/livez").then(
          () => true,
          () => false,
        );
      },
      15_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return withMetrics({ proxy: { ports }, logs, fatal, stop });
}

/** Runs the double in this process, its settings parsed from `env` as the binary would. */
async function startDouble(generation: Generation, env: Record<string, string>): Promise<Started> {
  const lines: string[] = [];
  const fullEnv = {
    USER_LISTEN_ADDR: "127.0.0.1:0",
    SYSTEM_LISTEN_ADDR: "127.0.0.1:0",
    METRICS_ADDR: "127.0.0.1:0",
    ...PROXY_ENV,
    ...env,
  };
  const cli = parseCli(generation, [], fullEnv, "flowproxy", "test");
  assert.equal(cli.kind, "run", cli.kind === "exit" ? cli.stderr : "");
  if (cli.kind !== "run") throw new Error("unreachable");
  const fatal: Error[] = [];
  const proxy = new FlowProxy({
    generation,
    settings: cli.settings,
    gitHash: "test",
    version: generation === 1 ? "1.1.2" : "2.0.2",
    logger: new Logger(true, { RUST_LOG: env.RUST_LOG ?? "info" }, (line) => lines.push(line)),
    onFatal: (e) => fatal.push(e),
  });
  await proxy.start();
  const logs = () => lines.map((l) => JSON.parse(l) as LogLine);
  const ports = { user: proxy.ports.user, system: proxy.ports.system, metrics: proxy.ports.metrics as number };
  return withMetrics({ proxy: { ports }, logs, fatal, stop: () => proxy.stop() });
}

function cli(generation: Generation, env: Record<string, string>, argv: string[] = []) {
  return parseCli(generation, argv, env, "flowproxy", generation === 1 ? "1.1.2-258bbd6" : "2.0.2-029b7c4");
}

/**
 * The command line of what runs for this generation: the double's parse, or the binary run for at
 * most 1.5 s (clap's errors end it at once; still running, it took the command line).
 */
function commandLine(
  generation: Generation,
  env: Record<string, string>,
  argv: string[] = [],
): { kind: "run" } | { kind: "exit"; status: number; stdout: string; stderr: string } {
  const binary = binaryFor(generation);
  if (!binary) return cli(generation, env, argv);
  const dir = tempDir();
  const result = spawnSync(binary.file, argv, {
    env: { PATH: process.env.PATH ?? "", HOME: dir, ...env },
    cwd: dir,
    encoding: "utf8",
    timeout: 1500,
  });
  // Ended by the timeout (it may well exit 0 on that SIGTERM, as FlowProxy's runner does).
  const error: NodeJS.ErrnoException | undefined = result.error;
  if (error?.code === "ETIMEDOUT") return { kind: "run" };
  return { kind: "exit", status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The binary under test for this generation, else the double's bundled build of it. */
function runUnderTest(build: FlowProxyBuild, args: string[], env: Record<string, string>): ReturnType<typeof runBuilt> {
  const binary = binaryFor(Number(build.version.split(".")[0]) as Generation);
  if (!binary) return runBuilt(build, args, env);
  const dir = tempDir();
  return new Promise((resolve) => {
    const child = spawn(binary.file, args, { env: { PATH: process.env.PATH ?? "", HOME: dir, ...env }, cwd: dir });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 8000);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function runBuilt(
  build: FlowProxyBuild,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 8000,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const dir = tempDir();
  const file = path.join(dir, "flowproxy");
  fs.writeFileSync(file, flowproxyExecutable(build), { mode: 0o755 });
  return new Promise((resolve) => {
    // The unit's way to run it: its shebang asks for node --jitless --no-expose-wasm.
    const child = spawn(process.execPath, ["--jitless", "--no-expose-wasm", file, ...args], {
      env: { PATH: process.env.PATH, ...env },
      cwd: dir,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    // "close", not "exit": output may still be on its way when the process has exited.
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

// Port 0: a binary under test that takes the command line goes on to bind them.
const REQUIRED = {
  USER_LISTEN_ADDR: "127.0.0.1:0",
  SYSTEM_LISTEN_ADDR: "127.0.0.1:0",
  BUILDERNET_NODE_NAME: "vm-eastus",
};

/** Signed EIP-1559 transfers as `signedTx(SEARCHER_KEY, n)` writes them (RFC 6979 signatures are deterministic). */
const TX_0 = Buffer.from(
  "02f862018001648252089411111111111111111111111111111111111111110180c080a04dca5f5ea791cf064624279e55ee5323e0cc5a4a4ae8b084840937948ca86630a0691217fabc22e1345ef41695fb1719c8abfad4de7f6379e282b216294f8131fc",
  "hex",
);
const TX_7 = Buffer.from(
  "02f862010701648252089411111111111111111111111111111111111111110180c001a08dfcf8898e5de7deeedbde07a137bfe45cad9aca4bd15dbe5111bc24355edbeba066bb1e910b3602e678b24b1b873fc711a5a5bab11a00e9d76b2f396e7f78898b",
  "hex",
);
/**
 * What FlowProxy 258bbd6's BundleHash (src/primitives/mod.rs; on_bundle adds version "v2" first)
 * gives for `{txs: [TX_0], blockNumber: "0x10"}`, computed with the crates 258bbd6 locks: wyhash
 * 0.6.0, alloy-primitives 1.4.0, ruint 1.17.0, bytes 1.10.1 (uuid 1.18.1).
 */
const GENERATION_1_FORWARDED_BUNDLE_HASH = "0x82c34e52ff8a14854299044e8bfeaa71101c16ead85dc66260821224ab96bdfa";

// Bundled while the tests load, before any of them runs: bundling holds the event loop, which the
// timers of tests running beside these need.
for (const build of [GENERATION_1_BUILD, GENERATION_2_BUILD, { ...GENERATION_1_BUILD, crashLoop: true }])
  flowproxyExecutable(build);

// --- command line and environment (src/cli.rs) ------------------------------------------------

test("without the three required settings it prints clap's usage error (src/cli.rs at both revisions) and exits 2", () => {
  const g1 = commandLine(1, { USER_LISTEN_ADDR: "127.0.0.1:5543" });
  assert.deepEqual(g1, {
    kind: "exit",
    status: 2,
    stdout: "",
    stderr:
      "error: the following required arguments were not provided:\n  --system-listen-url <SYSTEM_LISTEN_ADDR>\n  --builder-name <BUILDERNET_NODE_NAME>\n\n" +
      "Usage: flowproxy --user-listen-url <USER_LISTEN_ADDR> --system-listen-url <SYSTEM_LISTEN_ADDR> --builder-name <BUILDERNET_NODE_NAME>\n\n" +
      "For more information, try '--help'.\n",
  });
  const g2 = commandLine(2, {});
  assert.match(
    g2.kind === "exit" ? g2.stderr : "",
    /^error: the following required arguments were not provided:\n {2}--user-listen-addr <USER_LISTEN_ADDR>\n {2}--system-listen-addr <SYSTEM_LISTEN_ADDR>\n {2}--builder-name <BUILDERNET_NODE_NAME>\n/,
  );
});

test("any ClickHouse argument, the backup path included, requires host, username, password and database (src/cli.rs clickhouse group)", () => {
  for (const generation of [1, 2] as const) {
    const outcome = commandLine(generation, {
      ...REQUIRED,
      CLICKHOUSE_BACKUP_DISK_DATABASE_PATH: "/var/lib/flowproxy/backup.db",
      CLICKHOUSE_HOST: "http://ch:8123",
    });
    assert.equal(outcome.kind === "exit" && outcome.status, 2);
    assert.match(
      outcome.kind === "exit" ? outcome.stderr : "",
      /not provided:\n {2}--indexer\.clickhouse\.username <CLICKHOUSE_USERNAME>\n {2}--indexer\.clickhouse\.password <CLICKHOUSE_PASSWORD>\n {2}--indexer\.clickhouse\.database <CLICKHOUSE_DATABASE>\n\nUsage: flowproxy .*--indexer\.clickhouse\.host <CLICKHOUSE_HOST> --indexer\.clickhouse\.username <CLICKHOUSE_USERNAME> --indexer\.clickhouse\.password <CLICKHOUSE_PASSWORD> --indexer\.clickhouse\.database <CLICKHOUSE_DATABASE> --indexer\.clickhouse\.backup\.disk-database-path <CLICKHOUSE_BACKUP_DISK_DATABASE_PATH>\n/,
    );
  }
  // Generation 2 added the timeouts to the group.
  assert.equal(commandLine(1, { ...REQUIRED, CLICKHOUSE_SEND_TIMEOUT_MS: "5" }).kind, "run");
  assert.equal(commandLine(2, { ...REQUIRED, CLICKHOUSE_SEND_TIMEOUT_MS: "5" }).kind, "exit");
  const complete = {
    CLICKHOUSE_HOST: "h",
    CLICKHOUSE_USERNAME: "u",
    CLICKHOUSE_PASSWORD: "p",
    CLICKHOUSE_DATABASE: "d",
  };
  assert.equal(commandLine(1, { ...REQUIRED, ...complete, CLICKHOUSE_BACKUP_DISK_DATABASE_PATH: "/x" }).kind, "run");
});

test("parquet indexing conflicts with the whole ClickHouse group (src/cli.rs parquet group)", () => {
  const outcome = commandLine(1, { ...REQUIRED, PARQUET_BUNDLE_RECEIPTS_FILE_PATH: "r.parquet", CLICKHOUSE_HOST: "h" });
  assert.match(
    outcome.kind === "exit" ? outcome.stderr : "",
    /^error: the argument '--indexer\.parquet\.bundle-receipts-file-path <PARQUET_BUNDLE_RECEIPTS_FILE_PATH>' cannot be used with:\n {2}--indexer\.clickhouse\.host <CLICKHOUSE_HOST>\n {2}--indexer\.clickhouse\.username/,
  );
});

test("generation 2 parses listen addresses as SocketAddr; generation 1 takes any string (src/cli.rs@029b7c4 vs @258bbd6)", () => {
  const bad = commandLine(2, { ...REQUIRED, USER_LISTEN_ADDR: "localhost:5543" });
  assert.deepEqual(bad.kind === "exit" && [bad.status, bad.stderr], [
    2,
    "error: invalid value 'localhost:5543' for '--user-listen-addr <USER_LISTEN_ADDR>': invalid socket address syntax\n\nFor more information, try '--help'.\n",
  ]);
  assert.equal(commandLine(1, { ...REQUIRED, USER_LISTEN_ADDR: "localhost:5543" }).kind, "run");
});

test("node name dashes become underscores at generation 2 only (src/cli.rs@029b7c4 replace_dashes_with_underscores)", () => {
  const name = (g: Generation) => {
    const outcome = cli(g, REQUIRED);
    return outcome.kind === "run" ? outcome.settings.BUILDERNET_NODE_NAME : undefined;
  };
  assert.deepEqual([name(1), name(2)], ["vm-eastus", "vm_eastus"]);
});

test("the signer key and flashbots address are parsed as alloy parses them (src/cli.rs PrivateKeySigner, Address)", () => {
  const key = commandLine(1, { ...REQUIRED, FLASHBOTS_ORDERFLOW_SIGNER: "0x12" });
  assert.match(
    key.kind === "exit" ? key.stderr : "",
    /^error: invalid value '0x12' for '--orderflow-signer <FLASHBOTS_ORDERFLOW_SIGNER>': invalid string length\n/,
  );
  const address = commandLine(1, { ...REQUIRED, FLASHBOTS_ORDERFLOW_SIGNER_ADDRESS: "0xzz" });
  assert.match(address.kind === "exit" ? address.stderr : "", /invalid character 'z' at position 0/);
  const ok = cli(2, { ...REQUIRED, FLASHBOTS_ORDERFLOW_SIGNER: KEY_A.slice(2), PEER_UPDATE_INTERVAL_S: "1" });
  assert.equal(ok.kind === "run" && ok.settings.PEER_UPDATE_INTERVAL_S, "1");
});

// Written by FlowProxy's own src/cli.rs at each revision, built from source with the clap and alloy
// it locks (clap_builder 4.5.48 at 258bbd6, 4.5.53 at 029b7c4): [generation, argv, environment, stderr].
// Each exits with status 2.
const CLAP_ERRORS: [Generation, string[], Record<string, string>, string][] = [
  [
    1,
    ["--user-listen-addr"],
    {},
    "error: unexpected argument '--user-listen-addr' found\n\n  tip: a similar argument exists: '--user-listen-url'\n\nUsage: flowproxy --user-listen-url <USER_LISTEN_ADDR> --system-listen-url <SYSTEM_LISTEN_ADDR> --builder-name <BUILDERNET_NODE_NAME>\n\nFor more information, try '--help'.\n",
  ],
  [
    2,
    ["--builder-name", "x", "--log.jsn"],
    {},
    "error: unexpected argument '--log.jsn' found\n\n  tip: a similar argument exists: '--log.json'\n\nUsage: flowproxy --user-listen-addr <USER_LISTEN_ADDR> --system-listen-addr <SYSTEM_LISTEN_ADDR> --builder-name <BUILDERNET_NODE_NAME> --log.json\n\nFor more information, try '--help'.\n",
  ],
  [
    2,
    ["--log.json=x"],
    {},
    "error: unexpected value 'x' for '--log.json' found; no more were expected\n\nUsage: flowproxy --user-listen-addr <USER_LISTEN_ADDR> --system-listen-addr <SYSTEM_LISTEN_ADDR> --builder-name <BUILDERNET_NODE_NAME> --log.json\n\nFor more information, try '--help'.\n",
  ],
  [
    2,
    ["--builder-name", "x", "--nope=3"],
    {},
    "error: unexpected argument '--nope' found\n\nUsage: flowproxy --user-listen-addr <USER_LISTEN_ADDR> --system-listen-addr <SYSTEM_LISTEN_ADDR> --builder-name <BUILDERNET_NODE_NAME>\n\nFor more information, try '--help'.\n",
  ],
  [
    2,
    ["--builder-name", "x", "foo"],
    {},
    "error: unexpected argument 'foo' found\n\nUsage: flowproxy [OPTIONS] --user-listen-addr <USER_LISTEN_ADDR> --system-listen-addr <SYSTEM_LISTEN_ADDR> --builder-name <BUILDERNET_NODE_NAME>\n\nFor more information, try '--help'.\n",
  ],
  [
    2,
    ["--system-listen-addr", "--log.json"],
    {},
    "error: a value is required for '--system-listen-addr <SYSTEM_LISTEN_ADDR>' but none was supplied\n\nFor more information, try '--help'.\n",
  ],
  [
    2,
    ["--", "--nope"],
    {},
    "error: unexpected argument '--nope' found\n\nUsage: flowproxy [OPTIONS] --user-listen-addr <USER_LISTEN_ADDR> --system-listen-addr <SYSTEM_LISTEN_ADDR> --builder-name <BUILDERNET_NODE_NAME>\n\nFor more information, try '--help'.\n",
  ],
  [
    1,
    [],
    {
      USER_LISTEN_ADDR: "127.0.0.1:1",
      SYSTEM_LISTEN_ADDR: "127.0.0.1:2",
      BUILDERNET_NODE_NAME: "x",
      CLICKHOUSE_BACKUP_DISK_DATABASE_PATH: "/b.db",
      FLASHBOTS_ORDERFLOW_SIGNER_ADDRESS: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
    },
    "error: the following required arguments were not provided:\n  --indexer.clickhouse.host <CLICKHOUSE_HOST>\n  --indexer.clickhouse.username <CLICKHOUSE_USERNAME>\n  --indexer.clickhouse.password <CLICKHOUSE_PASSWORD>\n  --indexer.clickhouse.database <CLICKHOUSE_DATABASE>\n\nUsage: flowproxy --user-listen-url <USER_LISTEN_ADDR> --system-listen-url <SYSTEM_LISTEN_ADDR> --builder-name <BUILDERNET_NODE_NAME> --indexer.clickhouse.host <CLICKHOUSE_HOST> --indexer.clickhouse.username <CLICKHOUSE_USERNAME> --indexer.clickhouse.password <CLICKHOUSE_PASSWORD> --indexer.clickhouse.database <CLICKHOUSE_DATABASE> --flashbots-signer <FLASHBOTS_ORDERFLOW_SIGNER_ADDRESS> --indexer.clickhouse.backup.disk-database-path <CLICKHOUSE_BACKUP_DISK_DATABASE_PATH>\n\nFor more information, try '--help'.\n",
  ],
  [
    2,
    [],
    { BUILDERNET_NODE_NAME: "x", CLICKHOUSE_HOST: "h", BUILDERHUB_ENDPOINT: "http://x", LOG_JSON: "true" },
    "error: the following required arguments were not provided:\n  --user-listen-addr <USER_LISTEN_ADDR>\n  --system-listen-addr <SYSTEM_LISTEN_ADDR>\n  --indexer.clickhouse.username <CLICKHOUSE_USERNAME>\n  --indexer.clickhouse.password <CLICKHOUSE_PASSWORD>\n  --indexer.clickhouse.database <CLICKHOUSE_DATABASE>\n\nUsage: flowproxy --user-listen-addr <USER_LISTEN_ADDR> --system-listen-addr <SYSTEM_LISTEN_ADDR> --builder-name <BUILDERNET_NODE_NAME> --indexer.clickhouse.host <CLICKHOUSE_HOST> --indexer.clickhouse.username <CLICKHOUSE_USERNAME> --indexer.clickhouse.password <CLICKHOUSE_PASSWORD> --indexer.clickhouse.database <CLICKHOUSE_DATABASE> --builder-hub-url <BUILDERHUB_ENDPOINT> --log.json\n\nFor more information, try '--help'.\n",
  ],
  [
    1,
    [],
    { LOG_JSON: "" },
    "error: a value is required for '--log.json' but none was supplied\n  [possible values: true, false]\n\nFor more information, try '--help'.\n",
  ],
];

test("clap's errors read as FlowProxy's cli.rs writes them: suggestions for a mistyped long argument, usage lines, the ClickHouse group's requirements first, an empty flag value (src/cli.rs, clap_builder parser.rs, validator.rs, usage.rs)", () => {
  for (const [generation, argv, env, stderr] of CLAP_ERRORS) {
    assert.deepEqual(
      commandLine(generation, env, argv),
      { kind: "exit", status: 2, stdout: "", stderr },
      `${generation} ${JSON.stringify(argv)} ${JSON.stringify(env)}`,
    );
  }
});

test("the bundled builds print clap's version line and usage errors under node --jitless (src/cli.rs #[command(version)], build.rs)", async () => {
  const v1 = await runBuilt(GENERATION_1_BUILD, ["--version"], {});
  const v2 = await runBuilt(GENERATION_2_BUILD, ["-V"], {});
  assert.deepEqual(
    [v1.status, v1.stdout, v2.status, v2.stdout],
    [0, "flowproxy 1.1.2-258bbd6\n", 0, "flowproxy 2.0.2-029b7c4\n"],
  );
  const usage = await runBuilt(GENERATION_1_BUILD, [], { USER_LISTEN_ADDR: "127.0.0.1:1" });
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /^error: the following required arguments were not provided:/);
});

test("the crash-loop test build panics at start, every time, yet answers --version (a sandbox build, not upstream behaviour)", async () => {
  const result = await runBuilt({ ...GENERATION_1_BUILD, crashLoop: true }, [], REQUIRED);
  assert.equal(result.status, 101);
  assert.match(result.stderr, /^thread 'main' panicked at/);
  const version = await runBuilt({ ...GENERATION_1_BUILD, crashLoop: true }, ["--version"], {});
  assert.deepEqual([version.status, version.stdout], [0, "flowproxy 1.1.2-258bbd6\n"]);
});

// --- registration (src/builderhub/client.rs) --------------------------------------------------

test("it registers at start with only its signer address, no certificate (src/builderhub/client.rs register)", async () => {
  const builderhub = await startBuilderhub();
  const a = await startProxy(1, { BUILDERHUB_ENDPOINT: builderhub.url, FLASHBOTS_ORDERFLOW_SIGNER: KEY_A });
  try {
    assert.deepEqual(builderhub.state.registrations, [
      {
        body: JSON.stringify({ ecdsa_pubkey_address: addressOf(KEY_A) }),
        contentType: "application/json",
        path: "/api/l1-builder/v1/register_credentials/orderflow_proxy",
      },
    ]);
  } finally {
    await a.stop();
    await builderhub.close();
  }
});

test("a refused registration ends the process after one try, status 0, the hub's answer on stderr (src/main.rs, src/lib.rs@258bbd6)", async () => {
  const builderhub = await startBuilderhub(500, "not today");
  const result = await runUnderTest(GENERATION_1_BUILD, [], {
    ...REQUIRED,
    BUILDERHUB_ENDPOINT: builderhub.url,
    NO_COLOR: "1",
  });
  await builderhub.close();
  assert.equal(result.status, 0);
  assert.equal(builderhub.state.registrations.length, 1);
  assert.match(result.stderr, /^Orderflow proxy terminated with error: registration unsuccessful: not today\n$/);
  assert.match(result.stdout, /ERROR cli: shutting down due to error\n$/);
});

test("an unreachable BuilderHub ends generation 2 the same way, status 0, logged (src/main.rs@029b7c4)", async () => {
  const result = await runUnderTest(GENERATION_2_BUILD, [], {
    ...REQUIRED,
    BUILDERHUB_ENDPOINT: "http://127.0.0.1:1",
    LOG_JSON: "true",
  });
  assert.equal(result.status, 0);
  const lines = result.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { level: string; fields: Record<string, string> });
  const failure = lines.find((l) => l.fields.message === "shutting down due to error");
  assert.equal(
    failure?.fields.err,
    "reqwest error: error sending request for url (http://127.0.0.1:1/api/l1-builder/v1/register_credentials/orderflow_proxy)",
  );
});

// --- peers (src/builderhub/mod.rs) ------------------------------------------------------------

test("a peer is dns_name:5544, else its ip, with 5544 when the ip has no port (Peer::system_api, both revisions)", () => {
  const peer = (ip: string, dns: string) => systemHostPort({ ...peerEntry("p", KEY_B, ip), dns_name: dns });
  assert.deepEqual(peer("10.0.0.1", "vm-b.flowproxy.internal"), { host: "vm-b.flowproxy.internal", port: 5544 });
  assert.deepEqual(peer("10.0.0.1", ""), { host: "10.0.0.1", port: 5544 });
  assert.deepEqual(peer("10.0.0.1:7000", ""), { host: "10.0.0.1", port: 7000 });
});

test("generation 1 reads the peer list once per 30 s; generation 2 every PEER_UPDATE_INTERVAL_S (builderhub/mod.rs run)", async () => {
  // One hub each, so every read is attributed; the wait is for reads, not a fixed time, so a loaded
  // machine cannot make the count miss.
  const hub1 = await startBuilderhub();
  const hub2 = await startBuilderhub();
  const g1 = await startProxy(1, { BUILDERHUB_ENDPOINT: hub1.url });
  const started = Date.now();
  const g2 = await startProxy(2, { BUILDERHUB_ENDPOINT: hub2.url, PEER_UPDATE_INTERVAL_S: "1" });
  try {
    await until("generation 2 to read the peer list three times", () => hub2.state.gets >= 3, 10_000);
    // Timed where the reads arrive, not where this test notices them.
    const reads = hub2.state.getTimes;
    const gaps = reads.slice(1).map((at, i) => at - reads[i]);
    assert.ok(
      gaps.every((gap) => gap >= 900),
      `generation 2 read again within less than its 1 s interval: ${gaps.join(", ")} ms apart`,
    );
    assert.ok(Date.now() - started < 30_000, "the three reads took 30 s, generation 1's interval");
    assert.equal(hub1.state.gets, 1, "generation 1 read the peer list once at start and not again within 30 s");
  } finally {
    await g1.stop();
    await g2.stop();
    await hub1.close();
    await hub2.close();
  }
});

test("generation 1 answers a bundle with FlowProxy's bundle hash, forwards it to peers over HTTP, signed, and a listed peer's system endpoint accepts it (ingress/forwarder.rs, ingress/mod.rs@258bbd6)", async () => {
  const builderhub = await startBuilderhub();
  // B knows A by its signer; A's own address in the list is never dialled by B in this test.
  builderhub.state.builders = [peerEntry("a", KEY_A, "127.0.0.1:1"), peerEntry("b", KEY_B, "127.0.0.1:1")];
  const b = await startProxy(1, { BUILDERHUB_ENDPOINT: builderhub.url, FLASHBOTS_ORDERFLOW_SIGNER: KEY_B });
  builderhub.state.builders = [
    peerEntry("a", KEY_A, "127.0.0.1:1"),
    peerEntry("b", KEY_B, `127.0.0.1:${b.proxy.ports.system}`),
  ];
  const a = await startProxy(1, { BUILDERHUB_ENDPOINT: builderhub.url, FLASHBOTS_ORDERFLOW_SIGNER: KEY_A });
  try {
    await a.peers(1);
    await b.peers(1);
    const tx = signedTx(SEARCHER_KEY, 0n);
    assert.equal(tx, hex(TX_0), "the transaction the reference hash was made from");
    const body = rpc("eth_sendBundle", [{ txs: [tx], blockNumber: "0x10" }], 7);
    const reply = await signedPost(a.proxy.ports.user, body);
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.body), {
      id: 7,
      jsonrpc: "2.0",
      result: { bundleHash: GENERATION_1_FORWARDED_BUNDLE_HASH },
    });
    await until("B to accept the forwarded bundle", async () =>
      (await b.metrics()).includes(
        'flowproxy_ingress_rpc_request_duration_count{handler="system",method="eth_sendBundle",priority="medium"} 1',
      ),
    );
    const metricsA = await a.metrics();
    assert.match(metricsA, /^flowproxy_builderhub_peer_count 1$/m);
    assert.match(
      metricsA,
      /^flowproxy_ingress_rpc_request_duration_count\{handler="user",method="eth_sendBundle",priority="medium"\} 1$/m,
    );
    assert.match(
      metricsA,
      /^flowproxy_forwarder_rpc_call_duration_count\{big_request="false",order_type="bundle",peer_name="b"\} 1$/m,
    );
  } finally {
    await a.stop();
    await b.stop();
    await builderhub.close();
  }
});

test("the system endpoint refuses a signer BuilderHub does not list with -32603 Internal error, HTTP 500, and logs it (ingress/mod.rs@258bbd6 system_handler)", async () => {
  const builderhub = await startBuilderhub();
  builderhub.state.builders = [peerEntry("a", KEY_A, "127.0.0.1:1")];
  const b = await startProxy(1, {
    BUILDERHUB_ENDPOINT: builderhub.url,
    FLASHBOTS_ORDERFLOW_SIGNER: KEY_B,
    FLASHBOTS_ORDERFLOW_SIGNER_ADDRESS: addressOf(SEARCHER_KEY),
  });
  try {
    await b.peers(1);
    const body = rpc("eth_sendBundle", [
      { txs: [], replacementUuid: "a8b2c1d0-0000-4000-8000-000000000001", replacementNonce: 1 },
    ]);
    const stranger = await signedPost(b.proxy.ports.system, body, KEY_B);
    assert.deepEqual(
      [stranger.status, JSON.parse(stranger.body)],
      [500, { id: null, jsonrpc: "2.0", error: { code: -32603, message: "Internal error" } }],
    );
    assert.ok(b.logs().some((l) => l.level === "ERROR" && l.fields.message === "error verifying peer signature"));
    // FLASHBOTS_ORDERFLOW_SIGNER_ADDRESS is accepted like a listed peer.
    assert.equal((await signedPost(b.proxy.ports.system, body, SEARCHER_KEY)).status, 200);
    assert.equal((await signedPost(b.proxy.ports.system, body, KEY_A)).status, 200);
  } finally {
    await b.stop();
    await builderhub.close();
  }
});

test("generation 1 ignores orderflow_proxy.tls_cert: without instance.tls_cert the peer gets plain HTTP (builderhub/mod.rs@258bbd6 tls_certificate)", async () => {
  const received: http.IncomingHttpHeaders[] = [];
  const peer = http.createServer((req, res) => {
    received.push(req.headers);
    req.resume();
    res.end('{"id":1,"jsonrpc":"2.0","result":null}');
  });
  await new Promise<void>((r) => peer.listen(0, "127.0.0.1", r));
  const builderhub = await startBuilderhub();
  const dir = tempDir();
  builderhub.state.builders = [
    {
      ...peerEntry("p", KEY_B, `127.0.0.1:${(peer.address() as net.AddressInfo).port}`),
      orderflow_proxy: {
        tls_cert: selfSignedCertificate(dir, "p", "DNS:localhost").cert,
        ecdsa_pubkey_address: addressOf(KEY_B),
      },
    },
  ];
  const a = await startProxy(1, { BUILDERHUB_ENDPOINT: builderhub.url, FLASHBOTS_ORDERFLOW_SIGNER: KEY_A });
  try {
    await a.peers(1);
    const body = rpc("eth_sendBundle", [{ txs: [signedTx(SEARCHER_KEY, 1n)] }]);
    assert.equal((await signedPost(a.proxy.ports.user, body)).status, 200);
    await until("the peer to receive the bundle", () => received.length === 1);
    assert.equal(received[0]["x-buildernet-priority"], "medium");
    assert.match(received[0]["x-flashbots-signature"] as string, new RegExp(`^${addressOf(KEY_A)}:0x[0-9a-f]{130}$`));
  } finally {
    await a.stop();
    await builderhub.close();
    peer.close();
  }
});

test("with instance.tls_cert generation 1 uses HTTPS and trusts that certificate for the peer's host name only (builderhub/mod.rs@258bbd6)", async () => {
  const dir = tempDir();
  const good = selfSignedCertificate(dir, "good", "DNS:localhost");
  const wrongName = selfSignedCertificate(dir, "wrong", "DNS:elsewhere.example");
  const hits: string[] = [];
  const serve = (c: { cert: string; key: string }, name: string) =>
    new Promise<https.Server>((resolve) => {
      const s = https.createServer(c, (req, res) => {
        hits.push(name);
        req.resume();
        res.end('{"id":1,"jsonrpc":"2.0","result":null}');
      });
      s.listen(0, "127.0.0.1", () => resolve(s));
    });
  const goodServer = await serve(good, "good");
  const wrongServer = await serve(wrongName, "wrong");
  const port = (s: https.Server) => (s.address() as net.AddressInfo).port;
  const builderhub = await startBuilderhub();
  builderhub.state.builders = [
    peerEntry("good", KEY_B, `localhost:${port(goodServer)}`, good.cert),
    peerEntry("wrong", SEARCHER_KEY, `localhost:${port(wrongServer)}`, wrongName.cert),
  ];
  const a = await startProxy(1, { BUILDERHUB_ENDPOINT: builderhub.url, FLASHBOTS_ORDERFLOW_SIGNER: KEY_A });
  try {
    await a.peers(2);
    assert.equal(
      (await signedPost(a.proxy.ports.user, rpc("eth_sendBundle", [{ txs: [signedTx(SEARCHER_KEY, 2n)] }]))).status,
      200,
    );
    await until("the forward to the misnamed peer to fail", async () =>
      /flowproxy_forwarder_http_connect_failures\{peer_name="wrong"/.test(await a.metrics()),
    );
    await until("the good peer to receive it", () => hits.includes("good"));
    assert.deepEqual(hits, ["good"]);
  } finally {
    await a.stop();
    await builderhub.close();
    goodServer.close();
    wrongServer.close();
  }
});

test("a failed forward counts as forwarder_http_call_failures with the status reason and the peer's JSON-RPC code (ingress/forwarder.rs@258bbd6)", async () => {
  const peer = http.createServer((req, res) => {
    req.resume();
    res
      .writeHead(500, { "content-type": "application/json" })
      .end('{"id":null,"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"}}');
  });
  await new Promise<void>((r) => peer.listen(0, "127.0.0.1", r));
  const builderhub = await startBuilderhub();
  builderhub.state.builders = [peerEntry("p", KEY_B, `127.0.0.1:${(peer.address() as net.AddressInfo).port}`)];
  const a = await startProxy(1, { BUILDERHUB_ENDPOINT: builderhub.url, FLASHBOTS_ORDERFLOW_SIGNER: KEY_A });
  try {
    await a.peers(1);
    await signedPost(a.proxy.ports.user, rpc("eth_sendBundle", [{ txs: [signedTx(SEARCHER_KEY, 3n)] }]));
    await until("the failure to be counted", async () =>
      (await a.metrics()).includes('flowproxy_forwarder_rpc_call_failures{peer_name="p",rpc_code="-32603"} 1'),
    );
    assert.match(
      await a.metrics(),
      /^flowproxy_forwarder_http_call_failures\{peer_name="p",reason="Internal Server Error"\} 1$/m,
    );
  } finally {
    await a.stop();
    await builderhub.close();
    peer.close();
  }
});

test("it skips itself in the peer list by signer address (builderhub/mod.rs process_peer)", async () => {
  const builderhub = await startBuilderhub();
  builderhub.state.builders = [peerEntry("me", KEY_A, "127.0.0.1:1")];
  const a = await startProxy(2, { BUILDERHUB_ENDPOINT: builderhub.url, FLASHBOTS_ORDERFLOW_SIGNER: KEY_A });
  try {
    await a.peers(0);
    assert.ok(
      a
        .logs()
        .some(
          (l) => l.fields.message === "Running with BuilderHub" || l.fields.message === "running with orderflow signer",
        ),
    );
  } finally {
    await a.stop();
    await builderhub.close();
  }
});

// --- generation 2: msg-rs over TCP (forwarder/tcp.rs, ingress/mod.rs@029b7c4) -----------------

// Written out by hand from msg-wire/src/reqrep.rs at tag v0.1.5 (97ae1f0, the msg-rs FlowProxy
// 029b7c4's Cargo.lock locks): Codec::encode puts WIRE_ID 0x02, the compression type (u8), then
// put_u32 of the id and of the payload size (bytes' put_u32 is big-endian), then the payload.
const MSG_FRAME_ID_7_HI = "02" + "00" + "00000007" + "00000002" + Buffer.from("hi").toString("hex");

test("a msg-rs frame is wire id 2, compression, id and size big-endian, then the payload (msg-wire reqrep.rs@v0.1.5)", () => {
  assert.equal(encodeFrame(7, Buffer.from("hi")).toString("hex"), MSG_FRAME_ID_7_HI);
  assert.deepEqual(new FrameReader().push(Buffer.from(MSG_FRAME_ID_7_HI, "hex")), [
    { id: 7, compression: 0, payload: Buffer.from("hi") },
  ]);
  assert.throws(() => new FrameReader().push(Buffer.from([1])), /Invalid wire ID: 1/);
});

// Written by msg-rs 97ae1f0's sockets built from source, set up as FlowProxy 029b7c4 sets them up
// (ReqSocket::new(Tcp::default()) then connect_sync; RepSocket::new(Tcp::default()) answering each
// request with its own payload): the requests "0102", "PING" and "" sent 20 ms apart, and what
// went each way. The PONG takes id 0, so it reaches whichever request has id 0, if still waiting.
const MSGRS_REQUESTS = ["0102", "PING", ""];
const MSGRS_REQ_WROTE = "0200000000000000000201020200000000010000000450494e4702000000000200000000";
const MSGRS_REP_WROTE = "02000000000000000002010202000000000000000004504f4e4702000000000200000000";
// Frames written to msg-rs 97ae1f0's echoing RepSocket, what it wrote back and whether it closed.
const MSGRS_REP_ANSWERS: [string, string, string, boolean][] = [
  ["PING, any id, is answered with id 0", "0200000000090000000450494e47", "02000000000000000004504f4e47", false],
  [
    "PING is matched before decompression, whatever the compression byte",
    "0205000000090000000450494e47",
    "02000000000000000004504f4e47",
    false,
  ],
  [
    "a gzip-compressed PING is a request, decompressed",
    "020100000001000000181f8b08000000000000030bf0f473070049d0401304000000",
    "0200000000010000000450494e47",
    false,
  ],
  [
    "an unknown compression drops that request, the connection stays",
    "02050000000100000001780200000000020000000179",
    "0200000000020000000179",
    false,
  ],
  [
    "a payload that does not gunzip drops that request, the connection stays",
    "020100000001000000086e6f7420677a69700200000000020000000179",
    "0200000000020000000179",
    false,
  ],
  [
    "a bad wire id ends the connection, after what came before it",
    "0200000000060000000450494e4709000000000000000000",
    "02000000000000000004504f4e47",
    true,
  ],
];

/** A socket's own record of a connection: the bytes it got, and whether the peer closed it. */
function recorder(socket: net.Socket) {
  const state = { got: Buffer.alloc(0), closed: false };
  socket.on("data", (c: Buffer) => (state.got = Buffer.concat([state.got, c])));
  socket.on("close", () => (state.closed = true));
  socket.on("error", () => undefined);
  return state;
}

/** The promise's outcome, or a failure after `ms`: a request the socket under test drops must fail the test, not hang it. */
const within = <T>(promise: Promise<T>, ms = 6000) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no outcome")), ms).unref()),
  ]);

const NO_LOG = {
  connected: () => undefined,
  connectFailed: () => undefined,
  connectionClosed: () => undefined,
  gaveUp: () => undefined,
};

test(
  "the double's ReqSocket writes msg-rs's request frames, ids from 0, and reads its RepSocket's replies as msg-rs does (req/driver.rs@97ae1f0)",
  { timeout: 10_000 },
  async () => {
    const server = net.createServer();
    const connection = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const socket = new ReqSocket({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port }, NO_LOG);
    try {
      const replies = MSGRS_REQUESTS.map((r) =>
        socket.request(r === "PING" ? Buffer.from("PING") : Buffer.from(r, "hex")).then(
          (b) => b.toString("hex"),
          (e: Error) => e.message,
        ),
      );
      const peer = recorder(await connection);
      await until("the three frames", () => peer.got.length === MSGRS_REQ_WROTE.length / 2);
      assert.equal(peer.got.toString("hex"), MSGRS_REQ_WROTE);
      (await connection).write(Buffer.from(MSGRS_REP_WROTE, "hex"));
      // msg-rs: "0102" gets its echo first; the PONG (id 0) then finds no request waiting; "" gets its echo.
      assert.equal(await within(replies[0]), "0102");
      assert.equal(await within(replies[2]), "");
    } finally {
      socket.close();
      server.close();
    }
  },
);

test("the double's RepServer answers raw frames as msg-rs's RepSocket does: PING before decompression, undecompressible requests dropped, a bad wire id closing (rep/driver.rs@97ae1f0)", async () => {
  const rep = new RepServer(
    async (payload) => payload,
    () => undefined,
  );
  await rep.listen("127.0.0.1", 0);
  try {
    for (const [name, input, output, closes] of MSGRS_REP_ANSWERS) {
      const client = net.connect(rep.address().port, "127.0.0.1");
      const state = recorder(client);
      client.write(Buffer.from(input, "hex"));
      await until(name, () => state.got.length >= output.length / 2 && (!closes || state.closed));
      // Nothing more comes: a later reply would follow within the same turn of the event loop.
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual([state.got.toString("hex"), state.closed], [output, closes], name);
      client.destroy();
    }
  } finally {
    await rep.close();
  }
});

/** A clock the test steps: timers fire in order as `advance` passes their time. */
function steppedClock() {
  let now = 0;
  let nextHandle = 0;
  const timers = new Map<number, { at: number; every?: number; callback: () => void }>();
  const clock: Clock = {
    now: () => now,
    setTimeout: (callback, ms) => (timers.set(++nextHandle, { at: now + ms, callback }), nextHandle),
    clearTimeout: (handle) => timers.delete(handle as number),
    setInterval: (callback, ms) => (timers.set(++nextHandle, { at: now + ms, every: ms, callback }), nextHandle),
    clearInterval: (handle) => timers.delete(handle as number),
  };
  /** Moves time on by `ms`, firing what falls due; between timers, I/O already under way gets its turn. */
  const advance = async (ms: number) => {
    const end = now + ms;
    for (;;) {
      const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) break;
      const [handle, timer] = due;
      now = timer.at;
      if (timer.every) timer.at += timer.every;
      else timers.delete(handle);
      timer.callback();
      await new Promise((r) => setImmediate(r));
    }
    now = end;
  };
  return { clock, advance };
}

/** Waits for an event without a timer of its own (the clock under test may be a stepped one). */
const settle = async (condition: () => boolean) => {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((r) => setImmediate(r));
  return condition();
};

test(
  "the double's ReqSocket connects on msg-rs's schedule: first from 20 ms, again 200 ms after a lost connection, requests timing out past 5 s at a 500 ms check (req/socket.rs, req/driver.rs@97ae1f0)",
  { timeout: 10_000 },
  async () => {
    // Seen with msg-rs 97ae1f0 built from source: a listener opened at 500 ms was reached at 620 ms
    // (tries at 20, 60, 140, 300, 620 ms), one opened at 3 s at 5.1 s; a dropped connection was
    // tried again 200 ms later; an unanswered request failed "Request timed out" at 5.5 s.
    const server = net.createServer();
    const connections: net.Socket[] = [];
    server.on("connection", (c) => connections.push(c));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { clock, advance } = steppedClock();
    const events: string[] = [];
    const log = { ...NO_LOG, connected: () => events.push("connected"), connectionClosed: () => events.push("closed") };
    const socket = new ReqSocket({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port }, log, clock);
    try {
      await advance(19);
      assert.equal(await settle(() => events.length > 0), false, "no try before 20 ms");
      await advance(1);
      assert.ok(await settle(() => events.includes("connected")), "a try at 20 ms");
      let outcome = "";
      void socket.request(Buffer.from("a")).then(
        () => (outcome = "reply"),
        (e: Error) => (outcome = e.message),
      );
      // Sent at 20 ms; the checks run at every 500 ms since the socket was made: 5000 is not past 5 s for it, 5500 is.
      await advance(5479);
      assert.equal(await settle(() => outcome !== ""), false, "still waiting at 5.499 s");
      await advance(1);
      assert.ok(await settle(() => outcome === "Request timed out"), outcome);
      connections[0].destroy();
      assert.ok(await settle(() => events.includes("closed")));
      await advance(199);
      assert.equal(await settle(() => connections.length > 1), false, "no new try within 200 ms");
      await advance(1);
      assert.ok(await settle(() => connections.length === 2), "a new try at 200 ms");
    } finally {
      socket.close();
      server.close();
    }
  },
);

test(
  "a request made while msg-rs's ReqSocket is not connected waits, unsent and without a clock; closing fails it with Socket closed (req/driver.rs@97ae1f0)",
  { timeout: 10_000 },
  async () => {
    const { clock, advance } = steppedClock();
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const socket = new ReqSocket({ host: "127.0.0.1", port }, NO_LOG, clock);
    let outcome = "";
    void socket.request(Buffer.from("a")).then(
      () => (outcome = "reply"),
      (e: Error) => (outcome = e.message),
    );
    await advance(20_000);
    assert.equal(await settle(() => outcome !== ""), false, "no timeout while it never connected");
    socket.close();
    assert.ok(await settle(() => outcome === "Socket closed"), outcome);
  },
);

test(
  "a reply that does not decompress fails its request with msg-rs's Wire protocol error: Decompression; the connection stays (req/driver.rs on_message@97ae1f0)",
  { timeout: 10_000 },
  async () => {
    const server = net.createServer((c) => {
      const reader = new FrameReader();
      c.on("data", (chunk: Buffer) => {
        for (const frame of reader.push(chunk))
          c.write(encodeFrame(frame.id, Buffer.from("zz"), frame.id === 0 ? 1 : 0));
      });
    });
    let connections = 0;
    server.on("connection", () => connections++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const socket = new ReqSocket({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port }, NO_LOG);
    try {
      await assert.rejects(within(socket.request(Buffer.from("a"))), { message: WIRE_DECOMPRESSION });
      assert.equal((await within(socket.request(Buffer.from("b")))).toString(), "zz");
      assert.equal(connections, 1);
    } finally {
      socket.close();
      server.close();
    }
  },
);

// Reference bytes for the generation 2 system payloads, written by the `bitcode` crate 0.6.8 (the
// version FlowProxy 029b7c4's Cargo.lock pins) from WithHeaders, RawBundleBitcode,
// RawBundleMetadataBitcode, TcpResponse, TcpResponseStatus and TcpReponseType as defined in
// src/primitives/mod.rs@029b7c4. None of these bytes come from the double's own encoder.
const CRATE_TCP_RESPONSES: [string, TcpStatus, TcpData][] = [
  ["0000", "Success", { kind: "NoData" }],
  ["0400", "ErrorInvalidSignature", { kind: "NoData" }],
  ["02010e696e76616c69642062756e646c65", "ErrorDecoding", { kind: "String", value: "invalid bundle" }],
  [
    "000200000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "Success",
    { kind: "Hash", value: Buffer.from([...Array(32).keys()]) },
  ],
  ["000209ab00000000", "Success", { kind: "Hash", value: Buffer.alloc(32, 0xab) }],
  ["0100", "ErrorInternal", { kind: "NoData" }],
  ["0500", "ErrorUnknownArgument", { kind: "NoData" }],
  // What system_handler answers in a release build, where bitcode's errors all read "bitcode error".
  ["02010d626974636f6465206572726f72", "ErrorDecoding", { kind: "String", value: "bitcode error" }],
  [
    "0201256661696c656420746f2070617273652062756e646c653a20626974636f6465206572726f72",
    "ErrorDecoding",
    { kind: "String", value: "failed to parse bundle: bitcode error" },
  ],
  [
    "0301296d6574686f64206e6f742070726f766964656420696e20746370207061796c6f616420686561646572",
    "ErrorMissingArguments",
    { kind: "String", value: "method not provided in tcp payload header" },
  ],
  // 300 bytes of text: the length goes to the large-length column.
  [`0001ff042c01${"c3a9".repeat(150)}`, "Success", { kind: "String", value: "é".repeat(150) }],
];

/** Hardhat's third account, the address of SEARCHER_KEY. */
const SEARCHER_ADDRESS = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc";
const countingBytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i % 256));

// HashMap order is random in Rust, so the reference maps hold one entry or none.
const CRATE_WITH_HEADERS: [string, [string, string][], Buffer][] = [
  // bitcode's pack.rs tests pack 1..=7 in 5 bytes and 201..=207, offset by their minimum, in 6.
  ["00070221436507", [], Buffer.from([1, 2, 3, 4, 5, 6, 7])],
  ["000701c910325406", [], Buffer.from([201, 202, 203, 204, 205, 206, 207])],
  [
    `01066d6574686f64166574685f73656e645261775472616e73616374696f6e6500${TX_7.toString("hex")}`,
    [["method", "eth_sendRawTransaction"]],
    TX_7,
  ],
  // 300 bytes: the length goes to the large-length column (255 in the byte column, then a u16).
  [
    `0115582d4275696c6465724e65742d5072696f72697479036c6f77ff042c0100${countingBytes(300).toString("hex")}`,
    [["X-BuilderNet-Priority", "low"]],
    countingBytes(300),
  ],
];

// The headers FlowProxy 029b7c4 puts on a forwarded bundle (forwarder/mod.rs create_headers, then
// "method"), in the order the crate's HashMap wrote them that time; decoded, not re-encoded.
const CRATE_ENVELOPE_HEADERS: [string, string][] = [
  ["X-BuilderNet-Priority", "low"],
  ["content-type", "application/json"],
  ["X-BuilderNet-Signature", `${SEARCHER_ADDRESS}:0x${"11".repeat(65)}`],
  ["X-BuilderNet-SentAtUs", "1765500000123456"],
  ["method", "eth_sendBundle"],
];
const CRATE_ENVELOPE =
  "05000c06151615636f6e74656e742d747970656d6574686f64582d4275696c6465724e65742d53656e7441745573582d4275696c6465724e65742d5369676e6174757265582d4275696c6465724e65742d5072696f7269747900100e10af036170706c69636174696f6e2f6a736f6e6574685f73656e6442756e646c65313736353530303030303132333435363078336334346364646462366139303066613262353835646432393965303364313266613432393362633a3078" +
  "31".repeat(130) +
  "6c6f7707000102763201062a";

// Bytes the crate refuses (each decoded as the type named): short, long, a packing byte past 11,
// text that is not UTF-8. And two it takes, though they look short: up to two bytes are never packed.
const CRATE_REFUSES: ["headers" | "response" | "bundle", string][] = [
  ["headers", ""],
  ["headers", "00"],
  ["headers", "00010203"],
  ["headers", "01016100"],
  ["headers", "010161016200ff"],
  ["headers", "0101ff01620000"],
  ["headers", "000c0102"],
  ["headers", "00030c"],
  ["response", "06"],
  ["response", "0001"],
  ["response", "0000ff"],
  ["bundle", "00000000000000000000000000000000"],
  ["bundle", "000000000000000000000000000000000000"],
];
const CRATE_TAKES: [string, Buffer][] = [
  ["000102", Buffer.from([2])],
  ["0001ff", Buffer.from([0xff])],
];

/** The decoder names every field; the references leave out the absent ones. */
const definedFields = (bundle: RawBundle) =>
  Object.fromEntries(Object.entries(bundle).filter(([, value]) => value !== undefined));

const EMPTY_BUNDLE: RawBundle = { revertingTxHashes: [], droppingTxHashes: [], txs: [] };
const FULL_BUNDLE: RawBundle = {
  version: "v2",
  blockNumber: 0x123456789abcn,
  revertingTxHashes: [Buffer.alloc(32, 0x11), Buffer.alloc(32, 0x12)],
  droppingTxHashes: [Buffer.alloc(32, 0x21)],
  replacementUuid: Buffer.from("8f0b6d2e7c1a4b8e9f00123456789abc", "hex"),
  uuid: Buffer.from("a8b2c1d0000040008000000000000001", "hex"),
  signingAddress: Buffer.from(SEARCHER_ADDRESS.slice(2), "hex"),
  refundIdentity: Buffer.alloc(20, 0x33),
  minTimestamp: 1_700_000_000n,
  maxTimestamp: 1_700_000_060n,
  replacementNonce: 1_700_000_000_123_456n,
  refundPercent: 90,
  refundRecipient: Buffer.alloc(20, 0x44),
  refundTxHashes: [Buffer.alloc(32, 0x55)],
  delayedRefund: true,
  bundleHash: Buffer.alloc(32, 0x66),
  txs: [Buffer.from([1, 2, 3]), Buffer.alloc(40, 0xff)],
};
/** What FlowProxy 029b7c4 hashes for `{txs: [TX_7], blockNumber: "0x2a"}`: on_bundle adds version "v2" first. */
const FORWARDED_BUNDLE_HASH = "0x1c30d0d8e88a8c1f5940d833f90a8fdda3ce23c6a93317152507b4d0cffa195f";
const FORWARDED_BUNDLE: RawBundle = {
  ...EMPTY_BUNDLE,
  version: "v2",
  blockNumber: 42n,
  signingAddress: Buffer.from(SEARCHER_ADDRESS.slice(2), "hex"),
  bundleHash: Buffer.from(FORWARDED_BUNDLE_HASH.slice(2), "hex"),
  txs: [TX_7],
};
const CRATE_RAW_BUNDLES: [string, string, RawBundle][] = [
  ["no field set", "0000000000000000000000000000000000", EMPTY_BUNDLE],
  [
    "a forwarded bundle",
    `0102763201062a0000000001003c44cdddb6a900fa2b585dd299e03d12fa4293bc00000000000000000100${FORWARDED_BUNDLE_HASH.slice(2)}016500${TX_7.toString("hex")}`,
    FORWARDED_BUNDLE,
  ],
  [
    "every field set",
    "010276320100bc9a78563412000002091100000000ffffffff0109210000000001008f0b6d2e7c1a4b8e9f00123456789abc0100a8b2c1d000004000800000000000000101003c44cdddb6a900fa2b585dd299e03d12fa4293bc010933000000010200f1536501023cf15365010040222018240a0600015a010944000000010109550000000001010109660000000002032800010203" +
      "ff".repeat(40),
    FULL_BUNDLE,
  ],
];

test("TcpResponse is written and read byte for byte as the bitcode crate 0.6.8 writes it (TcpResponse, primitives/mod.rs@029b7c4)", () => {
  for (const [bytes, status, data] of CRATE_TCP_RESPONSES) {
    assert.equal(encodeTcpResponse(status, data).toString("hex"), bytes, `${status} ${data.kind}`);
    assert.deepEqual(decodeTcpResponse(Buffer.from(bytes, "hex")), { status, data });
  }
});

test("WithHeaders is written and read byte for byte as the bitcode crate 0.6.8 writes it (WithHeaders, primitives/mod.rs@029b7c4)", () => {
  for (const [bytes, entries, data] of CRATE_WITH_HEADERS) {
    const headers = new Map(entries);
    assert.equal(encodeWithHeaders(headers, data).toString("hex"), bytes);
    assert.deepEqual(decodeWithHeaders(Buffer.from(bytes, "hex")), { headers, data });
  }
});

test("RawBundleBitcode is written and read byte for byte as the bitcode crate 0.6.8 writes it (RawBundleBitcode, primitives/mod.rs@029b7c4)", () => {
  for (const [name, bytes, bundle] of CRATE_RAW_BUNDLES) {
    assert.equal(encodeRawBundle(bundle).toString("hex"), bytes, name);
    assert.deepEqual(definedFields(decodeRawBundle(Buffer.from(bytes, "hex"))), bundle, name);
  }
});

test("a WithHeaders the crate wrote with FlowProxy's five forwarding headers decodes to those headers (forwarder/mod.rs create_headers@029b7c4)", () => {
  const { headers, data } = decodeWithHeaders(Buffer.from(CRATE_ENVELOPE, "hex"));
  assert.deepEqual([...headers.entries()].sort(), [...CRATE_ENVELOPE_HEADERS].sort());
  assert.equal(data.toString("hex"), "0102763201062a");
});

test("what the crate refuses the double refuses with a release build's bitcode error, and what it takes the double takes (bitcode 0.6.8 src/error.rs)", () => {
  const decoders = { headers: decodeWithHeaders, response: decodeTcpResponse, bundle: decodeRawBundle };
  for (const [type, bytes] of CRATE_REFUSES) {
    assert.throws(
      () => decoders[type](Buffer.from(bytes, "hex")),
      (err: unknown) =>
        err instanceof BitcodeError && err.message === "bitcode error" && err.debug === 'Error("bitcode error")',
      `${type} ${bytes}`,
    );
  }
  for (const [bytes, data] of CRATE_TAKES) {
    assert.deepEqual(decodeWithHeaders(Buffer.from(bytes, "hex")), { headers: new Map(), data });
  }
});

// A system request as msg-rs 97ae1f0's ReqSocket wrote it (id 0), around a WithHeaders the crate
// wrote: "method" eth_sendBundle and KEY_A's X-BuilderNet-Signature over the data, the crate's
// RawBundleBitcode of the forwarded bundle (CRATE_RAW_BUNDLES).
const MSGRS_SYSTEM_REQUEST =
  "02000000000000000193021606582d4275696c6465724e65742d5369676e61747572656d6574686f64af0e3078663339666436653531616164383866366634636536616238383237323739636666666239323236363a3078333162373866633537316233386166356361333366316130326539303835366539373732663534393435353464316131613235343066356234626637623430613063353834363230656531353638346334303664333130306536646234643761653135623831393266323339363435636164636630326636326165666661363231636574685f73656e6442756e646c65b3000102763201062a0000000001003c44cdddb6a900fa2b585dd299e03d12fa4293bc000000000000000001001c30d0d8e88a8c1f5940d833f90a8fdda3ce23c6a93317152507b4d0cffa195f01650002f862010701648252089411111111111111111111111111111111111111110180c001a08dfcf8898e5de7deeedbde07a137bfe45cad9aca4bd15dbe5111bc24355edbeba066bb1e910b3602e678b24b1b873fc711a5a5bab11a00e9d76b2f396e7f78898b";

test("the generation 2 system socket takes a request as msg-rs and the crate write it, and answers undecodable ones with bitcode's release-build error (ingress/mod.rs system_handler@029b7c4)", async () => {
  const builderhub = await startBuilderhub();
  builderhub.state.builders = [peerEntry("a", KEY_A, "127.0.0.1:1"), peerEntry("b", KEY_B, "127.0.0.1:1")];
  const b = await startProxy(2, { BUILDERHUB_ENDPOINT: builderhub.url, FLASHBOTS_ORDERFLOW_SIGNER: KEY_B });
  const socket = net.connect(b.proxy.ports.system, "127.0.0.1");
  const reader = new FrameReader();
  const frames: { id: number; payload: Buffer }[] = [];
  socket.on("data", (c: Buffer) => frames.push(...reader.push(c)));
  try {
    await b.peers(1);
    const [, forwardedBytes] = CRATE_RAW_BUNDLES.find(([name]) => name === "a forwarded bundle")!;
    assert.equal(
      decodeWithHeaders(Buffer.from(MSGRS_SYSTEM_REQUEST, "hex").subarray(10)).data.toString("hex"),
      forwardedBytes,
    );
    socket.write(Buffer.from(MSGRS_SYSTEM_REQUEST, "hex"));
    await until("the answer", () => frames.length === 1);
    assert.equal(frames[0].id, 0);
    assert.deepEqual(decodeTcpResponse(frames[0].payload), {
      status: "Success",
      data: { kind: "Hash", value: Buffer.from(FORWARDED_BUNDLE_HASH.slice(2), "hex") },
    });
    socket.write(encodeFrame(1, Buffer.from("deadbeef", "hex")));
    const notABundle = Buffer.from([0]);
    socket.write(
      encodeFrame(
        2,
        encodeWithHeaders(
          new Map([
            ["method", "eth_sendBundle"],
            ["X-BuilderNet-Signature", personalSign(KEY_A, notABundle)],
          ]),
          notABundle,
        ),
      ),
    );
    await until("two more answers", () => frames.length === 3);
    assert.deepEqual(decodeTcpResponse(frames[1].payload), {
      status: "ErrorDecoding",
      data: { kind: "String", value: "bitcode error" },
    });
    assert.deepEqual(decodeTcpResponse(frames[2].payload), {
      status: "ErrorDecoding",
      data: { kind: "String", value: "failed to parse bundle: bitcode error" },
    });
    const logged = b
      .logs()
      .filter(
        (l) =>
          l.fields.message === "failed to convert raw bytes to string" ||
          l.fields.message === "failed to parse raw bundle from system request",
      );
    assert.deepEqual(
      logged.map((l) => l.fields.e),
      ['Error("bitcode error")', 'Error("bitcode error")'],
    );
  } finally {
    socket.destroy();
    await b.stop();
    await builderhub.close();
  }
});

test("wyhash is the wyhash crate 0.6's v1 WyHash (its integration-test vector), the bundle hash's hasher (primitives/mod.rs BundleHash)", () => {
  const hasher = new RustHasher();
  hasher.write(Buffer.from([0]));
  assert.equal(hasher.finish(), 0x8c73a8ab46596ae4n);
});

// Bundle hashes computed by FlowProxy 029b7c4's `impl BundleHash for RawBundle`
// (src/primitives/mod.rs, the same at 258bbd6) run over the real crates it locks: wyhash 0.6.0,
// alloy-primitives 1.5.0 (ruint 1.17.0 behind U64), uuid 1.19.0 and bytes 1.11.0, with the field
// types of rbuilder's RawBundleMetadata as FlowProxy converts them. Each case reaches other branches.
// The crates 258bbd6 locks (alloy-primitives 1.4.0, uuid 1.18.1, bytes 1.10.1) give the same values.
const CRATE_BUNDLE_HASHES: [string, string, RawBundle][] = [
  ["nothing to hash: the hasher's initial state, finished", "0".repeat(64), EMPTY_BUNDLE],
  [
    "a block number (U64 limbs) and one transaction",
    "fcd7113ae0774ef420bcc093b39f416d35ca0e39837fbfbe6024c994eb6ab48b",
    { ...EMPTY_BUNDLE, blockNumber: 1n, txs: [Buffer.from([1, 2, 3])] },
  ],
  [
    "a replacement uuid (as its hyphenated string) with its nonce",
    "24959a51157aafe4072c81327b61d5c0af9a6a2c8759d6ca297b74fc749533ea",
    { ...EMPTY_BUNDLE, replacementUuid: Buffer.from("8f0b6d2e7c1a4b8e9f00123456789abc", "hex"), replacementNonce: 7n },
  ],
  [
    "uuid taking the place of replacementUuid, no nonce",
    "2dd7fc76ab2e4c456bf6a53c105f097da568f46b1f6ff4596e1407535b53cb9d",
    {
      ...EMPTY_BUNDLE,
      replacementUuid: Buffer.from("8f0b6d2e7c1a4b8e9f00123456789abc", "hex"),
      uuid: Buffer.from("a8b2c1d0000040008000000000000001", "hex"),
    },
  ],
  [
    "every field, signer and given hash left out of the hash",
    "e6ca6122f7a128e621bb980b4c41d7993b479c8dad1ddbd088dd873aa8e2976f",
    { ...FULL_BUNDLE, uuid: undefined },
  ],
  ["the forwarded bundle", FORWARDED_BUNDLE_HASH.slice(2), FORWARDED_BUNDLE],
];

test("the bundle hash equals what FlowProxy's BundleHash computes with the crates it locks (primitives/mod.rs@029b7c4)", () => {
  for (const [name, expected, bundle] of CRATE_BUNDLE_HASHES) {
    assert.equal(rawBundleHash(bundle).toString("hex"), expected, name);
  }
});

test("generation 2 forwards bundles as bitcode over msg-rs TCP, signed over the bundle bytes, and a listed peer answers Success with the hash (forwarder/mod.rs, ingress/mod.rs@029b7c4)", async () => {
  const builderhub = await startBuilderhub();
  builderhub.state.builders = [peerEntry("a", KEY_A, "127.0.0.1:1"), peerEntry("b", KEY_B, "127.0.0.1:1")];
  const b = await startProxy(2, {
    BUILDERHUB_ENDPOINT: builderhub.url,
    FLASHBOTS_ORDERFLOW_SIGNER: KEY_B,
    PEER_UPDATE_INTERVAL_S: "60",
  });
  builderhub.state.builders = [
    peerEntry("a", KEY_A, "127.0.0.1:1"),
    peerEntry("b", KEY_B, `127.0.0.1:${b.proxy.ports.system}`),
  ];
  const a = await startProxy(2, {
    BUILDERHUB_ENDPOINT: builderhub.url,
    FLASHBOTS_ORDERFLOW_SIGNER: KEY_A,
    PEER_UPDATE_INTERVAL_S: "60",
  });
  try {
    await a.peers(1);
    await b.peers(1);
    const reply = await signedPost(
      a.proxy.ports.user,
      rpc("eth_sendBundle", [{ txs: [signedTx(SEARCHER_KEY, 4n)] }]),
      SEARCHER_KEY,
      "x-buildernet-signature",
    );
    const { bundleHash } = (JSON.parse(reply.body) as { result: { bundleHash: string } }).result;
    // The sender's priority header is written with capitals and looked up in lower case: "low".
    await until("B to accept the bundle", async () =>
      (await b.metrics()).includes(
        'flowproxy_ingress_rpc_request_duration_count{handler="system",method="eth_sendBundle",priority="low"} 1',
      ),
    );
    await until("A to count the answer", async () =>
      (await a.metrics()).includes(
        'flowproxy_forwarder_rpc_call_duration_count{big_request="false",order_type="bundle",peer_name="b",transport="tcp"} 1',
      ),
    );
    assert.doesNotMatch(await a.metrics(), /tcp_response_failures/);
    assert.match(bundleHash, /^0x[0-9a-f]{64}$/);
  } finally {
    await a.stop();
    await b.stop();
    await builderhub.close();
  }
});

/** A TCP relay in front of `port` that keeps what each side wrote. */
async function recordingRelay(port: number) {
  const wrote = { toServer: Buffer.alloc(0), toClient: Buffer.alloc(0) };
  const server = net.createServer((client) => {
    const upstream = net.connect(port, "127.0.0.1");
    client.on("data", (c: Buffer) => ((wrote.toServer = Buffer.concat([wrote.toServer, c])), upstream.write(c)));
    upstream.on("data", (c: Buffer) => ((wrote.toClient = Buffer.concat([wrote.toClient, c])), client.write(c)));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, wrote, close: () => server.close() };
}

test("generation 2 frames, both ways between the FlowProxy under test and the double: the crate's WithHeaders around RawBundleBitcode, answered Success with the bundle hash (forwarder/mod.rs, ingress/mod.rs@029b7c4)", async () => {
  // With FLOWPROXY_BINARY of generation 2, "under test" is that binary; then two of them as well.
  const pairs: [string, (env: Record<string, string>) => Promise<Started>][] = [
    ["the double", (env) => startDouble(2, env)],
  ];
  if (binaryFor(2)) pairs.push(["a second binary under test", (env) => startProxy(2, env)]);
  for (const [name, startOther] of pairs) {
    const builderhub = await startBuilderhub();
    const tested = await startProxy(2, {
      BUILDERHUB_ENDPOINT: builderhub.url,
      FLASHBOTS_ORDERFLOW_SIGNER: KEY_A,
      PEER_UPDATE_INTERVAL_S: "1",
    });
    const other = await startOther({
      BUILDERHUB_ENDPOINT: builderhub.url,
      FLASHBOTS_ORDERFLOW_SIGNER: KEY_B,
      PEER_UPDATE_INTERVAL_S: "1",
    });
    const toTested = await recordingRelay(tested.proxy.ports.system);
    const toOther = await recordingRelay(other.proxy.ports.system);
    builderhub.state.builders = [
      peerEntry("a", KEY_A, `127.0.0.1:${toTested.port}`),
      peerEntry("b", KEY_B, `127.0.0.1:${toOther.port}`),
    ];
    try {
      await tested.peers(1);
      await other.peers(1);
      for (const [from, relay, sender, nonce] of [
        [tested, toOther, KEY_A, 8n],
        [other, toTested, KEY_B, 9n],
      ] as const) {
        const tx = signedTx(SEARCHER_KEY, nonce);
        const reply = await signedPost(
          from.proxy.ports.user,
          rpc("eth_sendBundle", [{ txs: [tx], blockNumber: "0x2a" }]),
        );
        const bundleHash = (JSON.parse(reply.body) as { result: { bundleHash: string } }).result.bundleHash;
        await until(
          `${name}: the answer through the relay`,
          () => new FrameReader().push(relay.wrote.toClient).length === 1,
        );
        const [requestFrame, ...more] = new FrameReader().push(relay.wrote.toServer);
        assert.deepEqual([requestFrame.id, requestFrame.compression, more.length], [0, 0, 0], name);
        const { headers, data } = decodeWithHeaders(requestFrame.payload);
        assert.deepEqual(
          [...headers.keys()].sort(),
          ["X-BuilderNet-Priority", "X-BuilderNet-SentAtUs", "X-BuilderNet-Signature", "content-type", "method"],
          name,
        );
        assert.equal(headers.get("method"), "eth_sendBundle");
        assert.equal(headers.get("X-BuilderNet-Signature")?.split(":")[0].toLowerCase(), addressOf(sender), name);
        const bundle = decodeRawBundle(data);
        assert.deepEqual(
          [
            bundle.version,
            bundle.blockNumber,
            hex(bundle.signingAddress!),
            hex(bundle.bundleHash!),
            bundle.txs.map(hex),
          ],
          ["v2", 42n, SEARCHER_ADDRESS, bundleHash, [tx]],
          name,
        );
        const [replyFrame] = new FrameReader().push(relay.wrote.toClient);
        assert.equal(replyFrame.id, 0);
        assert.deepEqual(
          decodeTcpResponse(replyFrame.payload),
          { status: "Success", data: { kind: "Hash", value: Buffer.from(bundleHash.slice(2), "hex") } },
          name,
        );
      }
    } finally {
      await tested.stop();
      await other.stop();
      toTested.close();
      toOther.close();
      await builderhub.close();
    }
  }
});

test("the generation 2 system socket answers PING with PONG and refuses an unlisted signer with ErrorInvalidSignature (rep/driver.rs@v0.1.5, ingress/mod.rs@029b7c4)", async () => {
  const builderhub = await startBuilderhub();
  const b = await startProxy(2, { BUILDERHUB_ENDPOINT: builderhub.url, FLASHBOTS_ORDERFLOW_SIGNER: KEY_B });
  const socket = net.connect(b.proxy.ports.system, "127.0.0.1");
  const reader = new FrameReader();
  const frames: { id: number; payload: Buffer }[] = [];
  socket.on("data", (c: Buffer) => frames.push(...reader.push(c)));
  try {
    socket.write(encodeFrame(5, Buffer.from("PING")));
    await until("PONG", () => frames.length === 1);
    assert.deepEqual([frames[0].id, frames[0].payload.toString()], [0, "PONG"]);
    const data = Buffer.from(signedTx(SEARCHER_KEY, 5n).slice(2), "hex");
    const headers = new Map([
      ["method", "eth_sendRawTransaction"],
      ["X-BuilderNet-Signature", personalSign(KEY_A, data)],
    ]);
    socket.write(encodeFrame(9, encodeWithHeaders(headers, data)));
    await until("the answer", () => frames.length === 2);
    assert.equal(frames[1].id, 9);
    assert.deepEqual(decodeTcpResponse(frames[1].payload), {
      status: "ErrorInvalidSignature",
      data: { kind: "NoData" },
    });
  } finally {
    socket.destroy();
    await b.stop();
    await builderhub.close();
  }
});

// Peers with a certificate are reached at <dns_name>:5544, so each listens on a loopback address of
// its own. Seen with msg-rs 97ae1f0's TcpTls client set up by 029b7c4's tls_connector, built from
// source: the listed certificate trusted and its IP address checked; a TLS 1.2-only peer reached;
// another certificate refused; an empty dns_name failing every attempt before it connects.
test("generation 2 reaches a peer with instance.tls_cert over TCP+TLS at dns_name:5544, trusting that certificate only, TLS 1.2 too; without a dns_name never (builderhub/mod.rs@029b7c4 tls_connector, tcp_tls connect@97ae1f0)", async () => {
  const dir = tempDir();
  const [good, impostorHost, old, nameless] = ["127.0.0.71", "127.0.0.72", "127.0.0.73", "127.0.0.74"];
  const goodTls = selfSignedCertificate(dir, "good", `IP:${good}`);
  const impostorTls = selfSignedCertificate(dir, "impostor", `IP:${impostorHost}`);
  const listedForImpostor = selfSignedCertificate(dir, "listed", `IP:${impostorHost}`);
  const oldTls = selfSignedCertificate(dir, "old", `IP:${old}`);
  const namelessTls = selfSignedCertificate(dir, "nameless", `IP:${nameless}`);
  const received: Record<string, { payloads: Buffer[]; connections: number; protocol?: string | null }> = {};
  const serve = (host: string, c: { cert: string; key: string }, options: tls.TlsOptions = {}) =>
    new Promise<net.Server>((resolve, reject) => {
      const seen: (typeof received)[string] = (received[host] = { payloads: [], connections: 0 });
      const secure = tls.createServer({ ...c, ...options }, (socket) => {
        seen.protocol = socket.getProtocol();
        const reader = new FrameReader();
        socket.on("data", (chunk: Buffer) => {
          for (const frame of reader.push(chunk)) {
            seen.payloads.push(frame.payload);
            socket.write(encodeFrame(frame.id, encodeTcpResponse("Success", { kind: "NoData" })));
          }
        });
        socket.on("error", () => undefined);
      });
      secure.on("tlsClientError", () => undefined);
      // A plain listener in front counts TCP connections too: the nameless peer must see none.
      const server = net.createServer((socket) => {
        seen.connections++;
        secure.emit("connection", socket);
      });
      server.once("error", reject);
      server.listen(5544, host, () => resolve(server));
    });
  const servers = [
    await serve(good, goodTls),
    await serve(impostorHost, impostorTls),
    await serve(old, oldTls, { maxVersion: "TLSv1.2" }),
    await serve(nameless, namelessTls),
  ];
  const builderhub = await startBuilderhub();
  const withName = (entry: ListedBuilder, dns: string) => ({ ...entry, dns_name: dns });
  builderhub.state.builders = [
    withName(peerEntry("p", KEY_B, good, goodTls.cert), good),
    withName(peerEntry("q", SEARCHER_KEY, impostorHost, listedForImpostor.cert), impostorHost),
    withName(peerEntry("r", "0x" + "33".repeat(32), old, oldTls.cert), old),
    peerEntry("s", "0x" + "22".repeat(32), `${nameless}:5544`, namelessTls.cert),
  ];
  let a: Started | undefined;
  try {
    const proxy = (a = await startProxy(2, { BUILDERHUB_ENDPOINT: builderhub.url, FLASHBOTS_ORDERFLOW_SIGNER: KEY_A }));
    await proxy.peers(4);
    const tx = signedTx(SEARCHER_KEY, 6n);
    assert.equal((await signedPost(proxy.proxy.ports.user, rpc("eth_sendRawTransaction", [tx]))).status, 200);
    for (const peer of ["q", "s"]) {
      await until(`the forward to ${peer} to time out`, async () =>
        (await proxy.metrics()).includes(
          `flowproxy_forwarder_tcp_call_failures{peer_name="${peer}",reason="Request timed out",transport="tcp"} 1`,
        ),
      );
    }
    await until(
      "the TLS peers to get the transaction",
      () => received[good].payloads.length === 1 && received[old].payloads.length === 1,
    );
    assert.equal(received[old].protocol, "TLSv1.2");
    assert.equal(received[good].protocol, "TLSv1.3");
    assert.deepEqual(
      [received[impostorHost].payloads.length, received[nameless].payloads.length, received[nameless].connections],
      [0, 0, 0],
    );
    const { headers, data } = decodeWithHeaders(received[good].payloads[0]);
    assert.deepEqual([headers.get("method"), hex(data)], ["eth_sendRawTransaction", tx]);
    assert.match(headers.get("X-BuilderNet-Signature") as string, new RegExp(`^${addressOf(KEY_A)}:`));
  } finally {
    await a?.stop();
    await builderhub.close();
    servers.forEach((server) => server.close());
  }
});

// Which names a peer's certificate answers for, as msg-rs 97ae1f0's TcpTls client set up by
// 029b7c4's tls_connector decided (built from source): [subjectAltName, CN, dns_name, accepted].
const OPENSSL_HOST_CHECKS: [string, string, string, boolean][] = [
  ["IP Address:127.0.0.1", "peer", "127.0.0.1", true],
  ["DNS:vm-b.flowproxy.internal", "peer", "127.0.0.1", false],
  ["DNS:vm-b.flowproxy.internal", "peer", "vm-b.flowproxy.internal", true],
  ["DNS:vm-b.flowproxy.internal", "peer", "VM-B.flowproxy.internal", true],
  ["DNS:*.flowproxy.internal", "peer", "vm-b.flowproxy.internal", true],
  ["DNS:*.flowproxy.internal", "peer", "a.b.flowproxy.internal", false],
  ["DNS:vm*.flowproxy.internal", "peer", "vm-b.flowproxy.internal", false],
  ["DNS:vm*.flowproxy.internal, DNS:other.example", "peer", "vm-b.flowproxy.internal", false],
  ["", "*.flowproxy.internal", "vm-b.flowproxy.internal", true],
  ["", "127.0.0.1", "127.0.0.1", false],
];

test("a peer's certificate is checked against dns_name as OpenSSL checks it for msg-rs: IP addresses, DNS names, no partial wildcards (rust-openssl 0.10.75 ssl/connector.rs setup_verify_hostname)", () => {
  for (const [san, cn, name, accepted] of OPENSSL_HOST_CHECKS) {
    const cert = { subject: { CN: cn }, subjectaltname: san || undefined } as unknown as tls.PeerCertificate;
    assert.equal(checkPeerHost(name, cert) === undefined, accepted, `${san || `CN=${cn}`} for ${name}`);
  }
});

test("a forwarded generation 2 bundle is the crate's RawBundleBitcode bytes: the user's signer, version v2 and the hash FlowProxy computes (ingress/mod.rs on_bundle, forwarder/mod.rs@029b7c4)", async () => {
  const payloads: Buffer[] = [];
  const rep = new RepServer(
    async (payload) => {
      payloads.push(payload);
      return encodeTcpResponse("Success", { kind: "NoData" });
    },
    () => undefined,
  );
  await rep.listen("127.0.0.1", 0);
  const builderhub = await startBuilderhub();
  builderhub.state.builders = [peerEntry("p", KEY_B, `127.0.0.1:${rep.address().port}`)];
  let a: Started | undefined;
  try {
    a = await startProxy(2, { BUILDERHUB_ENDPOINT: builderhub.url });
    await a.peers(1);
    const tx = signedTx(SEARCHER_KEY, 7n);
    assert.equal(tx, hex(TX_7), "the transaction the reference bytes were made from");
    const reply = await signedPost(a.proxy.ports.user, rpc("eth_sendBundle", [{ txs: [tx], blockNumber: "0x2a" }]));
    assert.equal(
      (JSON.parse(reply.body) as { result: { bundleHash: string } }).result.bundleHash,
      FORWARDED_BUNDLE_HASH,
    );
    await until("the peer to get the bundle", () => payloads.length === 1);
    const [, forwardedBytes] = CRATE_RAW_BUNDLES.find(([name]) => name === "a forwarded bundle")!;
    assert.equal(decodeWithHeaders(payloads[0]).data.toString("hex"), forwardedBytes);
  } finally {
    await a?.stop();
    await builderhub.close();
    await rep.close();
  }
});

// Written and judged by FlowProxy 029b7c4's build_signature_header and maybe_verify_signature
// (src/forwarder/mod.rs, src/ingress/mod.rs), built from source with the alloy crates it locks:
// KEY_A's header over SIGNED_BODY, and [variant, header, accepted] over the same body.
const SIGNED_BODY = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"eth_sendBundle","params":[]}');
const CRATE_SIGNATURE_VERDICTS: [string, string, boolean][] = [
  [
    "as signed",
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266:0xcd41cfb8d486f061a418ab5cd00782d0a91e5f968273ff3bdb90f07b538df7d72066d26047c0956fc0c1d70d3fb137df1bf57e8250bc1718f4e02b2c485498021c",
    true,
  ],
  [
    "v as 0/1",
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266:0xcd41cfb8d486f061a418ab5cd00782d0a91e5f968273ff3bdb90f07b538df7d72066d26047c0956fc0c1d70d3fb137df1bf57e8250bc1718f4e02b2c4854980201",
    true,
  ],
  [
    "v as 37/38",
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266:0xcd41cfb8d486f061a418ab5cd00782d0a91e5f968273ff3bdb90f07b538df7d72066d26047c0956fc0c1d70d3fb137df1bf57e8250bc1718f4e02b2c4854980226",
    true,
  ],
  [
    "v as 2",
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266:0xcd41cfb8d486f061a418ab5cd00782d0a91e5f968273ff3bdb90f07b538df7d72066d26047c0956fc0c1d70d3fb137df1bf57e8250bc1718f4e02b2c4854980202",
    false,
  ],
  [
    "upper-case hex, no 0x",
    "F39FD6E51AAD88F6F4CE6AB8827279CFFFB92266:CD41CFB8D486F061A418AB5CD00782D0A91E5F968273FF3BDB90F07B538DF7D72066D26047C0956FC0C1D70D3FB137DF1BF57E8250BC1718F4E02B2C485498021C",
    true,
  ],
  [
    "0X prefixes",
    "0Xf39fd6e51aad88f6f4ce6ab8827279cfffb92266:0Xcd41cfb8d486f061a418ab5cd00782d0a91e5f968273ff3bdb90f07b538df7d72066d26047c0956fc0c1d70d3fb137df1bf57e8250bc1718f4e02b2c485498021c",
    false,
  ],
  [
    "high s",
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266:0xcd41cfb8d486f061a418ab5cd00782d0a91e5f968273ff3bdb90f07b538df7d7df992d9fb83f6a903f3e28f2c04ec81f9eb95e645e8c8922caf2336087e1a93f1b",
    false,
  ],
  [
    "64 bytes",
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266:0xcd41cfb8d486f061a418ab5cd00782d0a91e5f968273ff3bdb90f07b538df7d72066d26047c0956fc0c1d70d3fb137df1bf57e8250bc1718f4e02b2c48549802",
    false,
  ],
  [
    "space after the colon",
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266: 0xcd41cfb8d486f061a418ab5cd00782d0a91e5f968273ff3bdb90f07b538df7d72066d26047c0956fc0c1d70d3fb137df1bf57e8250bc1718f4e02b2c485498021c",
    false,
  ],
];

test("signature headers are written and judged as FlowProxy's alloy code does: v as 27/28, 0/1 or EIP-155, any case, only a 0x prefix, 65 bytes, low s (forwarder/mod.rs build_signature_header, ingress/mod.rs maybe_verify_signature@029b7c4)", () => {
  const [, asSigned] = CRATE_SIGNATURE_VERDICTS[0];
  assert.equal(signatureHeader(Signer.fromHex(KEY_A), SIGNED_BODY), asSigned);
  for (const [name, header, accepted] of CRATE_SIGNATURE_VERDICTS) {
    assert.equal(verifySignature(header, SIGNED_BODY), accepted ? addressOf(KEY_A) : undefined, name);
  }
});

// --- user flow (src/ingress/mod.rs, src/jsonrpc.rs) -------------------------------------------

test("user flow without a valid signature gets -32603 Invalid signature, HTTP 400, id null (ingress/mod.rs user_handler)", async () => {
  const a = await startProxy(1, {});
  try {
    const body = rpc("eth_sendBundle", [{ txs: [signedTx(SEARCHER_KEY, 8n)] }]);
    const expected = { id: null, jsonrpc: "2.0", error: { code: -32603, message: "Invalid signature" } };
    const [, signature] = personalSign(SEARCHER_KEY, body).split(":");
    const variants: Record<string, string>[] = [
      {},
      { "x-flashbots-signature": "nonsense" },
      { "x-flashbots-signature": `${addressOf(KEY_A)}:${signature}` },
      { "x-flashbots-signature": personalSign(SEARCHER_KEY, `${body} `) },
    ];
    for (const headers of variants) {
      const reply = await request(a.proxy.ports.user, "POST", "/", body, headers);
      assert.deepEqual(
        [reply.status, reply.headers["content-type"], JSON.parse(reply.body)],
        [400, "application/json", expected],
        JSON.stringify(headers),
      );
    }
  } finally {
    await a.stop();
  }
});

// What FlowProxy 029b7c4's src/jsonrpc.rs (serde_json 1.0.145 through axum's Json::from_bytes),
// built from source, made of these bodies: the id written back in a Method-not-found answer (404),
// or "parse" (-32700, 400) or "invalid" (-32600, 400).
const nest = (n: number) => "[".repeat(n) + "]".repeat(n);
const SERDE_JSON_READS: [string, string][] = [
  ['{"id":1.0,"jsonrpc":"2.0","method":"x"}', "1.0"],
  ['{"id":1e3,"jsonrpc":"2.0","method":"x"}', "1000.0"],
  ['{"id":-0,"jsonrpc":"2.0","method":"x"}', "-0.0"],
  ['{"id":0.000001,"jsonrpc":"2.0","method":"x"}', "1e-6"],
  ['{"id":1.5e16,"jsonrpc":"2.0","method":"x"}', "1.5e16"],
  ['{"id":5e-324,"jsonrpc":"2.0","method":"x"}', "5e-324"],
  ['{"id":18446744073709551615,"jsonrpc":"2.0","method":"x"}', "18446744073709551615"],
  ['{"id":-9223372036854775809,"jsonrpc":"2.0","method":"x"}', "-9.223372036854776e18"],
  // One ulp below the nearest double: serde_json's float parsing without float_roundtrip.
  ['{"id":123456789012345678901,"jsonrpc":"2.0","method":"x"}', "1.2345678901234567e20"],
  ['{"id":1e400,"jsonrpc":"2.0","method":"x"}', "parse"],
  ['{"id":"\\ud800","jsonrpc":"2.0","method":"x"}', "parse"],
  ['{"id":1,"id":2,"jsonrpc":"2.0","method":"x"}', "parse"],
  [`{"id":1,"jsonrpc":"2.0","method":"x","params":[${nest(125)}]}`, "1"],
  [`{"id":1,"jsonrpc":"2.0","method":"x","params":[${nest(126)}]}`, "parse"],
  ['\ufeff{"id":1,"jsonrpc":"2.0","method":"x"}', "parse"],
  ['[7,"2.0","x",null]', "7"],
  ['[7,"2.0","x"]', "parse"],
  [`{"id":1,"jsonrpc":"2.0","method":"x","extra":["\\ud800",1e400,${nest(200)}]}`, "1"],
  ['{"id":1,"jsonrpc":"2.0","method":"x","params":[{"a":1,"a":2}]}', "1"],
  ['{"id":1,"jsonrpc":"1.0","method":"x"}', "invalid"],
];

test("a JSON-RPC request is read as serde_json reads it: duplicate fields, lone surrogates, numbers out of range, depth past 127 and a byte-order mark refused; an array of the four fields taken; the id written back as serde_json writes it (jsonrpc.rs@029b7c4)", async () => {
  const a = await startProxy(2, {});
  try {
    for (const [body, outcome] of SERDE_JSON_READS) {
      const reply = await signedPost(a.proxy.ports.user, body);
      const expected =
        outcome === "parse"
          ? [400, '{"id":null,"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"}}']
          : outcome === "invalid"
            ? [400, '{"id":null,"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"}}']
            : [404, `{"id":${outcome},"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found: x"}}`];
      assert.deepEqual([reply.status, reply.body], expected, body.slice(0, 80));
    }
  } finally {
    await a.stop();
  }
});

test("the JSON-RPC envelope is checked after the signature: parse error, invalid request, unknown method (jsonrpc.rs)", async () => {
  const a = await startProxy(2, {});
  try {
    const cases: [string, number, unknown][] = [
      ["{oops", 400, { id: null, jsonrpc: "2.0", error: { code: -32700, message: "Parse error" } }],
      [
        JSON.stringify({ jsonrpc: "2.0", method: "eth_sendBundle", params: [] }),
        400,
        { id: null, jsonrpc: "2.0", error: { code: -32700, message: "Parse error" } },
      ],
      [
        JSON.stringify({ jsonrpc: "1.0", id: 3, method: "eth_sendBundle", params: [] }),
        400,
        { id: null, jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request" } },
      ],
      [
        rpc("eth_call", [], 4),
        404,
        { id: 4, jsonrpc: "2.0", error: { code: -32601, message: "Method not found: eth_call" } },
      ],
      [
        rpc("mev_sendBundle", [{}], 5),
        404,
        { id: 5, jsonrpc: "2.0", error: { code: -32601, message: "Method not found: mev_sendBundle" } },
      ],
      [
        rpc("eth_sendBundle", [{}, {}], 6),
        400,
        { id: 6, jsonrpc: "2.0", error: { code: -32602, message: "Invalid params" } },
      ],
    ];
    for (const [body, status, expected] of cases) {
      const reply = await signedPost(a.proxy.ports.user, body);
      assert.deepEqual([reply.status, JSON.parse(reply.body)], [status, expected], body);
    }
  } finally {
    await a.stop();
  }
});

test("a bundle's transactions must decode as signed transactions; an empty bundle needs a replacement uuid (rbuilder RawBundle::decode via primitives/mod.rs)", async () => {
  const a = await startProxy(1, {});
  try {
    const invalid = { id: 1, jsonrpc: "2.0", error: { code: -32602, message: "Invalid params" } };
    for (const bundle of [
      { txs: ["0x01"] },
      { txs: ["not hex"] },
      { txs: [] },
      { txs: [signedTx(SEARCHER_KEY, 9n)], version: "v3" },
    ]) {
      const reply = await signedPost(a.proxy.ports.user, rpc("eth_sendBundle", [bundle]));
      assert.deepEqual([reply.status, JSON.parse(reply.body)], [400, invalid], JSON.stringify(bundle));
    }
    const metrics = await a.metrics();
    assert.match(
      metrics,
      /flowproxy_ingress_validation_errors\{error="Failed to decode transaction, idx: 0, error: Failed to decode transaction, error: input too short",handler="user"\} 1/,
    );
    assert.match(metrics, /flowproxy_ingress_validation_errors\{error="Empty bundle with on uuid",handler="user"\} 1/);
    const cancel = rpc("eth_sendBundle", [{ txs: [], replacementUuid: "8f0b6d2e-7c1a-4b8e-9f00-123456789abc" }]);
    assert.equal((await signedPost(a.proxy.ports.user, cancel)).status, 200);
  } finally {
    await a.stop();
  }
});

test("eth_sendRawTransaction answers the transaction hash and applies src/validation.rs (chain id 1, intrinsic gas)", async () => {
  const a = await startProxy(1, {});
  try {
    const tx = signedTx(SEARCHER_KEY, 10n);
    const ok = await signedPost(a.proxy.ports.user, rpc("eth_sendRawTransaction", [tx]));
    assert.deepEqual(JSON.parse(ok.body), {
      id: 1,
      jsonrpc: "2.0",
      result: hex(keccak(Buffer.from(tx.slice(2), "hex"))),
    });
    for (const [bad, reason] of [
      [signedTx(SEARCHER_KEY, 11n, { chainId: 5n }), "transaction's chain ID does not match"],
      [signedTx(SEARCHER_KEY, 12n, { gas: 20999n }), "intrinsic gas too low"],
    ]) {
      const reply = await signedPost(a.proxy.ports.user, rpc("eth_sendRawTransaction", [bad]));
      assert.equal(reply.status, 400);
      assert.match(
        await a.metrics(),
        new RegExp(`flowproxy_ingress_validation_errors\\{error="${reason}",handler="user"\\} 1`),
      );
    }
  } finally {
    await a.stop();
  }
});

// Share-bundle hashes computed by FlowProxy 258bbd6's `impl BundleHash for RawShareBundle`
// (src/primitives/mod.rs) over rbuilder's RawShareBundle types and their derived `Hash`
// (crates/rbuilder-primitives/src/serialize.rs; Refund and RefundConfig hold usize fields), run on
// the crates 258bbd6 locks: wyhash 0.6.0, alloy-primitives 1.4.0, uuid 1.18.1, bytes 1.10.1.
const SHARE_INNER: RawShareBundle = {
  version: "version-1",
  inclusion: { block: 0x10n, maxBlock: 0x12n },
  body: [{ tx: Buffer.from("aabb", "hex"), canRevert: true, revertMode: "drop" }],
  validity: { refund: [{ bodyIdx: 0n, percent: 90n }], refundConfig: [] },
  metadata: { replacementNonce: 3n, cancelled: false },
};
const SHARE_FULL: RawShareBundle = {
  version: "v0.1",
  inclusion: { block: 0x10n, maxBlock: 0x14n },
  body: [
    { tx: Buffer.from("c0ffee", "hex"), canRevert: true, revertMode: "allow" },
    { canRevert: false, bundle: SHARE_INNER },
  ],
  validity: {
    refund: [{ bodyIdx: 1n, percent: 50n }],
    refundConfig: [{ address: Buffer.alloc(20, 0x22), percent: 100n }],
  },
  metadata: { signer: Buffer.alloc(20, 0x33), replacementNonce: 7n, cancelled: false },
  replacementUuid: Buffer.from("8f0b6d2e7c1a4b8e9f00123456789abc", "hex"),
};
const CRATE_SHARE_BUNDLE_HASHES: [string, string, RawShareBundle][] = [
  [
    "one transaction, no optional part",
    "ccff3cb123f8215b8f23b911d7db6ef9db294943e5e6d98264911d8964653ddf",
    { version: "v0.1", inclusion: { block: 1n }, body: [{ tx: Buffer.from("010203", "hex"), canRevert: false }] },
  ],
  [
    "every part: an inner bundle hashed with its derived Hash, validity, metadata, a replacement uuid (its 16 bytes, no length)",
    "59cff03b32e2fdb085d83219494e49dfe8fc3bf662be8f74fbac1a051e067975",
    SHARE_FULL,
  ],
  [
    "without the uuid",
    "f66b61532f6876c595e3cbf6cc5b10e62c08c4c464f6a4c63bf9237ad8135f3c",
    { ...SHARE_FULL, replacementUuid: undefined },
  ],
  [
    "an inner bundle with a uuid and cancelled metadata",
    "58ca37d41429165b67d3375ad472c058c3a949d15eca295d228837b0ea55b7fd",
    {
      ...SHARE_FULL,
      body: [
        SHARE_FULL.body[0],
        {
          canRevert: false,
          bundle: { ...SHARE_INNER, replacementUuid: SHARE_FULL.replacementUuid, metadata: { cancelled: true } },
        },
      ],
    },
  ],
];

test("the share-bundle hash equals what FlowProxy's BundleHash computes over rbuilder's types with the crates it locks (primitives/mod.rs@258bbd6)", () => {
  for (const [name, expected, bundle] of CRATE_SHARE_BUNDLE_HASHES) {
    assert.equal(rawShareBundleHash(bundle).toString("hex"), expected, name);
  }
});

test("mev_sendBundle is served at generation 1 with the bundleHash FlowProxy computes (ingress/mod.rs@258bbd6 on_mev_share_bundle)", async () => {
  const a = await startProxy(1, {});
  try {
    const bundle = {
      version: "v0.1",
      inclusion: { block: "0x1" },
      body: [{ tx: `0x${TX_0.toString("hex")}`, canRevert: false }],
    };
    const reply = await signedPost(a.proxy.ports.user, rpc("mev_sendBundle", [bundle]));
    assert.equal(reply.status, 200);
    // The same bundle's hash computed by the crates, as the table above.
    assert.equal(
      (JSON.parse(reply.body) as { result: { bundleHash: string } }).result.bundleHash,
      "0x5e98a6c8ed9bed472f0cd47947cc24135fde204163fc28a6e8f0e8df6dbce9b7",
    );
    const badVersion = await signedPost(a.proxy.ports.user, rpc("mev_sendBundle", [{ ...bundle, version: "v9" }]));
    assert.equal(badVersion.status, 400);
  } finally {
    await a.stop();
  }
});

// --- servers and observability ----------------------------------------------------------------

test("/livez and /health answer 200 on both HTTP servers; /readyz asks the local builder (lib.rs routers, ingress/mod.rs ready_handler)", async () => {
  const a = await startProxy(1, { BUILDER_READY_ENDPOINT: "http://127.0.0.1:1" });
  try {
    for (const port of [a.proxy.ports.user, a.proxy.ports.system]) {
      const livez = await request(port, "GET", "/livez");
      assert.deepEqual([livez.status, livez.body, livez.headers["x-flowproxy-endpoint"]], [200, "", undefined]);
      assert.equal((await request(port, "GET", "/health")).status, 200);
      assert.deepEqual(
        [(await request(port, "GET", "/readyz")).status, (await request(port, "GET", "/readyz")).body],
        [503, "not ready"],
      );
      assert.equal((await request(port, "GET", "/")).status, 405);
      assert.equal((await request(port, "GET", "/nope")).status, 404);
    }
  } finally {
    await a.stop();
  }
});

test("generation 2 has no HTTP system server: the system port speaks msg-rs (lib.rs@029b7c4)", async () => {
  const a = await startProxy(2, {});
  try {
    const socket = net.connect(a.proxy.ports.system, "127.0.0.1");
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.write("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n");
    await closed;
    assert.equal((await request(a.proxy.ports.user, "GET", "/livez")).status, 200);
  } finally {
    await a.stop();
  }
});

test("logs are tracing's JSON when LOG_JSON, with upstream's messages and the checksummed signer (lib.rs run_with_listeners)", async () => {
  const g1 = await startProxy(1, { FLASHBOTS_ORDERFLOW_SIGNER: KEY_A });
  const g2 = await startProxy(2, {});
  try {
    const signerLine = g1.logs().find((l) => l.fields.message === "Orderflow signer configured");
    assert.deepEqual(
      [signerLine?.level, signerLine?.target, signerLine?.fields.address],
      ["INFO", "flowproxy", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"],
    );
    assert.ok(g1.logs().some((l) => l.fields.message === "Starting system ingress server"));
    assert.ok(g2.logs().some((l) => l.fields.message === "running with orderflow signer"));
    assert.ok(g2.logs().some((l) => l.fields.message === "starting system tcp listener"));
  } finally {
    await g1.stop();
    await g2.stop();
  }
});

test("generation 2 exports flowproxy_build_info with version and commit; generation 1 has no such metric (metrics.rs)", async () => {
  const g1 = await startProxy(1, {});
  const g2 = await startProxy(2, {});
  try {
    const { version, gitHash } = versionUnderTest(2);
    assert.match(
      await g2.metrics(),
      new RegExp(`^flowproxy_build_info\\{commit="${gitHash}",version="${version.replace(/\./g, "\\.")}"\\} 1$`, "m"),
    );
    assert.doesNotMatch(await g1.metrics(), /build_info|flowproxy_info/);
  } finally {
    await g1.stop();
    await g2.stop();
  }
});

test("a bind failure ends run() with the io error (lib.rs run)", async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  const taken = `127.0.0.1:${(blocker.address() as net.AddressInfo).port}`;
  const settings = cli(1, { ...REQUIRED, USER_LISTEN_ADDR: taken });
  try {
    assert.equal(settings.kind, "run");
    if (settings.kind !== "run") return;
    const proxy = new FlowProxy({
      generation: 1,
      settings: settings.settings,
      gitHash: "x",
      version: "1.1.2",
      logger: new Logger(true, {}, () => undefined),
      onFatal: () => undefined,
    });
    await assert.rejects(
      proxy.start(),
      (err: unknown) => err instanceof RunError && err.message === "Address already in use (os error 98)",
    );
    await proxy.stop();
  } finally {
    blocker.close();
  }
});
