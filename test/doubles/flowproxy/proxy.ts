// The FlowProxy runtime as the two followed revisions have it: src/lib.rs (run), src/ingress/mod.rs
// (the handlers), src/builderhub/ (registration and peers), src/ingress/forwarder.rs@258bbd6 and
// src/forwarder/{mod,tcp}.rs@029b7c4 (forwarding). Each behaviour cites the file it follows.
import { randomBytes, X509Certificate } from "node:crypto";
import { lookup } from "node:dns/promises";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as tls from "node:tls";
import { gunzipSync } from "node:zlib";
import { BUILDERHUB_API, PORTS } from "../../../lib/contract";
import { BitcodeError, decodeRawBundle, decodeTcpResponse, decodeWithHeaders, encodeRawBundle, encodeTcpResponse, encodeWithHeaders, TcpData, tcpDataDisplay, TcpStatus } from "./bitcode";
import { Generation, parseSocketAddr, Settings } from "./cli";
import { eip191Hash, hex, keccak256, parityOfV, parseHex, recoverAddress, Signer, toChecksumAddress } from "./crypto";
import { declareMetrics } from "./declare";
import { Fields, Level, Logger, Span } from "./log";
import { RepServer, REQUEST_TIMED_OUT, ReqError, ReqSocket, SOCKET_CLOSED } from "./msg";
import { plainJson, readJsonRpcRequest, writeJsonId } from "./serdejson";
import { Registry } from "./metrics";
import {
  checkRawBundle,
  checkRawShareBundle,
  ParamsError,
  parseRawBundle,
  parseRawShareBundle,
  RawBundle,
  rawBundleHash,
  RawShareBundle,
  rawShareBundleHash,
  serializeRawBundle,
  serializeRawShareBundle,
} from "./orders";
import { decodePooledTransaction, looksLikeCanonicalBlobTx, recoverSigner, Transaction, validateTransaction } from "./tx";

/** BuilderHub's routes src/builderhub/client.rs calls, as the contract records them. */
const { register: REGISTER_PATH, builders: BUILDERS_PATH } = BUILDERHUB_API;
/**
 * src/lib.rs@258bbd6 DEFAULT_SYSTEM_PORT, src/builderhub/mod.rs@029b7c4 likewise: the port FlowProxy
 * reaches peers at, which the contract's system port must be (its tests hold both to 5544).
 */
const DEFAULT_SYSTEM_PORT = PORTS.system;
/** src/consts.rs: DEFAULT_HTTP_TIMEOUT_SECS and DEFAULT_CONNECT_TIMEOUT_MS. */
const HTTP_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 800;
/** src/forwarder/tcp.rs@029b7c4 TCP_CALL_TIMEOUT. */
const TCP_CALL_TIMEOUT_MS = 2000;
/** src/builderhub/mod.rs@258bbd6: the peer list is read every 30 s, a constant at that revision. */
const GENERATION_1_PEER_INTERVAL_S = 30;
const BIG_REQUEST_SIZE_THRESHOLD = 50_000;
/** src/forwarder/client.rs@029b7c4 BUCKET_MESSAGE_SIZE_THRESHOLD_BYTES. */
const BIG_MESSAGE_BYTES = 32_768;

/** run() returned an error: the process reports it and exits (with status 0, see flowproxy.ts). */
export class RunError extends Error {}
/** A Rust panic: the message and the source location upstream panics at. */
export class Panic extends Error {
  constructor(
    message: string,
    readonly location: string,
  ) {
    super(message);
  }
}

interface Peer {
  name: string;
  ip: string;
  dns_name: string;
  orderflow_proxy: { tls_cert: string | null; ecdsa_pubkey_address: string };
  instance: { tls_cert: string };
}

type Priority = "high" | "medium" | "low";

interface JsonRpcError {
  code: number;
  message: string;
  status: number;
}

/** src/jsonrpc.rs: JsonRpcError codes, messages and HTTP statuses. */
const RPC = {
  parse: { code: -32700, message: "Parse error", status: 400 },
  invalidRequest: { code: -32600, message: "Invalid Request", status: 400 },
  invalidSignature: { code: -32603, message: "Invalid signature", status: 400 },
  invalidParams: { code: -32602, message: "Invalid params", status: 400 },
  rateLimited: { code: -32603, message: "Rate limited", status: 429 },
  internal: { code: -32603, message: "Internal error", status: 500 },
  methodNotFound: (method: string): JsonRpcError => ({ code: -32601, message: `Method not found: ${method}`, status: 404 }),
};

/** An order the handler refused; `validation` marks src/validation.rs failures, which count against the signer. */
class Rejected extends Error {
  constructor(readonly validation: boolean) {
    super("rejected");
  }
}

type RpcReply = { id: unknown; result: unknown } | { id: unknown; error: JsonRpcError };
type Dropped = { dropped: true };

/** Rust's Debug of a str. */
function debugString(value: string): string {
  return JSON.stringify(value).replace(/\\u0000/g, "\\0");
}

function debugPeer(p: Peer): string {
  const cert = p.orderflow_proxy.tls_cert === null ? "None" : `Some(${debugString(p.orderflow_proxy.tls_cert)})`;
  return (
    `Peer { name: ${debugString(p.name)}, ip: ${debugString(p.ip)}, dns_name: ${debugString(p.dns_name)}, ` +
    `orderflow_proxy: PeerCredentials { tls_cert: ${cert}, ecdsa_pubkey_address: ${p.orderflow_proxy.ecdsa_pubkey_address} }, ` +
    `instance: InstanceData { tls_cert: ${debugString(p.instance.tls_cert)} } }`
  );
}

function samePeer(a: Peer, b: Peer): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** serde's Peer: every field required, unknown fields ignored, the address 20 bytes of hex. */
function parsePeers(body: string): Peer[] {
  const list: unknown = JSON.parse(body);
  if (!Array.isArray(list)) {
    throw new Error("invalid type: expected a sequence");
  }
  const str = (v: unknown) => {
    if (typeof v !== "string") throw new Error("invalid type: expected a string");
    return v;
  };
  return list.map((p: Record<string, Record<string, unknown>>) => {
    const address = parseHex(str(p?.orderflow_proxy?.ecdsa_pubkey_address));
    if (!address || address.length !== 20) {
      throw new Error("invalid address");
    }
    const cert = p.orderflow_proxy.tls_cert;
    return {
      name: str(p.name),
      ip: str(p.ip),
      dns_name: str(p.dns_name),
      orderflow_proxy: { tls_cert: cert === undefined || cert === null ? null : str(cert), ecdsa_pubkey_address: hex(address) },
      instance: { tls_cert: str(p.instance?.tls_cert) },
    };
  });
}

/** The `ip`/`dns_name` rule of Peer::system_api (both revisions): dns_name:5544, else ip (with 5544 if it has no port). */
export function systemHostPort(p: Peer): { host: string; port: number } {
  const hostPort = p.dns_name === "" ? (p.ip.includes(":") ? p.ip : `${p.ip}:${DEFAULT_SYSTEM_PORT}`) : `${p.dns_name}:${DEFAULT_SYSTEM_PORT}`;
  const colon = hostPort.lastIndexOf(":");
  return { host: hostPort.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(hostPort.slice(colon + 1)) };
}

/**
 * src/ingress/mod.rs maybe_verify_signature (legacy form): `<address>:<signature>` over "0x" +
 * hex(keccak256(body)), EIP-191. Compared with that function and build_signature_header at 029b7c4,
 * built from source with the alloy crates it locks: headers written alike, and variants (case,
 * prefixes, v, length, s) accepted or refused alike.
 */
export function verifySignature(header: string | undefined, body: Buffer): string | undefined {
  if (header === undefined || !/^[\t\x20-\x7e]*$/.test(header)) {
    return undefined;
  }
  const colon = header.indexOf(":");
  if (colon < 0) {
    return undefined;
  }
  const claimed = parseHex(header.slice(0, colon));
  const signature = parseHex(header.slice(colon + 1));
  if (!signature || signature.length !== 65) {
    return undefined;
  }
  const parity = parityOfV(signature[64]);
  if (parity === undefined) {
    return undefined;
  }
  const digest = eip191Hash(Buffer.from(hex(keccak256(body)), "ascii"));
  const signer = recoverAddress(digest, BigInt(hex(signature.subarray(0, 32))), BigInt(hex(signature.subarray(32, 64))), parity);
  return signer !== undefined && claimed?.length === 20 && hex(claimed) === signer ? signer : undefined;
}

/** src/forwarder/mod.rs build_signature_header: `{address:?}:{signature}`, both lowercase hex. */
export function signatureHeader(signer: Signer, body: Buffer): string {
  const digest = eip191Hash(Buffer.from(hex(keccak256(body)), "ascii"));
  return `${signer.address}:${hex(signer.signHash(digest))}`;
}

/** mini-moka with a time-to-live, as OrderCache (src/cache.rs) builds it. */
class OrderCache {
  private readonly entries = new Map<string, number>();
  private hits = 0;
  private misses = 0;

  constructor(private readonly ttlMs: number) {}

  contains(hash: string): boolean {
    const expires = this.entries.get(hash);
    const live = expires !== undefined && expires > Date.now();
    if (!live) this.entries.delete(hash);
    if (live) this.hits++;
    else this.misses++;
    return live;
  }

  insert(hash: string): void {
    this.entries.set(hash, Date.now() + this.ttlMs);
  }

  get hitRatio(): number {
    const total = this.hits + this.misses;
    return total === 0 ? 0 : this.hits / total;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** B256::sample(10): the first 8 bytes, big-endian, divisible by 10. */
const sampled = (hash: Buffer) => hash.readBigUInt64BE(0) % 10n === 0n;

interface EntityScore {
  requests: number;
  invalid: number;
}

/** src/entity.rs: scores per 4 s bucket over 60 s, and the priority they give. */
class Entities {
  private readonly data = new Map<string, { buckets: Map<number, EntityScore>; requests: number[] }>();
  private readonly start = Date.now();

  constructor(
    private readonly lookbackMs: number,
    private readonly bucketMs: number,
    private readonly rateLookbackMs: number,
  ) {}

  private entity(signer: string) {
    let e = this.data.get(signer);
    if (!e) {
      e = { buckets: new Map(), requests: [] };
      this.data.set(signer, e);
    }
    return e;
  }

  private cleanup(buckets: Map<number, EntityScore>): void {
    const oldest = Date.now() - this.lookbackMs;
    for (const at of buckets.keys()) {
      if (at < oldest) buckets.delete(at);
    }
  }

  score(signer: string): EntityScore {
    const { buckets } = this.entity(signer);
    this.cleanup(buckets);
    const at = this.start + Math.floor((Date.now() - this.start) / this.bucketMs) * this.bucketMs;
    let score = buckets.get(at);
    if (!score) {
      score = { requests: 0, invalid: 0 };
      buckets.set(at, score);
    }
    return score;
  }

  /** Entity::priority with the default SpamThresholds (high 6, medium 3). */
  priority(signer: string, isReplacement: boolean, isNonRevertible: boolean, hasBlobs: boolean): Priority {
    if (hasBlobs) return "low";
    const { buckets } = this.entity(signer);
    this.cleanup(buckets);
    const scores = [...buckets.values()].map((s) => {
      const requestPenalty = Math.min(Math.log10(s.requests), 3);
      const invalidPenalty = Math.min((s.requests > 0 ? s.invalid / s.requests : 0) * 5, 5);
      return requestPenalty + invalidPenalty;
    });
    const score = scores.reduce((a, b) => a + b, 0) / scores.length;
    if ((score < 3 && isReplacement) || isNonRevertible) return "high";
    if (6 > score && score < 3) return "medium";
    return "low";
  }

  /** The optional rate limit: requests of the signer within the lookback. */
  overLimit(signer: string, limit: number): boolean {
    const e = this.entity(signer);
    const now = Date.now();
    e.requests = e.requests.filter((t) => t > now - this.rateLookbackMs);
    if (e.requests.length > limit) return true;
    e.requests.push(now);
    return false;
  }

  maintain(): { before: number; after: number } {
    const before = this.data.size;
    for (const [signer, e] of this.data) {
      this.cleanup(e.buckets);
      if (e.requests.length === 0 && e.buckets.size === 0) this.data.delete(signer);
    }
    return { before, after: this.data.size };
  }
}

type EncodedOrder =
  | { type: "bundle"; hash: Buffer; priority: Priority; receivedAt: number; json: string; bundle: RawBundle }
  | { type: "transaction"; hash: Buffer; priority: Priority; receivedAt: number; json: string; raw: Buffer }
  | { type: "mev_share_bundle"; hash: Buffer; priority: Priority; receivedAt: number; json: string };

interface Forwarder {
  send(order: EncodedOrder, signatureHeader: string | undefined, sentAtMicros: bigint, binary?: { data: Buffer; headers: Map<string, string> }): boolean;
  stop(): void;
}

interface PeerHandle {
  info: Peer;
  forwarder: Forwarder;
}

export interface ProxyOptions {
  generation: Generation;
  settings: Settings;
  gitHash: string;
  version: string;
  logger: Logger;
  /** A critical task failed after start: upstream shuts down. */
  onFatal: (error: Panic | RunError) => void;
}

const nowMicros = () => BigInt(Date.now()) * 1000n;
/** src/utils.rs short_uuid_v4: the first 8 hex digits of a random UUID, the request id of the ingress spans. */
const shortId = () => randomBytes(4).toString("hex");

export class FlowProxy {
  readonly signer: Signer;
  readonly metrics = new Registry("flowproxy_");
  private readonly g: Generation;
  private readonly s: Settings;
  private readonly log: Logger;
  private readonly peers = new Map<string, PeerHandle>();
  private readonly cache: OrderCache;
  private readonly entities: Entities;
  private readonly servers: (http.Server | RepServer)[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private userServer?: http.Server;
  private systemServer?: http.Server | RepServer;
  private metricsServer?: http.Server;
  private stopped = false;

  constructor(private readonly options: ProxyOptions) {
    this.g = options.generation;
    this.s = options.settings;
    this.log = options.logger;
    this.signer = this.s.FLASHBOTS_ORDERFLOW_SIGNER ? Signer.fromHex(this.s.FLASHBOTS_ORDERFLOW_SIGNER) : Signer.random();
    this.cache = new OrderCache(Number(this.s.order_cache_ttl) * 1000);
    this.entities = new Entities(Number(this.s.score_lookback_s) * 1000, Number(this.s.score_bucket_s) * 1000, Number(this.s.rate_limit_lookback_s) * 1000);
    declareMetrics(this.metrics, this.g);
  }

  private event(level: Level, target: string, message: string, fields: Fields = [], spans: Span[] = []): void {
    this.log.event(level, target, message, fields, spans);
  }

  /** Ports actually bound (for tests that listen on port 0). */
  get ports(): { user: number; system: number; metrics?: number } {
    const port = (s?: http.Server | RepServer) => (s ? (s.address() as net.AddressInfo).port : 0);
    return { user: port(this.userServer), system: port(this.systemServer), metrics: this.metricsServer ? port(this.metricsServer) : undefined };
  }

  /** src/lib.rs run() and run_with_listeners() at the followed revision. */
  async start(): Promise<void> {
    if (this.g === 2) {
      const resume = BigInt(this.s.DISK_BACKUP_SIZE_TO_RESUME_FLOW_THRESHOLD_MB as string);
      const reject = BigInt(this.s.DISK_BACKUP_SIZE_REJECT_FLOW_THRESHOLD_MB as string);
      if (resume > reject) {
        throw new RunError(`disk-backup-size-to-resume-flow-threshold-mb (${resume}) must be <= disk-backup-size-reject-flow-threshold-mb (${reject})`);
      }
    }
    if (this.s.METRICS_ADDR !== undefined) {
      await this.startMetrics(this.s.METRICS_ADDR);
    }
    this.userServer = await this.bindHttp(this.s.USER_LISTEN_ADDR as string, (req, res) => this.serveUserOrSystem("user", req, res));
    if (this.g === 1) {
      this.systemServer = await this.bindHttp(this.s.SYSTEM_LISTEN_ADDR as string, (req, res) => this.serveUserOrSystem("system", req, res));
    } else {
      // src/lib.rs@029b7c4: the RepSocket's bind is `.expect("to bind tcp socket address")`.
      const address = parseSocketAddr(this.s.SYSTEM_LISTEN_ADDR as string) as { host: string; port: number };
      const rep = new RepServer(
        (payload) => this.systemTcpHandler(payload),
        (error) => this.event("DEBUG", "msg_socket::rep::driver", "failed to read from connection", [["e", { debug: error }]]),
      );
      await rep.listen(address.host, address.port).catch((err: NodeJS.ErrnoException) => {
        throw new Panic(`to bind tcp socket address: ${describeIoError(err)}`, "src/lib.rs:87:67");
      });
      this.servers.push(rep);
      this.systemServer = rep;
    }
    if (this.s.BUILDER_LISTEN_ADDR !== undefined) {
      await this.bindHttp(this.s.BUILDER_LISTEN_ADDR, (req, res) => this.serveBuilderStats(req, res));
    }

    if (this.g === 1) {
      if (this.s.FLASHBOTS_ORDERFLOW_SIGNER === undefined) {
        this.event("WARN", "flowproxy", "No orderflow signer was configured, using a random signer. Fix this by passing `--orderflow-signer <PRIVATE KEY>`");
      }
      this.event("INFO", "flowproxy", "Orderflow signer configured", [["address", { display: toChecksumAddress(this.signer.address) }]]);
    } else {
      this.validateUrls();
      if (this.s.FLASHBOTS_ORDERFLOW_SIGNER !== undefined) {
        this.event("WARN", "flowproxy", "orderflow signer provided via cli, this is discouraged in production environments");
      }
      this.event("INFO", "flowproxy", "running with orderflow signer", [["address", { display: toChecksumAddress(this.signer.address) }]]);
    }

    const hub = this.s.BUILDERHUB_ENDPOINT;
    const interval = this.g === 1 ? GENERATION_1_PEER_INTERVAL_S : Number(this.s.PEER_UPDATE_INTERVAL_S);
    if (hub !== undefined) {
      this.event("DEBUG", "flowproxy", "Running with BuilderHub", [["url", hub]]);
      await this.register(hub);
      this.runPeerUpdater(() => this.fetchPeers(hub), interval);
    } else {
      this.event("WARN", "flowproxy", "No BuilderHub URL provided, running with local peer store");
      // LocalPeerStore registers this proxy alone (src/builderhub/mod.rs): it filters itself out.
      const self: Peer = {
        name: toChecksumAddress(this.signer.address),
        ip: `127.0.0.1:${this.ports.system}`,
        dns_name: "",
        orderflow_proxy: { tls_cert: null, ecdsa_pubkey_address: this.signer.address },
        instance: { tls_cert: "" },
      };
      this.runPeerUpdater(async () => [self], interval);
    }
    if (this.g === 1) {
      this.validateUrls();
    }
    this.startMaintenance();
    if (this.g === 2) {
      this.event("INFO", "flowproxy", "starting system tcp listener", [["addr", { debug: `Some(${this.boundAddress(this.systemServer)})` }]]);
    }
    this.event("INFO", "ingress", "Starting user ingress server", [["addr", { debug: this.boundAddress(this.userServer) }]]);
    if (this.g === 1) {
      this.event("INFO", "ingress", "Starting system ingress server", [["addr", { debug: this.boundAddress(this.systemServer) }]]);
    }
  }

  private boundAddress(server?: http.Server | RepServer): string {
    const a = server?.address() as net.AddressInfo;
    return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  /** BUILDER_ENDPOINT and BUILDER_READY_ENDPOINT must parse as URLs (reqwest's Url::from_str). */
  private validateUrls(): void {
    for (const [name, value] of [
      ["invalid builder URL", this.s.BUILDER_ENDPOINT],
      ["invalid builder ready endpoint URL", this.s.BUILDER_READY_ENDPOINT],
    ] as const) {
      if (value !== undefined && !URL.canParse(value)) {
        throw new RunError(this.g === 2 ? name : "relative URL without a base");
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.forEach(clearTimeout);
    for (const handle of this.peers.values()) {
      handle.forwarder.stop();
    }
    await Promise.all(
      this.servers.map((s) => {
        if (s instanceof RepServer) return s.close();
        const closed = new Promise((resolve) => s.close(resolve));
        s.closeAllConnections();
        return closed;
      }),
    );
  }

  // --- listeners --------------------------------------------------------------------------------

  /**
   * Generation 1 binds a String with tokio's TcpListener::bind (host names resolve); generation 2 a
   * SocketAddr clap already checked. Bind errors end run() with the io::Error's text.
   */
  private async bindHttp(address: string, handler: http.RequestListener): Promise<http.Server> {
    const target = await resolveListenAddress(address);
    const server = http.createServer(handler);
    server.keepAliveTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => reject(new RunError(describeIoError(err))));
      server.listen(target.port, target.host, () => resolve());
    });
    this.servers.push(server);
    return server;
  }

  /**
   * Generation 1: axum on METRICS_ADDR, GET /metrics and GET / (src/metrics.rs@258bbd6).
   * Generation 2: prometric's exporter, any method on /metrics, else 404 "Not Found"; it is
   * spawned, so a failed bind is silent (prometric exporter.rs 0.2.1).
   */
  private async startMetrics(address: string): Promise<void> {
    const parsed = parseSocketAddr(address);
    if (!parsed) {
      throw new RunError("invalid socket address syntax");
    }
    const server = http.createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (this.g === 1 ? path !== "/metrics" && path !== "/" : path !== "/metrics") {
        res.writeHead(404, this.g === 2 ? { "content-length": 9 } : { "content-length": 0 }).end(this.g === 2 ? "Not Found" : undefined);
        return;
      }
      if (this.g === 1 && req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET,HEAD", "content-length": 0 }).end();
        return;
      }
      this.updateProcessMetrics();
      const body = this.metrics.render();
      res.writeHead(200, { "content-type": this.g === 1 ? "text/plain" : "text/plain; version=0.0.4", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
    const bound = new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => reject(new RunError(describeIoError(err))));
      server.listen(parsed.port, parsed.host, () => resolve());
    });
    if (this.g === 1) {
      await bound;
    } else {
      await bound.catch(() => undefined);
      this.metrics.set("build_info", { version: this.options.version, commit: this.options.gitHash }, 1);
      this.metrics.set("indexer_clickhouse_disk_backup_size_is_rejecting_flow", {}, 0);
      this.metrics.set("indexer_clickhouse_disk_backup_size_reject_flow_threshold_bytes", {}, Number(this.s.DISK_BACKUP_SIZE_REJECT_FLOW_THRESHOLD_MB) * 1024 * 1024);
      this.metrics.set("indexer_clickhouse_disk_backup_size_resume_flow_threshold_bytes", {}, Number(this.s.DISK_BACKUP_SIZE_TO_RESUME_FLOW_THRESHOLD_MB) * 1024 * 1024);
    }
    this.metricsServer = server;
    this.servers.push(server);
  }

  /** Process gauges from /proc (metrics-process at generation 1, prometric's collector at generation 2). */
  private updateProcessMetrics(): void {
    const read = (file: string) => {
      try {
        return fs.readFileSync(file, "utf8");
      } catch {
        return "";
      }
    };
    const status = read("/proc/self/status");
    const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const limits = /^Max open files\s+(\d+)/m.exec(read("/proc/self/limits"));
    let fds: number;
    try {
      fds = fs.readdirSync("/proc/self/fd").length;
    } catch {
      fds = 0;
    }
    this.metrics.set("process_threads", {}, threads);
    this.metrics.set("process_open_fds", {}, fds);
    this.metrics.set("process_max_fds", {}, Number(limits?.[1] ?? 0));
    this.metrics.set("process_resident_memory_bytes", {}, process.memoryUsage().rss);
    this.metrics.set("process_start_time_seconds", {}, Math.floor(Date.now() / 1000 - process.uptime()));
    if (this.g === 1) {
      const cpu = process.cpuUsage();
      this.metrics.set("process_cpu_seconds_total", {}, Math.floor((cpu.user + cpu.system) / 1e6));
      this.metrics.set("process_virtual_memory_bytes", {}, Number(/^VmSize:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024);
    } else {
      this.metrics.set("system_cpu_cores", {}, os.cpus().length);
    }
  }

  // --- BuilderHub -------------------------------------------------------------------------------

  /**
   * src/builderhub/client.rs: one POST, no retry, a 2 s timeout; `{"ecdsa_pubkey_address": ...}`
   * (tls_cert None is skipped by serde). The URL is the endpoint with the path appended as is.
   */
  private async register(hub: string): Promise<void> {
    const url = `${hub}${REGISTER_PATH}`;
    const body = JSON.stringify({ ecdsa_pubkey_address: this.signer.address });
    let response: { status: number; body: string };
    try {
      response = await httpRequest(url, { method: "POST", headers: { "content-type": "application/json" }, body: Buffer.from(body) });
    } catch (err) {
      throw new RunError(`reqwest error: ${(err as RequestFailure).display ?? `error sending request for url (${url})`}`);
    }
    if (response.status < 200 || response.status > 299) {
      throw new RunError(`registration unsuccessful: ${response.body}`);
    }
  }

  /** PeerStore::get_peers: GET, a 2 s timeout, the body read as JSON whatever the status. */
  private async fetchPeers(hub: string): Promise<Peer[]> {
    const url = `${hub}${BUILDERS_PATH}`;
    const response = await httpRequest(url, { method: "GET" });
    try {
      return parsePeers(response.body);
    } catch {
      throw new RequestFailure("error decoding response body", `reqwest::Error { kind: Decode, source: ${debugString(response.body.slice(0, 80))} }`);
    }
  }

  /** PeersUpdater::run: update, then sleep the interval, forever (a critical task). */
  private runPeerUpdater(get: () => Promise<Peer[]>, intervalS: number): void {
    const loop = async () => {
      if (this.stopped) return;
      try {
        await this.updatePeers(get);
      } catch (err) {
        if (err instanceof Panic) {
          this.options.onFatal(err);
          return;
        }
        throw err;
      }
      if (!this.stopped) {
        this.timers.push(setTimeout(() => void loop(), intervalS * 1000));
      }
    };
    void loop();
  }

  private async updatePeers(get: () => Promise<Peer[]>): Promise<void> {
    const span: Span[] = this.g === 1 ? [{ name: "update_peers", fields: [] }] : [];
    let builders: Peer[];
    try {
      builders = await get();
    } catch (err) {
      const failure = err as RequestFailure;
      this.metrics.inc("builderhub_peer_request_failures", { error: failure.display });
      this.event("ERROR", "flowproxy::builderhub", "failed to get peers from builderhub", [["e", { debug: failure.debug }]], span);
      return;
    }
    for (const [name, handle] of this.peers) {
      if (!builders.some((b) => b.name === name)) {
        this.event("INFO", "flowproxy::builderhub", "removed from configuration", [["peer", { display: name }], ["info", { debug: debugPeer(handle.info) }]], span);
        this.retire(handle);
        this.peers.delete(name);
      }
    }
    for (const peer of builders) {
      await this.processPeer(peer, span);
    }
    this.metrics.set("builderhub_peer_count", {}, this.peers.size);
  }

  /** PeersUpdater::process_peer at 258bbd6 (HTTP forwarders) and 029b7c4 (TCP forwarders). */
  private async processPeer(peer: Peer, parent: Span[]): Promise<void> {
    const spans = [...parent, { name: "process_peer", fields: [["peer", { debug: debugPeer(peer) }]] as Fields }];
    const info = (message: string) => this.event("INFO", "flowproxy::builderhub", message, [], spans);
    const isSelf = peer.orderflow_proxy.ecdsa_pubkey_address === this.signer.address;
    const existing = this.peers.get(peer.name);
    if (this.g === 1) {
      // 258bbd6 logs before it filters itself out, and logs every known peer on every round.
      info(existing ? "received configuration update" : "received new peer configuration");
      if ((existing && samePeer(existing.info, peer)) || isSelf) return;
    } else {
      if (isSelf) {
        this.event("DEBUG", "flowproxy::builderhub", "skipped processing self peer", [], spans);
        return;
      }
      if (existing && samePeer(existing.info, peer)) {
        this.event("DEBUG", "flowproxy::builderhub", "received no configuration changes, skipping", [], spans);
        return;
      }
      info(existing ? "received configuration update" : "received new peer configuration");
    }
    if (this.s.disable_forwarding === "true") {
      this.event("WARN", "flowproxy::builderhub", "skipped spawning forwarder (disabled forwarding)", [], spans);
      return;
    }
    const forwarder = this.g === 1 ? this.httpForwarder(peer) : await this.tcpForwarder(peer, spans);
    if (forwarder) {
      if (existing) this.retire(existing);
      this.peers.set(peer.name, { info: peer, forwarder });
    }
  }

  /** Dropping a peer's handle closes its channel; the forwarder task sees that and ends. */
  private retire(handle: PeerHandle): void {
    handle.forwarder.stop();
    const target = this.g === 1 ? "flowproxy::ingress::forwarder" : "flowproxy::forwarder::tcp";
    this.event("INFO", target, "terminating forwarder", [["name", { display: handle.info.name }]]);
  }

  // --- forwarding, generation 1 (HTTP) ----------------------------------------------------------

  /**
   * src/builderhub/mod.rs@258bbd6: `https://` when instance.tls_cert is non-empty, that certificate
   * added as a root beside the system's (reqwest's add_root_certificate), the host name checked
   * by the TLS library; `http://` otherwise. An unparsable certificate panics the peer updater
   * (`.expect("Valid certificate")`), which ends the process.
   */
  private httpForwarder(peer: Peer): Forwarder {
    const { host, port } = systemHostPort(peer);
    const cert = peer.instance.tls_cert;
    if (cert !== "") {
      try {
        new X509Certificate(cert);
      } catch (err) {
        throw new Panic(`Valid certificate: ${(err as Error).message}`, "src/builderhub/mod.rs:84:22");
      }
    }
    const scheme = cert !== "" ? "https" : "http";
    const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    const url = `${scheme}://${authority}/`;
    this.event("INFO", "flowproxy::ingress::forwarder", "Spawning HTTP forwarder", [
      ["name", { display: peer.name }],
      ["url", { display: `${scheme}://${authority}` }],
    ]);
    const labels = { peer_name: peer.name };
    this.metrics.reset(labels);
    let pending = 0;
    let stopped = false;
    // The client is built once per forwarder, as reqwest's is, not once per request.
    const tlsOptions = cert !== "" ? { secureContext: tls.createSecureContext({ ca: [...tls.rootCertificates, cert] }), servername: net.isIP(host) ? undefined : host } : undefined;
    return {
      stop: () => {
        stopped = true;
      },
      send: (order, signature, sentAt) => {
        if (stopped) return false;
        this.recordE2e(order, "user_to_system");
        const body = Buffer.from(order.json);
        const isBig = body.length > BIG_REQUEST_SIZE_THRESHOLD;
        // ForwardingRequest::create_headers; hyper writes header names in lower case.
        const headers: Record<string, string> = {
          "x-buildernet-priority": order.priority,
          "content-type": "application/json",
          "x-flashbots-signature": signature as string,
          "x-buildernet-sentatus": sentAt.toString(),
        };
        pending++;
        this.metrics.set("forwarder_inflight_requests", labels, pending);
        const start = Date.now();
        const spans: Span[] = [{ name: "http_forwarder_response", fields: [["peer_url", { display: url }], ["is_big", isBig]] }];
        void httpRequest(url, { method: "POST", headers, body, tls: tlsOptions, connectTimeout: CONNECT_TIMEOUT_MS }).then(
          (response) => {
            pending--;
            const elapsed = (Date.now() - start) / 1000;
            if (elapsed > 1) this.event("WARN", "flowproxy::ingress::forwarder", "long rpc call", [], spans);
            if (response.status >= 200 && response.status <= 299) {
              this.event("TRACE", "flowproxy::ingress::forwarder", "received success response", [], spans);
              if (response.status !== 200) this.event("WARN", "flowproxy::ingress::forwarder", "non-ok status code", [], spans);
              this.metrics.observe("forwarder_rpc_call_duration", { ...labels, order_type: order.type, big_request: String(isBig) }, elapsed);
              return;
            }
            this.event("ERROR", "flowproxy::ingress::forwarder", "failed to forward request", [], spans);
            this.metrics.inc("forwarder_http_call_failures", { ...labels, reason: http.STATUS_CODES[response.status] ?? String(response.status) });
            this.decodeErrorResponse(labels, response.body);
          },
          (err: RequestFailure) => {
            pending--;
            this.event("ERROR", "flowproxy::ingress::forwarder", "error forwarding request", [], spans);
            if (err.isConnect) {
              this.event("WARN", "flowproxy::ingress::forwarder", "connection error", [["reason", { debug: debugString(err.debug) }]], spans);
              this.metrics.inc("forwarder_http_connect_failures", { ...labels, reason: err.debug });
            } else {
              this.metrics.inc("forwarder_http_call_failures", { ...labels, reason: err.debug });
            }
          },
        );
        return true;
      },
    };
  }

  /** ResponseErrorDecoder::decode: a JSON-RPC error's code becomes a label; anything else a decoding failure. */
  private decodeErrorResponse(labels: Record<string, string>, body: string): void {
    let parsed: { id?: unknown; jsonrpc?: unknown; error?: { code?: unknown; message?: unknown }; result?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
      if (typeof parsed.jsonrpc !== "string" || !("id" in parsed) || (parsed.error === undefined && !("result" in parsed))) throw new Error("missing field");
    } catch (err) {
      this.event("WARN", "flowproxy::ingress::forwarder", "failed to decode response into json-rpc", [["e", { debug: (err as Error).message }]]);
      this.metrics.inc("forwarder_json_rpc_decoding_failures", labels);
      return;
    }
    if (parsed.error && typeof parsed.error.code === "number") {
      this.event("ERROR", "flowproxy::ingress::forwarder", "decoded error response from builder", [
        ["code", { display: String(parsed.error.code) }],
        ["message", { display: String(parsed.error.message) }],
      ]);
      this.metrics.inc("forwarder_rpc_call_failures", { ...labels, rpc_code: String(parsed.error.code) });
    }
  }

  // --- forwarding, generation 2 (msg-rs TCP) ----------------------------------------------------

  /**
   * src/builderhub/mod.rs@029b7c4 peer_tcp_sender: `<dns_name>:5544` resolved once; TLS when
   * instance.tls_cert is non-empty (tls_connector: the certificate added to a store that also has
   * the system's roots, TLS 1.3 suites restricted; msg-transport's tcp_tls Client names dns_name
   * for SNI and the host check), optional client certificate and key from CERTIFICATE_PEM_FILE /
   * PRIVATE_KEY_PEM_FILE. TCP_SMALL_CLIENTS sockets, plus TCP_BIG_CLIENTS for messages of 32 KiB
   * and more, used round-robin. Compared with msg-rs 97ae1f0's TcpTls client set up by 029b7c4's
   * tls_connector, built from source: which certificates, names and TLS versions connect.
   */
  private async tcpForwarder(peer: Peer, spans: Span[]): Promise<Forwarder | undefined> {
    const error = (message: string, fields: Fields = []) => this.event("ERROR", "flowproxy::builderhub", message, fields, spans);
    let tlsOptions: tls.ConnectionOptions | undefined;
    if (peer.instance.tls_cert !== "") {
      try {
        new X509Certificate(peer.instance.tls_cert);
      } catch (err) {
        error("failed to parse certificate", [["e", { debug: (err as Error).message }]]);
        return undefined;
      }
      try {
        tlsOptions = {
          // One connector for every socket of the forwarder, as msg-rs builds one SslConnector.
          secureContext: tls.createSecureContext({
            ca: [...tls.rootCertificates, peer.instance.tls_cert],
            ciphers: TLS_CIPHERS,
            key: this.s.PRIVATE_KEY_PEM_FILE ? fs.readFileSync(this.s.PRIVATE_KEY_PEM_FILE) : undefined,
            cert: this.s.CERTIFICATE_PEM_FILE ? fs.readFileSync(this.s.CERTIFICATE_PEM_FILE) : undefined,
          }),
          // ConnectConfiguration::into_ssl: SNI unless the name is an IP address.
          servername: net.isIP(peer.dns_name) ? undefined : peer.dns_name,
          checkServerIdentity: (_host, cert) => checkPeerHost(peer.dns_name, cert),
        };
      } catch (err) {
        error("failed to create tls connector", [["e", { debug: (err as Error).message }]]);
        return undefined;
      }
    }
    const { host, port } = systemHostPort(peer);
    let address: string;
    try {
      address = net.isIP(host) ? host : (await lookup(host)).address;
    } catch (err) {
      error("failed to resolve socket address", [["e", { debug: (err as Error).message }]]);
      return undefined;
    }
    const socketAddr = net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
    this.event("INFO", "flowproxy::forwarder::tcp", "spawning tcp forwarder", [["addr", { display: socketAddr }]], spans);
    const driverLog = {
      connected: () => this.event("INFO", "msg_socket::req::driver", "connected"),
      connectFailed: (e: string) => this.event("ERROR", "msg_socket::req::driver", "failed to connect", [["e", { debug: e }]]),
      connectionClosed: () => this.event("WARN", "msg_socket::req::driver", "connection closed, resetting connection state"),
      gaveUp: () => this.event("ERROR", "msg_socket::req::driver", "exceeded maximum number of retries, terminating connection"),
    };
    // into_ssl("") fails (OpenSSL refuses an empty server name) before each connection is made:
    // a TLS peer without dns_name is never reached.
    const connectError = tlsOptions && peer.dns_name === "" ? EMPTY_SERVER_NAME : undefined;
    const make = () => new ReqSocket({ host: address, port, tls: tlsOptions, connectError }, driverLog);
    const small = Array.from({ length: Number(this.s.TCP_SMALL_CLIENTS) }, make);
    const big = Array.from({ length: Number(this.s.TCP_BIG_CLIENTS) }, make);
    const counters = { small: 0, big: 0 };
    const pick = (size: number) => {
      const useBig = big.length > 0 && size >= BIG_MESSAGE_BYTES;
      const pool = useBig ? big : small;
      const which = useBig ? "big" : "small";
      const socket = pool[counters[which] % pool.length];
      counters[which] = (counters[which] + 1) % 256;
      return socket;
    };
    const labels = { peer_name: peer.name, transport: "tcp" };
    this.metrics.reset(labels);
    let pending = 0;
    let terminated = false;
    let lastErrorLog = 0;
    const rateLimited = (log: () => void) => {
      if (Date.now() - lastErrorLog > 100) {
        lastErrorLog = Date.now();
        log();
      }
    };
    const forwarderSpans = (isBig: boolean): Span[] => [{ name: "forwarder", fields: [["protocol", "tcp"], ["peer_url", { display: socketAddr }], ["is_big", isBig]] }];
    return {
      stop: () => {
        terminated = true;
        [...small, ...big].forEach((s) => s.close());
      },
      send: (order, _signature, _sentAt, binary) => {
        if (terminated || !binary) return false;
        this.recordE2e(order, "user_to_system");
        const size = Buffer.byteLength(order.json);
        const isBig = size > BIG_REQUEST_SIZE_THRESHOLD;
        const payload = encodeWithHeaders(binary.headers, binary.data);
        pending++;
        this.metrics.set("forwarder_inflight_requests", labels, pending);
        const start = Date.now();
        const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new ReqError(REQUEST_TIMED_OUT)), TCP_CALL_TIMEOUT_MS).unref());
        void Promise.race([pick(size).request(payload), timeout]).then(
          (reply) => {
            pending--;
            const elapsed = (Date.now() - start) / 1000;
            this.event("TRACE", "flowproxy::forwarder::tcp", "received response", [["elapsed", { debug: `${elapsed}s` }]], forwarderSpans(isBig));
            this.metrics.observe("forwarder_rpc_call_duration", { ...labels, order_type: order.type, big_request: String(isBig) }, elapsed);
            let response: { status: TcpStatus; data: TcpData };
            try {
              response = decodeTcpResponse(reply);
            } catch (err) {
              this.event("ERROR", "flowproxy::forwarder::tcp", "failed to deserialize response", [["e", { debug: bitcodeDebug(err) }]], forwarderSpans(isBig));
              return;
            }
            if (elapsed > 1) this.event("WARN", "flowproxy::forwarder::tcp", "long rpc call", [], forwarderSpans(isBig));
            if (response.status !== "Success") {
              rateLimited(() =>
                this.event(
                  "ERROR",
                  "flowproxy::forwarder::tcp",
                  "received error response",
                  [["status", response.status], ["data", { debug: debugTcpData(response.data) }]],
                  forwarderSpans(isBig),
                ),
              );
              this.metrics.inc("forwarder_tcp_response_failures", { ...labels, reason: tcpDataDisplay(response.data) });
            }
          },
          (err: Error) => {
            pending--;
            const variant = err.message === SOCKET_CLOSED ? "SocketClosed" : err.message === REQUEST_TIMED_OUT ? "Timeout" : debugString(err.message);
            rateLimited(() => this.event("ERROR", "flowproxy::forwarder::tcp", "failed to forward request", [["e", { debug: variant }]], forwarderSpans(isBig)));
            this.metrics.inc("forwarder_tcp_call_failures", { ...labels, reason: err.message });
            if (err.message === SOCKET_CLOSED) {
              // A closed socket is fatal: the forwarder ends, and the next broadcast drops the peer.
              this.event("ERROR", "flowproxy::forwarder::tcp", "fatal response, terminating forwarder", [
                ["peer_name", { display: peer.name }],
                ["peer_addr", { display: socketAddr }],
              ]);
              terminated = true;
            }
          },
        );
        return true;
      },
    };
  }

  private recordE2e(order: EncodedOrder, direction: string): void {
    const isBig = Buffer.byteLength(order.json) > BIG_REQUEST_SIZE_THRESHOLD;
    const family = { bundle: "system_e2e_bundle_processing_time", transaction: "system_e2e_transaction_processing_time", mev_share_bundle: "system_e2e_mev_share_bundle_processing_time" }[order.type];
    this.metrics.observe(family, { priority: order.priority, direction, big_request: String(isBig) }, (Date.now() - order.receivedAt) / 1000);
  }

  /**
   * IngressForwarders::broadcast_* (src/ingress/forwarder.rs@258bbd6): the re-encoded JSON-RPC
   * body, signed, to every peer. broadcast_order (src/forwarder/mod.rs@029b7c4): the bitcode
   * payload signed, wrapped with its headers; a peer whose forwarder ended is dropped.
   */
  private broadcast(order: EncodedOrder): void {
    if (this.g === 1) {
      const signature = signatureHeader(this.signer, Buffer.from(order.json));
      const sentAt = nowMicros();
      this.event("DEBUG", "flowproxy::ingress::forwarder", `sending ${order.type === "transaction" ? "transaction" : "bundle"} to peers`, [["peers", { display: String(this.peers.size) }]]);
      for (const handle of this.peers.values()) {
        handle.forwarder.send(order, signature, sentAt);
      }
      return;
    }
    const data = order.type === "bundle" ? encodeRawBundle(order.bundle) : order.type === "transaction" ? order.raw : Buffer.alloc(0);
    const headers = new Map<string, string>([
      ["X-BuilderNet-Priority", order.priority],
      ["content-type", "application/json"],
      ["X-BuilderNet-Signature", signatureHeader(this.signer, data)],
      ["X-BuilderNet-SentAtUs", nowMicros().toString()],
      ["method", order.type === "bundle" ? "eth_sendBundle" : "eth_sendRawTransaction"],
    ]);
    this.event("DEBUG", "flowproxy::forwarder", "sending order to peers", [["peers", { display: String(this.peers.size) }]]);
    for (const [name, handle] of this.peers) {
      if (!handle.forwarder.send(order, undefined, 0n, { data, headers })) {
        this.event("ERROR", "flowproxy::forwarder", "peer channel closed, removing peer", [["e", { debug: "SendError { .. }" }], ["peer", { display: name }]]);
        this.peers.delete(name);
      }
    }
  }

  // --- HTTP servers -----------------------------------------------------------------------------

  /** axum's routers of src/lib.rs: POST / (JSON-RPC), GET /health, /livez, /readyz; 404 and 405 otherwise. */
  private serveUserOrSystem(endpoint: "user" | "system", req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    const started = process.hrtime.bigint();
    const finish = (status: number, headers: Record<string, string | number>, body: string | Buffer) => {
      const bytes = Buffer.from(body);
      res.writeHead(status, { ...headers, "content-length": bytes.length });
      res.end(bytes);
      // track_server_metrics is layered with the user metrics on both routers (src/lib.rs@258bbd6).
      this.metrics.observe("ingress_http_request_duration", { handler: "user", method: req.method ?? "", path, status: String(status) }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    const getRoutes = ["/health", "/livez", "/readyz"];
    if (path !== "/" && !getRoutes.includes(path)) {
      res.writeHead(404, { "content-length": 0 }).end();
      return;
    }
    if (path === "/" ? req.method !== "POST" : req.method !== "GET" && req.method !== "HEAD") {
      finish(405, { allow: path === "/" ? "POST" : "GET,HEAD" }, "");
      return;
    }
    if (path === "/health" || path === "/livez") {
      finish(200, {}, "");
      return;
    }
    if (path === "/readyz") {
      void this.ready().then(({ status, body }) => finish(status, { "content-type": "text/plain; charset=utf-8" }, body));
      return;
    }
    readBody(req, Number(this.s.max_request_size)).then(
      (body) => {
        const handled = endpoint === "user" ? this.userHandler(req.headers, body) : this.systemHttpHandler(req.headers, body);
        void handled.then((reply) => {
          if ("dropped" in reply) {
            // A panic in the handler: hyper drops the connection without an answer.
            req.socket.destroy();
            return;
          }
          const status = "error" in reply ? reply.error.status : 200;
          const payload = "error" in reply ? { code: reply.error.code, message: reply.error.message } : undefined;
          // The id as serde_json writes its Value back ("1.0" stays "1.0"), then the rest.
          const rest = "error" in reply ? JSON.stringify({ jsonrpc: "2.0", error: payload }) : JSON.stringify({ jsonrpc: "2.0", result: reply.result });
          const json = `{"id":${writeJsonId(reply.id)},${rest.slice(1)}`;
          finish(status, { "content-type": "application/json" }, json);
        });
      },
      () => finish(413, { "content-type": "text/plain; charset=utf-8" }, "Failed to buffer the request body: length limit exceeded"),
    );
  }

  /** OrderflowIngress::ready_handler: asks BUILDER_READY_ENDPOINT's /readyz (default http://127.0.0.1:6070). */
  private async ready(): Promise<{ status: number; body: string }> {
    const base = this.s.BUILDER_READY_ENDPOINT as string;
    const url = new URL("readyz", base).toString();
    try {
      const response = await httpRequest(url, { method: "GET" });
      if (response.status >= 200 && response.status <= 299) {
        this.event("INFO", "flowproxy::ingress", "local builder is ready", [["url", { display: url }]], [{ name: "ingress_readyz", fields: [] }]);
        return { status: 200, body: "OK" };
      }
      this.event("ERROR", "flowproxy::ingress", "local builder is not ready", [
        ["url", { display: url }],
        ["status", { display: `${response.status} ${http.STATUS_CODES[response.status] ?? ""}`.trim() }],
      ]);
      return { status: 503, body: this.g === 1 ? "not ready" : "builder not ready" };
    } catch {
      this.event("ERROR", "flowproxy::ingress", "error sending readyz request", [["url", { display: url }]], [{ name: "ingress_readyz", fields: [] }]);
      return { status: 503, body: this.g === 1 ? "not ready" : "builder not answering readyz request" };
    }
  }

  /** The builder-stats server (BUILDER_LISTEN_ADDR): POST / with per-entity stats, GET /health. */
  private serveBuilderStats(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/health" && req.method === "GET") {
      res.writeHead(200, { "content-length": 0 }).end();
    } else if (path === "/" && req.method === "POST") {
      readBody(req, 2 * 1024 * 1024).then(
        () => {
          this.event("INFO", "flowproxy::ingress", "updated entity stats with builder data");
          res.writeHead(200, { "content-length": 0 }).end();
        },
        () => res.writeHead(413, { "content-length": 0 }).end(),
      );
    } else {
      res.writeHead(path === "/" || path === "/health" ? 405 : 404, { "content-length": 0 }).end();
    }
  }

  // --- JSON-RPC ---------------------------------------------------------------------------------

  /** JsonRpcRequest::from_bytes (src/jsonrpc.rs): serde_json's reading (serdejson.ts), then jsonrpc must be "2.0". */
  private parseRequest(body: Buffer): { id: unknown; method: string; params?: unknown[] } | JsonRpcError {
    const request = readJsonRpcRequest(body);
    if (request === undefined) {
      return RPC.parse;
    }
    if (request.jsonrpc !== "2.0") {
      return RPC.invalidRequest;
    }
    return { id: request.id, method: request.method, params: request.params?.map(plainJson) };
  }

  /** OrderflowIngress::user_handler (src/ingress/mod.rs). */
  private async userHandler(headers: http.IncomingHttpHeaders, raw: Buffer): Promise<RpcReply> {
    const id = shortId();
    const userSpan = (method?: string): Span[] => [{ name: "ingress", fields: [["handler", "user"], ["id", { display: id }], ...(method ? ([["method", { display: method }]] as Fields) : [])] }];
    const receivedAt = Date.now();
    const body = this.maybeDecompress(headers, raw);
    if (body === undefined) {
      return { id: null, error: RPC.parse };
    }
    const signer = verifySignature(firstHeader(headers, "x-buildernet-signature") ?? firstHeader(headers, "x-flashbots-signature"), body);
    if (signer === undefined) {
      this.event("TRACE", "flowproxy::ingress", "failed to verify signature", [], userSpan());
      return { id: null, error: RPC.invalidSignature };
    }
    if (this.s.enable_rate_limiting === "true" && this.entities.overLimit(signer, Number(this.s.rate_limit_count))) {
      this.metrics.inc("ingress_requests_rate_limited", { handler: "user" });
      return { id: null, error: RPC.rateLimited };
    }
    const request = this.parseRequest(body);
    if ("code" in request) {
      this.metrics.inc("ingress_json_rpc_parse_errors", { handler: "user", method: "unknown" });
      return { id: null, error: request };
    }
    this.entities.score(signer).requests++;
    const single = request.params?.length === 1 ? request.params[0] : undefined;
    const invalidParams = (method: string): RpcReply => {
      this.metrics.inc("ingress_json_rpc_parse_errors", { handler: "user", method });
      return { id: request.id, error: RPC.invalidParams };
    };
    const bodySize = (method: string) => this.metrics.observe("ingress_request_body_size_bytes", { handler: "user", method }, body.length);
    const spans = userSpan(request.method);
    const unknownMethod = (): RpcReply => {
      this.event("TRACE", "flowproxy::ingress", "method not supported", [], spans);
      this.metrics.inc("ingress_json_rpc_unknown_method", { handler: "user", method: request.method });
      return { id: request.id, error: RPC.methodNotFound(request.method) };
    };
    try {
      switch (request.method) {
        case "eth_sendBundle": {
          let bundle: RawBundle;
          try {
            bundle = parseRawBundle(single ?? fail());
          } catch {
            return invalidParams(request.method);
          }
          bodySize(request.method);
          return { id: request.id, result: { bundleHash: hex(this.onBundle(signer, bundle, receivedAt, spans)) } };
        }
        case "eth_sendRawTransaction": {
          let raw: Buffer;
          let tx: Transaction;
          try {
            raw = typeof single === "string" ? (parseHex(single) ?? fail()) : fail();
            tx = decodePooledTransaction(raw.length > 0 ? raw : fail());
          } catch {
            return invalidParams(request.method);
          }
          bodySize(request.method);
          return { id: request.id, result: hex(this.onRawTransaction(signer, raw, tx, receivedAt, spans)) };
        }
        case "mev_sendBundle": {
          // Generation 2 has no mev_sendBundle (src/consts.rs@029b7c4).
          if (this.g === 2) {
            return unknownMethod();
          }
          let bundle: RawShareBundle;
          try {
            bundle = parseRawShareBundle(single ?? fail());
          } catch {
            return invalidParams(request.method);
          }
          bodySize(request.method);
          return { id: request.id, result: { bundleHash: hex(this.onShareBundle(signer, bundle, receivedAt, spans)) } };
        }
        default:
          return unknownMethod();
      }
    } catch (err) {
      if (err instanceof Rejected) {
        if (err.validation) this.entities.score(signer).invalid++;
        return { id: request.id, error: RPC.invalidParams };
      }
      throw err;
    }
  }

  private maybeDecompress(headers: http.IncomingHttpHeaders, body: Buffer): Buffer | undefined {
    if (this.s.gzip_enabled === "true" && firstHeader(headers, "content-encoding") === "gzip") {
      try {
        return gunzipSync(body);
      } catch {
        return undefined;
      }
    }
    return body;
  }

  private sampleCacheMetrics(handler: string, hash: Buffer, entries: boolean): void {
    if (!sampled(hash)) return;
    this.metrics.set("ingress_order_cache_hit_ratio", { handler }, this.g === 1 ? Math.trunc(this.cache.hitRatio * 100) : this.cache.hitRatio * 100);
    if (entries) this.metrics.set("ingress_order_cache_entry_count", { handler }, this.cache.size);
  }

  /** OrderflowIngress::on_bundle: sign, default version v2, hash, de-duplicate, decode, forward. */
  private onBundle(signer: string, bundle: RawBundle, receivedAt: number, parent: Span[]): Buffer {
    bundle.signingAddress = Buffer.from(signer.slice(2), "hex");
    const nonRevertible = bundle.txs.every((tx) => bundle.revertingTxHashes.some((h) => h.equals(keccak256(tx))));
    const priority = this.entities.priority(signer, bundle.replacementUuid !== undefined, nonRevertible, bundle.txs.some(looksLikeCanonicalBlobTx));
    if ((bundle.uuid ?? bundle.replacementUuid) !== undefined && bundle.replacementNonce === undefined) {
      bundle.replacementNonce = BigInt(receivedAt) * 1000n;
    }
    bundle.version ??= "v2";
    const hash = rawBundleHash(bundle);
    bundle.bundleHash = hash;
    const spans: Span[] = [...parent, { name: "bundle", fields: [["hash", { display: hex(hash) }], ["signer", { display: toChecksumAddress(signer) }], ["priority", { display: priority }]] }];
    if (this.cache.contains(hex(hash))) {
      this.event("TRACE", "flowproxy::ingress", "already processed", [], spans);
      this.metrics.inc("ingress_order_cache_hit", { handler: "user", order_type: "bundle" });
      this.sampleCacheMetrics("user", hash, true);
      return hash;
    }
    this.cache.insert(hex(hash));
    const checked = checkRawBundle(bundle, Number(this.s.max_txs_per_bundle));
    if (checked.error !== undefined) {
      this.event("ERROR", "flowproxy::ingress", "failed to decode bundle", [["e", { debug: checked.error }]], spans);
      this.metrics.inc("ingress_validation_errors", { handler: "user", error: checked.error });
      throw new Rejected(false);
    }
    this.event("DEBUG", "flowproxy::ingress", checked.emptyReplacement ? "decoded replacement bundle" : "decoded new bundle", [], spans);
    if (sampled(hash)) {
      this.metrics.set("ingress_signer_cache_hit_ratio", { handler: "user" }, 0);
      this.metrics.set("ingress_signer_cache_entry_count", { handler: "user" }, 0);
    }
    if (checked.emptyReplacement) {
      this.metrics.inc("ingress_total_empty_bundles", { handler: "user" });
    } else {
      this.metrics.observe("ingress_txs_per_bundle", { handler: "user" }, bundle.txs.length);
    }
    this.broadcast({ type: "bundle", hash, priority, receivedAt, json: jsonRpc("eth_sendBundle", serializeRawBundle(bundle)), bundle });
    this.metrics.observe("ingress_rpc_request_duration", { handler: "user", method: "eth_sendBundle", priority }, (Date.now() - receivedAt) / 1000);
    return hash;
  }

  /** OrderflowIngress::on_raw_transaction: de-duplicate by tx hash, validate, recover, forward. */
  private onRawTransaction(signer: string, raw: Buffer, tx: Transaction, receivedAt: number, parent: Span[]): Buffer {
    const hash = Buffer.from(tx.hash.slice(2), "hex");
    const priority = this.entities.priority(signer, false, true, tx.type === 3);
    const spans: Span[] = [...parent, { name: "transaction", fields: [["hash", { display: tx.hash }], ["signer", { display: toChecksumAddress(signer) }], ["priority", { display: priority }]] }];
    if (this.cache.contains(tx.hash)) {
      this.event("TRACE", "flowproxy::ingress", "already processed", [], spans);
      this.metrics.inc("ingress_order_cache_hit", { handler: "user", order_type: "transaction" });
      this.sampleCacheMetrics("user", hash, false);
      return hash;
    }
    this.cache.insert(tx.hash);
    const invalid = validateTransaction(tx, this.g === 2, Math.floor(receivedAt / 1000));
    const failure = invalid ?? (recoverSigner(tx) === undefined ? "Failed to recover the signer" : undefined);
    if (failure !== undefined) {
      this.event("ERROR", "flowproxy::ingress", "failed to validate transaction", [["e", { debug: failure }]], spans);
      this.metrics.inc("ingress_validation_errors", { handler: "user", error: failure });
      throw new Rejected(invalid !== undefined);
    }
    this.broadcast({ type: "transaction", hash, priority, receivedAt, json: jsonRpc("eth_sendRawTransaction", JSON.stringify(hex(raw))), raw });
    this.event("DEBUG", "flowproxy::ingress", "processed raw transaction", [], spans);
    this.metrics.observe("ingress_rpc_request_duration", { handler: "user", method: "eth_sendRawTransaction", priority }, (Date.now() - receivedAt) / 1000);
    return hash;
  }

  /** OrderflowIngress::on_mev_share_bundle (generation 1 only). */
  private onShareBundle(signer: string, bundle: RawShareBundle, receivedAt: number, parent: Span[]): Buffer {
    const hasBlobs = bundle.body.some((e) => e.tx !== undefined && looksLikeCanonicalBlobTx(e.tx));
    const priority = this.entities.priority(signer, bundle.replacementUuid !== undefined, false, hasBlobs);
    const hash = rawShareBundleHash(bundle);
    const spans: Span[] = [...parent, { name: "mev_share_bundle", fields: [["hash", { display: hex(hash) }], ["signer", { display: toChecksumAddress(signer) }], ["priority", { display: priority }]] }];
    if (this.cache.contains(hex(hash))) {
      this.event("TRACE", "flowproxy::ingress", "already processed", [], spans);
      this.metrics.inc("ingress_order_cache_hit", { handler: "user", order_type: "mev_share_bundle" });
      this.sampleCacheMetrics("user", hash, false);
      return hash;
    }
    this.cache.insert(hex(hash));
    const error = checkRawShareBundle(bundle);
    if (error !== undefined) {
      this.event("ERROR", "flowproxy::ingress", "error decoding bundle", [["e", { debug: error }]], spans);
      this.metrics.inc("ingress_validation_errors", { handler: "user", error });
      throw new Rejected(false);
    }
    this.metrics.observe("ingress_txs_per_mev_share_bundle", { handler: "user" }, bundle.body.length);
    this.broadcast({ type: "mev_share_bundle", hash, priority, receivedAt, json: jsonRpc("mev_sendBundle", serializeRawShareBundle(bundle)) });
    this.metrics.observe("ingress_rpc_request_duration", { handler: "user", method: "mev_sendBundle", priority }, (Date.now() - receivedAt) / 1000);
    return hash;
  }

  /** Finds the peer a system-flow signer belongs to: FLASHBOTS_ORDERFLOW_SIGNER_ADDRESS, then the peers with a forwarder. */
  private peerOfSigner(signer: string | undefined): string | undefined {
    if (signer === undefined) return undefined;
    if (this.s.FLASHBOTS_ORDERFLOW_SIGNER_ADDRESS === signer) return "flashbots";
    for (const handle of this.peers.values()) {
      if (handle.info.orderflow_proxy.ecdsa_pubkey_address === signer) return handle.info.name;
    }
    return undefined;
  }

  /** OrderflowIngress::system_handler at 258bbd6 (HTTP). */
  private async systemHttpHandler(headers: http.IncomingHttpHeaders, raw: Buffer): Promise<RpcReply | Dropped> {
    const receivedAt = Date.now();
    const body = this.maybeDecompress(headers, raw);
    if (body === undefined) {
      return { id: null, error: RPC.parse };
    }
    const buildernetHeader = firstHeader(headers, "x-buildernet-signature");
    const flashbotsHeader = firstHeader(headers, "x-flashbots-signature");
    const peer = this.peerOfSigner(verifySignature(buildernetHeader ?? flashbotsHeader, body));
    const span: Span[] = [{ name: "ingress", fields: [["handler", "system"], ["id", { display: shortId() }]] }];
    if (peer === undefined) {
      const shown = (v: string | undefined) => ({ debug: v === undefined ? "None" : `Some(${debugString(v)})` });
      this.event("ERROR", "flowproxy::ingress", "error verifying peer signature", [["buildernet_signature_header", shown(buildernetHeader)], ["flashbots_signature_header", shown(flashbotsHeader)]], span);
      return { id: null, error: RPC.internal };
    }
    span[0].fields.push(["peer", { display: peer }]);
    const request = this.parseRequest(body);
    if ("code" in request) {
      this.event("ERROR", "flowproxy::ingress", "failed to parse json-rpc request", [["e", { debug: request.message }]], span);
      this.metrics.inc("ingress_json_rpc_parse_errors", { handler: "system", method: "unknown" });
      return { id: null, error: request };
    }
    span[0].fields.push(["method", { display: request.method }]);
    const priorityHeader = firstHeader(headers, "x-buildernet-priority");
    const priority: Priority = priorityHeader === "high" || priorityHeader === "medium" || priorityHeader === "low" ? priorityHeader : "medium";
    const single = request.params?.length === 1 ? request.params[0] : undefined;
    const parseError = (method: string, message?: string): RpcReply => {
      if (message) this.event("ERROR", "flowproxy::ingress", message, [], span);
      this.metrics.inc("ingress_json_rpc_parse_errors", { handler: "system", method });
      return { id: request.id, error: RPC.invalidParams };
    };
    const accepted = (method: string, hash: Buffer, txs?: number) => {
      this.metrics.observe("ingress_rpc_request_duration", { handler: "system", method, priority }, (Date.now() - receivedAt) / 1000);
      if (txs !== undefined) this.metrics.observe(method === "mev_sendBundle" ? "ingress_txs_per_mev_share_bundle" : "ingress_txs_per_bundle", { handler: "system" }, txs);
      this.metrics.observe("ingress_request_body_size_bytes", { handler: "system", method }, body.length);
      return hash;
    };
    const cached = (hash: Buffer, orderType: string): boolean => {
      if (!this.cache.contains(hex(hash))) {
        this.cache.insert(hex(hash));
        return false;
      }
      this.metrics.inc("ingress_order_cache_hit", { handler: "system", order_type: orderType });
      this.sampleCacheMetrics("system", hash, orderType === "bundle");
      return true;
    };
    switch (request.method) {
      case "eth_sendBundle": {
        if (single === undefined) return parseError(request.method, "failed to parse bundle: take single param failed");
        let bundle: RawBundle;
        try {
          bundle = parseRawBundle(single);
        } catch {
          return parseError(request.method, "failed to parse raw bundle from system request");
        }
        const hash = bundle.bundleHash ?? rawBundleHash(bundle);
        if (cached(hash, "bundle")) return { id: request.id, result: { bundleHash: hex(hash) } };
        return { id: request.id, result: { bundleHash: hex(accepted(request.method, hash, bundle.txs.length)) } };
      }
      case "eth_sendRawTransaction": {
        if (single === undefined) return parseError(request.method);
        // 258bbd6 unwraps the hex decode of this param: a non-hex value panics the handler.
        const raw = typeof single === "string" ? parseHex(single) : undefined;
        if (raw === undefined) return { dropped: true };
        let tx: Transaction;
        try {
          tx = decodePooledTransaction(raw);
        } catch {
          return parseError(request.method);
        }
        const hash = Buffer.from(tx.hash.slice(2), "hex");
        if (cached(hash, "transaction")) return { id: request.id, result: tx.hash };
        return { id: request.id, result: hex(accepted(request.method, hash)) };
      }
      case "mev_sendBundle": {
        if (single === undefined) return parseError(request.method, "error parsing bundle: take single param failed");
        let bundle: RawShareBundle;
        try {
          bundle = parseRawShareBundle(single);
        } catch {
          return parseError(request.method, "error parsing bundle");
        }
        const hash = rawShareBundleHash(bundle);
        if (cached(hash, "mev_share_bundle")) return { id: request.id, result: { bundleHash: hex(hash) } };
        return { id: request.id, result: { bundleHash: hex(accepted(request.method, hash, bundle.body.length)) } };
      }
      default:
        this.event("ERROR", "flowproxy::ingress", "method not supported", [], span);
        this.metrics.inc("ingress_json_rpc_unknown_method", { handler: "system", method: request.method });
        return { id: request.id, error: RPC.methodNotFound(request.method) };
    }
  }

  /** OrderflowIngress::system_handler at 029b7c4 (msg-rs TCP, bitcode): answers a TcpResponse. */
  private async systemTcpHandler(payload: Buffer): Promise<Buffer> {
    const receivedAt = Date.now();
    const span: Span[] = [{ name: "ingress", fields: [["handler", "system_tcp"], ["id", { display: shortId() }]] }];
    const reply = (status: TcpStatus, data: TcpData = { kind: "NoData" }) => encodeTcpResponse(status, data);
    let envelope: { headers: Map<string, string>; data: Buffer };
    try {
      envelope = decodeWithHeaders(payload);
    } catch (err) {
      this.event("ERROR", "flowproxy::ingress", "failed to convert raw bytes to string", [["e", { debug: bitcodeDebug(err) }]], span);
      return reply("ErrorDecoding", { kind: "String", value: (err as Error).message });
    }
    const { headers, data } = envelope;
    const method = headers.get("method");
    if (method === undefined) {
      this.event("ERROR", "flowproxy::ingress", "method not provided in tcp payload header", [], span);
      return reply("ErrorMissingArguments", { kind: "String", value: "method not provided in tcp payload header" });
    }
    span[0].fields.push(["method", { display: method }]);
    const signature = headers.get("X-BuilderNet-Signature");
    if (signature === undefined) {
      this.event("ERROR", "flowproxy::ingress", "no signature headers found", [], span);
      return reply("ErrorMissingArguments", { kind: "String", value: "no signature headers found" });
    }
    // Upstream looks the priority up under its lower-case name while senders write "X-BuilderNet-Priority".
    const priorityValue = headers.get("x-buildernet-priority");
    const priority: Priority = priorityValue === "high" || priorityValue === "medium" || priorityValue === "low" ? priorityValue : "low";
    const peer = this.peerOfSigner(verifySignature(signature, data));
    if (peer === undefined) {
      this.event("ERROR", "flowproxy::ingress", "error verifying peer signature", [["signature_header", signature]], span);
      return reply("ErrorInvalidSignature");
    }
    span[0].fields.push(["peer", { display: peer }]);
    const accepted = (hash: Buffer, txs?: number) => {
      this.metrics.observe("ingress_rpc_request_duration", { handler: "system", method, priority }, (Date.now() - receivedAt) / 1000);
      if (txs !== undefined) this.metrics.observe("ingress_txs_per_bundle", { handler: "system" }, txs);
      this.metrics.observe("ingress_request_body_size_bytes", { handler: "system", method }, payload.length);
      return reply("Success", { kind: "Hash", value: hash });
    };
    const cached = (hash: Buffer, orderType: string): boolean => {
      if (!this.cache.contains(hex(hash))) {
        this.cache.insert(hex(hash));
        return false;
      }
      this.metrics.inc("ingress_order_cache_hit", { handler: "system", order_type: orderType });
      this.sampleCacheMetrics("system", hash, orderType === "bundle");
      return true;
    };
    switch (method) {
      case "eth_sendBundle": {
        let bundle: RawBundle;
        try {
          bundle = decodeRawBundle(data);
        } catch (err) {
          this.event("ERROR", "flowproxy::ingress", "failed to parse raw bundle from system request", [["e", { debug: bitcodeDebug(err) }]], span);
          this.metrics.inc("ingress_json_rpc_parse_errors", { handler: "system", method });
          return reply("ErrorDecoding", { kind: "String", value: `failed to parse bundle: ${(err as Error).message}` });
        }
        const hash = bundle.bundleHash ?? rawBundleHash(bundle);
        if (cached(hash, "bundle")) return reply("Success", { kind: "Hash", value: hash });
        return accepted(hash, bundle.txs.length);
      }
      case "eth_sendRawTransaction": {
        let tx: Transaction;
        try {
          tx = decodePooledTransaction(data);
        } catch {
          this.metrics.inc("ingress_json_rpc_parse_errors", { handler: "system", method });
          return reply("ErrorDecoding", { kind: "String", value: "failed to parse raw transaction" });
        }
        const hash = Buffer.from(tx.hash.slice(2), "hex");
        if (cached(hash, "transaction")) return reply("Success", { kind: "Hash", value: hash });
        return accepted(hash);
      }
      default:
        this.event("ERROR", "flowproxy::ingress", "method not supported", [], span);
        this.metrics.inc("ingress_json_rpc_unknown_method", { handler: "system", method });
        return reply("ErrorUnknownArgument", { kind: "String", value: `method not found: ${method}` });
    }
  }

  /** The maintenance task of src/lib.rs: every 60 s, entities without recent activity are dropped. */
  private startMaintenance(): void {
    const span: Span[] = [{ name: "ingress_maintanance", fields: [] }];
    const tick = () => {
      if (this.stopped) return;
      const { before, after } = this.entities.maintain();
      this.event("INFO", "flowproxy::ingress", "starting state maintenance", [["entries", before]], span);
      this.metrics.set("ingress_entity_count", { handler: "user" }, after);
      this.event("INFO", "flowproxy::ingress", "finished state maintenance", [["entries", after], ["num_removed", before - after]], span);
      if (this.g === 2) this.event("INFO", "flowproxy", "starting state maintenance!!");
      this.timers.push(setTimeout(tick, 60_000).unref());
    };
    if (this.g === 2) this.event("INFO", "flowproxy", "starting state maintenance!!");
    this.timers.push(setTimeout(tick, 60_000).unref());
  }
}

function fail(): never {
  throw new ParamsError("invalid params");
}

/** serde_json's `json!({"id": 1, "jsonrpc": "2.0", "method": ..., "params": [...]})`, keys in insertion order. */
function jsonRpc(method: string, param: string): string {
  return `{"id":1,"jsonrpc":"2.0","method":"${method}","params":[${param}]}`;
}

/**
 * The TLS client's ciphers: TLS 1.3 suites as tls_connector sets them (src/builderhub/mod.rs@029b7c4
 * DEFAULT_TLS_CIPHERS), TLS 1.2 ciphers as rust-openssl 0.10.75's SslConnector leaves them
 * (ssl/connector.rs ctx): a peer that speaks only TLS 1.2 is reached.
 */
const TLS_CIPHERS =
  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK";

/** OpenSSL's error for SSL_set_tlsext_host_name(""), as into_ssl returns it. */
const EMPTY_SERVER_NAME = "error:0A00013F:SSL routines:ssl3_ctrl:ssl3 ext invalid servername";

/**
 * rust-openssl 0.10.75's setup_verify_hostname (ssl/connector.rs): an IP address is checked
 * against the certificate's IP addresses, a name against its DNS names (else its CN) with
 * X509CheckFlags::NO_PARTIAL_WILDCARDS: a wildcard counts only as a whole left-most label.
 */
export function checkPeerHost(name: string, cert: tls.PeerCertificate): Error | undefined {
  const entries = (cert.subjectaltname ?? "").split(", ").filter((e) => e !== "");
  const partial = (e: string) => e.startsWith("DNS:") && e.slice(4).split(".")[0].includes("*") && e.slice(4).split(".")[0] !== "*";
  const kept = entries.filter((e) => !partial(e));
  if (kept.length === entries.length) {
    return tls.checkServerIdentity(name, cert);
  }
  // Partial wildcards match nothing; a certificate with DNS names still never falls back to its CN.
  const others = kept.length > 0 ? kept.join(", ") : "DNS:";
  return tls.checkServerIdentity(name, { ...cert, subjectaltname: others });
}

/** `?e` of a bitcode::Error (a release build's: see BitcodeError). */
function bitcodeDebug(err: unknown): string {
  return err instanceof BitcodeError ? err.debug : (err as Error).message;
}

function debugTcpData(data: TcpData): string {
  return data.kind === "NoData" ? "NoData" : data.kind === "String" ? `String(${debugString(data.value)})` : `Hash([${[...data.value].join(", ")}])`;
}

function firstHeader(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error("length limit exceeded"));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** std::io::Error's Display for the errors a bind gives. */
function describeIoError(err: NodeJS.ErrnoException): string {
  const known: Record<string, [string, number]> = {
    EADDRINUSE: ["Address already in use", 98],
    EADDRNOTAVAIL: ["Cannot assign requested address", 99],
    EACCES: ["Permission denied", 13],
    EPERM: ["Operation not permitted", 1],
  };
  const entry = err.code ? known[err.code] : undefined;
  return entry ? `${entry[0]} (os error ${entry[1]})` : err.message;
}

/** tokio's ToSocketAddrs for a String: `host:port`, the host resolved when it is a name. */
async function resolveListenAddress(address: string): Promise<{ host: string; port: number }> {
  const direct = parseSocketAddr(address);
  if (direct) return direct;
  const colon = address.lastIndexOf(":");
  const port = Number(address.slice(colon + 1));
  if (colon < 0 || !/^[0-9]+$/.test(address.slice(colon + 1)) || port > 65535) {
    throw new RunError("invalid socket address");
  }
  try {
    return { host: (await lookup(address.slice(0, colon))).address, port };
  } catch {
    throw new RunError("failed to lookup address information: Name or service not known");
  }
}

/** A failed request, with reqwest's Display (metric labels) and a Debug-like text. */
class RequestFailure extends Error {
  constructor(
    readonly display: string,
    readonly debug: string,
    readonly isConnect = false,
  ) {
    super(display);
  }
}

interface RequestOptions {
  method: string;
  headers?: Record<string, string>;
  body?: Buffer;
  tls?: tls.ConnectionOptions;
  connectTimeout?: number;
}

/** A reqwest-like client call: 2 s overall timeout, node:http/https only (no fetch under --jitless). */
function httpRequest(url: string, options: RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new RequestFailure("builder error", "reqwest::Error { kind: Builder }"));
      return;
    }
    const secure = target.protocol === "https:";
    const connectFailure = (err: NodeJS.ErrnoException) =>
      new RequestFailure(
        `error sending request for url (${target.toString()})`,
        `reqwest::Error { kind: Request, url: ${debugString(target.toString())}, source: hyper_util::client::legacy::Error(Connect, ${debugString(err.message)}) }`,
        true,
      );
    let connected = false;
    const request = (secure ? https : http).request(
      target,
      { method: options.method, headers: { accept: "*/*", ...options.headers }, agent: false, ...(secure ? options.tls : {}) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        response.on("error", (err) => reject(connectFailure(err)));
      },
    );
    const overall = setTimeout(() => request.destroy(Object.assign(new Error("operation timed out"), { timedOut: true })), HTTP_TIMEOUT_MS);
    request.on("socket", (socket) => {
      const ready = secure ? "secureConnect" : "connect";
      socket.once(ready, () => {
        connected = true;
      });
      if (options.connectTimeout) {
        const connectTimer = setTimeout(() => {
          if (!connected) request.destroy(new Error("operation timed out"));
        }, options.connectTimeout);
        socket.once(ready, () => clearTimeout(connectTimer));
        socket.once("close", () => clearTimeout(connectTimer));
      }
    });
    request.on("error", (err: NodeJS.ErrnoException & { timedOut?: boolean }) => {
      clearTimeout(overall);
      if (!connected) {
        reject(connectFailure(err));
      } else {
        reject(
          new RequestFailure(
            `error sending request for url (${target.toString()})`,
            `reqwest::Error { kind: Request, url: ${debugString(target.toString())}, source: ${err.timedOut ? "TimedOut" : debugString(err.message)} }`,
          ),
        );
      }
    });
    request.on("close", () => clearTimeout(overall));
    request.end(options.body);
  });
}
