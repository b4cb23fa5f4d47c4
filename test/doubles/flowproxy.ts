// Stand-in for the FlowProxy binary (BuilderNet/FlowProxy, Rust), shipped to the sandbox VMs inside
// the GitHub artifact double's zip. Test code: it never ships to Azure. It honours FlowProxy's
// runtime contract (environment, endpoints, BuilderHub peers) closely enough to prove the stack's
// wiring: HAProxy in front, the unit's sandboxing, registration, and east-west orderflow.
//
// - USER_LISTEN_ADDR, SYSTEM_LISTEN_ADDR and BUILDERNET_NODE_NAME are required; METRICS_ADDR,
//   BUILDERHUB_ENDPOINT, FLASHBOTS_ORDERFLOW_SIGNER, CLICKHOUSE_BACKUP_DISK_DATABASE_PATH and LOG_JSON
//   are honoured; the other ClickHouse settings are accepted and not used (no ClickHouse here).
// - Both servers answer GET /livez, /health, /readyz and JSON-RPC on POST / (eth_sendBundle,
//   eth_sendRawTransaction, mev_sendBundle). /readyz answers 503 until BuilderHub has answered once.
// - Orderflow from the user endpoint goes to every other peer BuilderHub lists (not the one with its
//   own signer address), at https://<ip>/, trusting exactly the certificate that peer registered
//   (pinned, no hostname check: ip is an IP).
// - Requests received on the system endpoint are appended to received.jsonl in $STATE_DIRECTORY
//   (or beside the backup database), so a test can see them arrive.
// - Every answer of the user and system servers names the server and node in the headers
//   x-flowproxy-endpoint and x-flowproxy-node, so a test from outside can tell which one answered.
// - The build variant "crash-loop" stands for a broken release: it panics at start, every time.
// It runs under `node --jitless` (see the shebang sandbox/doubles.ts gives it): V8's JIT needs
// writable and executable memory, which MemoryDenyWriteExecute=yes forbids. That also turns off
// WebAssembly, and with it fetch(), so it speaks HTTP through node:http only.
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { addressOfPrivateKey, keccak256, newKeypair } from "./keccak";

export const BUILDERS_PATH = "/api/l1-builder/v1/builders";
export const PEER_POLL_MS = 2000;
const FORWARD_TIMEOUT_MS = 5000;
const ORDERFLOW_METHODS = new Set(["eth_sendBundle", "eth_sendRawTransaction", "mev_sendBundle"]);

/** The build variant, set by the artifact builder so a test can ship a visibly different binary. */
export const VARIANT = (globalThis as { FLOWPROXY_DOUBLE_VARIANT?: string }).FLOWPROXY_DOUBLE_VARIANT ?? "dev";
export const CRASH_LOOP_VARIANT = "crash-loop";

export interface Settings {
  userListen: { host: string; port: number };
  systemListen: { host: string; port: number };
  metricsListen?: { host: string; port: number };
  nodeName: string;
  builderhubEndpoint?: string;
  signerAddress: string;
  backupDbPath: string;
  stateDir: string;
  logJson: boolean;
  peerPollMs: number;
}

export class ConfigError extends Error {}

export function parseListenAddress(name: string, value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new ConfigError(`invalid value '${value}' for ${name}: expected HOST:PORT, e.g. 127.0.0.1:5543`);
  }
  return { host: match[1] ?? match[2], port };
}

const REQUIRED = [
  ["USER_LISTEN_ADDR", "--user-listen-addr"],
  ["SYSTEM_LISTEN_ADDR", "--system-listen-addr"],
  ["BUILDERNET_NODE_NAME", "--buildernet-node-name"],
] as const;

export function loadSettings(env: NodeJS.ProcessEnv): Settings {
  const missing = REQUIRED.filter(([name]) => !env[name]);
  if (missing.length > 0) {
    // clap's wording, which the real binary prints.
    throw new ConfigError(
      "the following required arguments were not provided:\n" +
        missing.map(([name, flag]) => `  ${flag} <${name}>`).join("\n"),
    );
  }
  const signer = env.FLASHBOTS_ORDERFLOW_SIGNER;
  let signerAddress: string;
  try {
    signerAddress = signer ? addressOfPrivateKey(signer) : newKeypair().address;
  } catch (err) {
    throw new ConfigError(`invalid FLASHBOTS_ORDERFLOW_SIGNER: ${(err as Error).message}`);
  }
  const backupDbPath =
    env.CLICKHOUSE_BACKUP_DISK_DATABASE_PATH ||
    path.join(os.homedir(), ".buildernet-of-proxy", "clickhouse-backup.db");
  return {
    userListen: parseListenAddress("USER_LISTEN_ADDR", env.USER_LISTEN_ADDR as string),
    systemListen: parseListenAddress("SYSTEM_LISTEN_ADDR", env.SYSTEM_LISTEN_ADDR as string),
    metricsListen: env.METRICS_ADDR ? parseListenAddress("METRICS_ADDR", env.METRICS_ADDR) : undefined,
    nodeName: env.BUILDERNET_NODE_NAME as string,
    builderhubEndpoint: env.BUILDERHUB_ENDPOINT?.replace(/\/+$/, "") || undefined,
    signerAddress,
    backupDbPath,
    // systemd's StateDirectory= may list several directories, separated by colons.
    stateDir: env.STATE_DIRECTORY?.split(":")[0] || path.dirname(backupDbPath),
    logJson: env.LOG_JSON === "true" || env.LOG_JSON === "1",
    peerPollMs: PEER_POLL_MS,
  };
}

export interface Peer {
  name: string;
  ip: string;
  orderflow_proxy: { tls_cert: string | null; ecdsa_pubkey_address: string };
}

export function pemToDer(pem: string): Buffer {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!match) {
    throw new Error("no PEM certificate");
  }
  return Buffer.from(match[1].replace(/\s+/g, ""), "base64");
}

function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(address.slice(colon + 1)) };
}

/** POSTs body to https://<peer.ip>/ if and only if the peer presents the certificate it registered. */
export function sendPinned(peer: Peer, body: string, headers: Record<string, string>): Promise<number> {
  const registered = peer.orderflow_proxy.tls_cert;
  if (!registered) {
    return Promise.reject(new Error("the peer registered no TLS certificate"));
  }
  const expected = pemToDer(registered);
  const { host, port } = splitHostPort(peer.ip);
  return new Promise((resolve, reject) => {
    // Chain validation is replaced by pinning: the registered certificate is self-signed.
    const socket = tls.connect({ host, port, rejectUnauthorized: false });
    socket.setTimeout(FORWARD_TIMEOUT_MS, () => socket.destroy(new Error("timed out")));
    socket.once("error", reject);
    socket.once("secureConnect", () => {
      if (!socket.getPeerCertificate().raw.equals(expected)) {
        socket.destroy();
        reject(new Error("the peer's certificate is not the one it registered with BuilderHub"));
        return;
      }
      const request = http.request(
        {
          createConnection: () => socket,
          host,
          port,
          method: "POST",
          path: "/",
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers },
        },
        (response) => {
          response.resume();
          response.on("end", () => {
            socket.end();
            resolve(response.statusCode ?? 0);
          });
        },
      );
      request.on("error", reject);
      request.end(body);
    });
  });
}

/** GET over plain HTTP. Not fetch(): undici needs WebAssembly, which --jitless turns off. */
function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { timeout: FORWARD_TIMEOUT_MS }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () =>
        response.statusCode === 200
          ? resolve(Buffer.concat(chunks).toString("utf8"))
          : reject(new Error(`HTTP ${response.statusCode}`)),
      );
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", reject);
  });
}

interface RpcRequest {
  jsonrpc?: string;
  id?: unknown;
  method?: unknown;
  params?: unknown;
}

type Endpoint = "user" | "system";

export class FlowProxy {
  private peers: Peer[] = [];
  private builderhubAnswered = false;
  private readonly counters = new Map<string, number>();
  private readonly servers: http.Server[] = [];
  private pollTimer?: NodeJS.Timeout;
  private backupDb?: number;

  constructor(private readonly settings: Settings) {}

  log(message: string, fields: Record<string, unknown> = {}): void {
    if (this.settings.logJson) {
      console.log(JSON.stringify({ timestamp: new Date().toISOString(), level: "INFO", message, ...fields }));
    } else {
      const extra = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
      console.log([message, ...extra].join(" "));
    }
  }

  private count(metric: string): void {
    this.counters.set(metric, (this.counters.get(metric) ?? 0) + 1);
  }

  private get receivedFile(): string {
    return path.join(this.settings.stateDir, "received.jsonl");
  }

  /** Opens (creating) the backup database: like the real one, FlowProxy cannot run without it. */
  private openBackupDb(): void {
    const file = this.settings.backupDbPath;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      this.backupDb = fs.openSync(file, "a");
    } catch (err) {
      throw new ConfigError(
        `cannot open the ClickHouse backup database at ${file} (${(err as NodeJS.ErrnoException).code}); ` +
          "set CLICKHOUSE_BACKUP_DISK_DATABASE_PATH to a writable path, e.g. in the unit's StateDirectory",
      );
    }
  }

  async start(): Promise<void> {
    this.openBackupDb();
    const { userListen, systemListen, metricsListen } = this.settings;
    await this.listen(userListen, (req, res) => this.handleOrderflow("user", req, res));
    await this.listen(systemListen, (req, res) => this.handleOrderflow("system", req, res));
    if (metricsListen) {
      await this.listen(metricsListen, (req, res) => this.handleMetrics(req, res));
    }
    this.log("flowproxy started", {
      version: VARIANT,
      node: this.settings.nodeName,
      signer: this.settings.signerAddress,
      user: `${userListen.host}:${userListen.port}`,
      system: `${systemListen.host}:${systemListen.port}`,
    });
    if (this.settings.builderhubEndpoint) {
      await this.pollPeers();
      this.pollTimer = setInterval(() => void this.pollPeers(), this.settings.peerPollMs);
    } else {
      this.log("BUILDERHUB_ENDPOINT is not set: no peers");
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.pollTimer);
    await Promise.all(
      this.servers.map((s) => {
        const closed = new Promise((resolve) => s.close(resolve));
        s.closeAllConnections();
        return closed;
      }),
    );
    if (this.backupDb !== undefined) {
      fs.closeSync(this.backupDb);
    }
  }

  addresses(): { port: number }[] {
    return this.servers.map((s) => s.address() as { port: number });
  }

  private listen(address: { host: string; port: number }, handler: http.RequestListener): Promise<void> {
    const server = http.createServer(handler);
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(new ConfigError(`cannot listen on ${address.host}:${address.port}: ${err.code}`)),
      );
      server.listen(address.port, address.host, () => resolve());
    });
  }

  private async pollPeers(): Promise<void> {
    const url = `${this.settings.builderhubEndpoint}${BUILDERS_PATH}`;
    try {
      const list = JSON.parse(await httpGet(url)) as Peer[];
      // A proxy knows itself in the list by its signer address, as the real one does (the unit's
      // RestrictAddressFamilies= would not even let it list its own IP addresses).
      const own = this.settings.signerAddress.toLowerCase();
      const peers = list.filter((p) => p.orderflow_proxy.ecdsa_pubkey_address.toLowerCase() !== own);
      const before = this.peers.map((p) => `${p.name}@${p.ip}`).join(",");
      const after = peers.map((p) => `${p.name}@${p.ip}`).join(",");
      if (before !== after) {
        this.log("peers changed", { peers: peers.map((p) => ({ name: p.name, ip: p.ip })) });
      }
      this.peers = peers;
      this.builderhubAnswered = true;
    } catch (err) {
      this.count("builderhub_errors");
      this.log("cannot fetch peers from BuilderHub", { url, error: (err as Error).message });
    }
  }

  private handleOrderflow(endpoint: Endpoint, req: http.IncomingMessage, res: http.ServerResponse): void {
    res.setHeader("x-flowproxy-endpoint", endpoint);
    res.setHeader("x-flowproxy-node", this.settings.nodeName);
    const url = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && (url === "/livez" || url === "/health" || url === "/readyz")) {
      const ready = url !== "/readyz" || !this.settings.builderhubEndpoint || this.builderhubAnswered;
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" });
      res.end(ready ? "OK\n" : "not ready: BuilderHub has not answered yet\n");
      return;
    }
    if (req.method !== "POST" || url !== "/") {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => this.handleRpc(endpoint, req, Buffer.concat(chunks), res));
  }

  private handleRpc(endpoint: Endpoint, req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): void {
    const reply = (status: number, body: object) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", ...body }));
    };
    let rpc: RpcRequest;
    try {
      rpc = JSON.parse(raw.toString("utf8")) as RpcRequest;
    } catch {
      reply(400, { id: null, error: { code: -32700, message: "Parse error" } });
      return;
    }
    const method = typeof rpc.method === "string" ? rpc.method : "";
    if (!ORDERFLOW_METHODS.has(method)) {
      reply(200, { id: rpc.id ?? null, error: { code: -32601, message: "Method not found" } });
      return;
    }
    this.count(`requests_${endpoint}_${method}`);
    const hash = `0x${keccak256(raw).toString("hex")}`;
    if (endpoint === "system") {
      this.record(req, rpc, hash);
    } else {
      this.forward(raw.toString("utf8"), hash);
    }
    reply(200, { id: rpc.id ?? null, result: method === "eth_sendRawTransaction" ? hash : { bundleHash: hash } });
  }

  private record(req: http.IncomingMessage, rpc: RpcRequest, hash: string): void {
    const entry = {
      receivedAt: new Date().toISOString(),
      node: this.settings.nodeName,
      method: rpc.method,
      params: rpc.params,
      hash,
      origin: req.headers["x-sandbox-origin"] ?? null,
    };
    fs.appendFileSync(this.receivedFile, `${JSON.stringify(entry)}\n`);
  }

  private forward(body: string, hash: string): void {
    for (const peer of this.peers) {
      sendPinned(peer, body, { "x-sandbox-origin": this.settings.nodeName }).then(
        (status) => {
          this.count(status === 200 ? "forwarded_ok" : "forwarded_failed");
          this.log("forwarded", { peer: peer.ip, hash, status });
        },
        (err: Error) => {
          this.count("forwarded_failed");
          this.log("forwarding failed", { peer: peer.ip, hash, error: err.message });
        },
      );
    }
  }

  private handleMetrics(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== "GET" || (req.url ?? "/").split("?")[0] !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    const lines = [
      `flowproxy_info{version="${VARIANT}",node="${this.settings.nodeName}",signer="${this.settings.signerAddress}"} 1`,
      `flowproxy_peers ${this.peers.length}`,
      ...[...this.counters].map(([name, value]) => `flowproxy_${name}_total ${value}`),
    ];
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    res.end(`${lines.join("\n")}\n`);
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === "--version" || process.argv[2] === "-V") {
    console.log(`flowproxy ${VARIANT} (sandbox double)`);
    return;
  }
  if (VARIANT === CRASH_LOOP_VARIANT) {
    // A Rust panic's wording and exit status; systemd's Restart=on-failure makes it a loop.
    console.error("thread 'main' panicked at src/main.rs: this build of the sandbox double always crashes");
    process.exit(101);
  }
  let proxy: FlowProxy;
  try {
    proxy = new FlowProxy(loadSettings(process.env));
    await proxy.start();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      proxy.log(`received ${signal}, shutting down`);
      void proxy.stop().then(() => process.exit(0));
    });
  }
}

if (require.main === module) {
  void main();
}
