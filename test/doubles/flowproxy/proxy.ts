// The FlowProxy runtime as the two followed revisions have it: src/lib.rs (run, the listeners, the
// maintenance task). The rest is by protocol, each file citing what it follows: the user API
// (user.ts) and the system API (system.ts, HTTP at 258bbd6 and msg-rs TCP at 029b7c4), both
// JSON-RPC as src/jsonrpc.rs has it (jsonrpc.ts) and signed (signature.ts); registration and peers
// with BuilderHub (builderhub.ts, over client.ts); forwarding to peers (forward.ts, forward-http.ts
// at 258bbd6, forward-tcp.ts at 029b7c4); the metrics endpoint (metrics-server.ts).
import { lookup } from "node:dns/promises";
import * as http from "node:http";
import * as net from "node:net";
import { fetchPeers, Peer, register, updatePeers } from "./builderhub";
import { Generation, parseSocketAddr, Settings } from "./cli";
import { httpRequest } from "./client";
import type { ProxyCore } from "./core";
import { Signer, toChecksumAddress } from "./crypto";
import { declareMetrics } from "./declare";
import { Entities, OrderCache } from "./entities";
import { describeIoError, Panic, RunError } from "./errors";
import type { PeerHandle } from "./forward";
import { Fields, Level, Logger, Span } from "./log";
import { Registry } from "./metrics";
import { startMetrics } from "./metrics-server";
import { RepServer } from "./msg";
import { writeJsonId } from "./serdejson";
import { systemHttpHandler, systemTcpHandler } from "./system";
import { userHandler } from "./user";

/** src/builderhub/mod.rs@258bbd6: the peer list is read every 30 s, a constant at that revision. */
const GENERATION_1_PEER_INTERVAL_S = 30;

export interface ProxyOptions {
  generation: Generation;
  settings: Settings;
  gitHash: string;
  version: string;
  logger: Logger;
  /** A critical task failed after start: upstream shuts down. */
  onFatal: (error: Panic | RunError) => void;
}

export class FlowProxy implements ProxyCore {
  readonly signer: Signer;
  readonly metrics = new Registry("flowproxy_");
  readonly g: Generation;
  readonly s: Settings;
  private readonly log: Logger;
  readonly peers = new Map<string, PeerHandle>();
  readonly cache: OrderCache;
  readonly entities: Entities;
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
    this.signer = this.s.FLASHBOTS_ORDERFLOW_SIGNER
      ? Signer.fromHex(this.s.FLASHBOTS_ORDERFLOW_SIGNER)
      : Signer.random();
    this.cache = new OrderCache(Number(this.s.order_cache_ttl) * 1000);
    this.entities = new Entities(
      Number(this.s.score_lookback_s) * 1000,
      Number(this.s.score_bucket_s) * 1000,
      Number(this.s.rate_limit_lookback_s) * 1000,
    );
    declareMetrics(this.metrics, this.g);
  }

  event(level: Level, target: string, message: string, fields: Fields = [], spans: Span[] = []): void {
    this.log.event(level, target, message, fields, spans);
  }

  /** Ports actually bound (for tests that listen on port 0). */
  get ports(): { user: number; system: number; metrics?: number } {
    const port = (s?: http.Server | RepServer) => (s ? (s.address() as net.AddressInfo).port : 0);
    return {
      user: port(this.userServer),
      system: port(this.systemServer),
      metrics: this.metricsServer ? port(this.metricsServer) : undefined,
    };
  }

  /** src/lib.rs run() and run_with_listeners() at the followed revision. */
  async start(): Promise<void> {
    if (this.g === 2) {
      const resume = BigInt(this.s.DISK_BACKUP_SIZE_TO_RESUME_FLOW_THRESHOLD_MB as string);
      const reject = BigInt(this.s.DISK_BACKUP_SIZE_REJECT_FLOW_THRESHOLD_MB as string);
      if (resume > reject) {
        throw new RunError(
          `disk-backup-size-to-resume-flow-threshold-mb (${resume}) must be <= disk-backup-size-reject-flow-threshold-mb (${reject})`,
        );
      }
    }
    if (this.s.METRICS_ADDR !== undefined) {
      this.metricsServer = await startMetrics(this, this.s.METRICS_ADDR, this.options);
      this.servers.push(this.metricsServer);
    }
    this.userServer = await this.bindHttp(this.s.USER_LISTEN_ADDR as string, (req, res) =>
      this.serveUserOrSystem("user", req, res),
    );
    if (this.g === 1) {
      this.systemServer = await this.bindHttp(this.s.SYSTEM_LISTEN_ADDR as string, (req, res) =>
        this.serveUserOrSystem("system", req, res),
      );
    } else {
      // src/lib.rs@029b7c4: the RepSocket's bind is `.expect("to bind tcp socket address")`.
      const address = parseSocketAddr(this.s.SYSTEM_LISTEN_ADDR as string) as { host: string; port: number };
      const rep = new RepServer(
        (payload) => systemTcpHandler(this, payload),
        (error) =>
          this.event("DEBUG", "msg_socket::rep::driver", "failed to read from connection", [["e", { debug: error }]]),
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
        this.event(
          "WARN",
          "flowproxy",
          "No orderflow signer was configured, using a random signer. Fix this by passing `--orderflow-signer <PRIVATE KEY>`",
        );
      }
      this.event("INFO", "flowproxy", "Orderflow signer configured", [
        ["address", { display: toChecksumAddress(this.signer.address) }],
      ]);
    } else {
      this.validateUrls();
      if (this.s.FLASHBOTS_ORDERFLOW_SIGNER !== undefined) {
        this.event(
          "WARN",
          "flowproxy",
          "orderflow signer provided via cli, this is discouraged in production environments",
        );
      }
      this.event("INFO", "flowproxy", "running with orderflow signer", [
        ["address", { display: toChecksumAddress(this.signer.address) }],
      ]);
    }

    const builderhubEndpoint = this.s.BUILDERHUB_ENDPOINT;
    const interval = this.g === 1 ? GENERATION_1_PEER_INTERVAL_S : Number(this.s.PEER_UPDATE_INTERVAL_S);
    if (builderhubEndpoint !== undefined) {
      this.event("DEBUG", "flowproxy", "Running with BuilderHub", [["url", builderhubEndpoint]]);
      await register(this, builderhubEndpoint);
      this.runPeerUpdater(() => fetchPeers(builderhubEndpoint), interval);
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
      this.event("INFO", "flowproxy", "starting system tcp listener", [
        ["addr", { debug: `Some(${this.boundAddress(this.systemServer)})` }],
      ]);
    }
    this.event("INFO", "ingress", "Starting user ingress server", [
      ["addr", { debug: this.boundAddress(this.userServer) }],
    ]);
    if (this.g === 1) {
      this.event("INFO", "ingress", "Starting system ingress server", [
        ["addr", { debug: this.boundAddress(this.systemServer) }],
      ]);
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

  // --- BuilderHub (builderhub.ts) -----------------------------------------------------------------

  /** PeersUpdater::run: update, then sleep the interval, forever (a critical task). */
  private runPeerUpdater(get: () => Promise<Peer[]>, intervalS: number): void {
    const loop = async () => {
      if (this.stopped) return;
      try {
        await updatePeers(this, get);
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
      this.metrics.observe(
        "ingress_http_request_duration",
        { handler: "user", method: req.method ?? "", path, status: String(status) },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
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
      void this.ready().then(({ status, body }) =>
        finish(status, { "content-type": "text/plain; charset=utf-8" }, body),
      );
      return;
    }
    readBody(req, Number(this.s.max_request_size)).then(
      (body) => {
        const handled =
          endpoint === "user" ? userHandler(this, req.headers, body) : systemHttpHandler(this, req.headers, body);
        void handled.then((reply) => {
          if ("dropped" in reply) {
            // A panic in the handler: hyper drops the connection without an answer.
            req.socket.destroy();
            return;
          }
          const status = "error" in reply ? reply.error.status : 200;
          const payload = "error" in reply ? { code: reply.error.code, message: reply.error.message } : undefined;
          // The id as serde_json writes its Value back ("1.0" stays "1.0"), then the rest.
          const rest =
            "error" in reply
              ? JSON.stringify({ jsonrpc: "2.0", error: payload })
              : JSON.stringify({ jsonrpc: "2.0", result: reply.result });
          const json = `{"id":${writeJsonId(reply.id)},${rest.slice(1)}`;
          finish(status, { "content-type": "application/json" }, json);
        });
      },
      () =>
        finish(
          413,
          { "content-type": "text/plain; charset=utf-8" },
          "Failed to buffer the request body: length limit exceeded",
        ),
    );
  }

  /** OrderflowIngress::ready_handler: asks BUILDER_READY_ENDPOINT's /readyz (default http://127.0.0.1:6070). */
  private async ready(): Promise<{ status: number; body: string }> {
    const base = this.s.BUILDER_READY_ENDPOINT as string;
    const url = new URL("readyz", base).toString();
    try {
      const response = await httpRequest(url, { method: "GET" });
      if (response.status >= 200 && response.status <= 299) {
        this.event(
          "INFO",
          "flowproxy::ingress",
          "local builder is ready",
          [["url", { display: url }]],
          [{ name: "ingress_readyz", fields: [] }],
        );
        return { status: 200, body: "OK" };
      }
      this.event("ERROR", "flowproxy::ingress", "local builder is not ready", [
        ["url", { display: url }],
        ["status", { display: `${response.status} ${http.STATUS_CODES[response.status] ?? ""}`.trim() }],
      ]);
      return { status: 503, body: this.g === 1 ? "not ready" : "builder not ready" };
    } catch {
      this.event(
        "ERROR",
        "flowproxy::ingress",
        "error sending readyz request",
        [["url", { display: url }]],
        [{ name: "ingress_readyz", fields: [] }],
      );
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

  /** The maintenance task of src/lib.rs: every 60 s, entities without recent activity are dropped. */
  private startMaintenance(): void {
    const span: Span[] = [{ name: "ingress_maintanance", fields: [] }];
    const tick = () => {
      if (this.stopped) return;
      const { before, after } = this.entities.maintain();
      this.event("INFO", "flowproxy::ingress", "starting state maintenance", [["entries", before]], span);
      this.metrics.set("ingress_entity_count", { handler: "user" }, after);
      this.event(
        "INFO",
        "flowproxy::ingress",
        "finished state maintenance",
        [
          ["entries", after],
          ["num_removed", before - after],
        ],
        span,
      );
      if (this.g === 2) this.event("INFO", "flowproxy", "starting state maintenance!!");
      this.timers.push(setTimeout(tick, 60_000).unref());
    };
    if (this.g === 2) this.event("INFO", "flowproxy", "starting state maintenance!!");
    this.timers.push(setTimeout(tick, 60_000).unref());
  }
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
