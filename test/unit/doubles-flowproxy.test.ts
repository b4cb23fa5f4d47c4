import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { flowproxyExecutable } from "../../sandbox/doubles";
import { ConfigError, CRASH_LOOP_VARIANT, FlowProxy, loadSettings, parseListenAddress } from "../doubles/flowproxy";
import { addressOfPrivateKey } from "../doubles/keccak";
import { REGISTER_PATH, startMockhub } from "../doubles/mockhub";

const KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-double-"));

function selfSignedCertificate(dir: string, name: string): { cert: string; key: string } {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", `/CN=${name}`, "-keyout", keyFile, "-out", certFile], { stdio: "ignore" });
  return { cert: fs.readFileSync(certFile, "utf8"), key: fs.readFileSync(keyFile, "utf8") };
}

function post(port: number, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/", headers: { "content-type": "application/json", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(typeof body === "string" ? body : JSON.stringify(body));
  });
}

function getStatus(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: urlPath }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  });
}

const until = async (what: string, condition: () => boolean | Promise<boolean>) => {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

test("refuses to start without its required settings, naming them as clap does", () => {
  assert.throws(() => loadSettings({ USER_LISTEN_ADDR: "127.0.0.1:1" }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /--system-listen-addr <SYSTEM_LISTEN_ADDR>/);
    assert.match(err.message, /--buildernet-node-name <BUILDERNET_NODE_NAME>/);
    assert.doesNotMatch(err.message, /USER_LISTEN_ADDR/);
    return true;
  });
  assert.throws(() => parseListenAddress("USER_LISTEN_ADDR", "5543"), /expected HOST:PORT/);
  assert.deepEqual(parseListenAddress("X", "[::1]:80"), { host: "::1", port: 80 });
  assert.throws(() => loadSettings({ USER_LISTEN_ADDR: "a:1", SYSTEM_LISTEN_ADDR: "a:2", BUILDERNET_NODE_NAME: "n", FLASHBOTS_ORDERFLOW_SIGNER: "0x12" }), /FLASHBOTS_ORDERFLOW_SIGNER/);
});

test("the backup database defaults to the home directory and must be writable", async () => {
  const base = { USER_LISTEN_ADDR: "127.0.0.1:0", SYSTEM_LISTEN_ADDR: "127.0.0.1:0", BUILDERNET_NODE_NAME: "n" };
  assert.match(loadSettings(base).backupDbPath, /\.buildernet-of-proxy\/clickhouse-backup\.db$/);
  // A path below a regular file is unwritable even for root, who ignores permissions.
  const blocker = path.join(tempDir(), "file");
  fs.writeFileSync(blocker, "");
  const proxy = new FlowProxy(loadSettings({ ...base, CLICKHOUSE_BACKUP_DISK_DATABASE_PATH: path.join(blocker, "db") }));
  await assert.rejects(proxy.start(), /cannot open the ClickHouse backup database .* set CLICKHOUSE_BACKUP_DISK_DATABASE_PATH/);
});

test("serves health and JSON-RPC; forwards user orderflow to pinned peers and records system orderflow", async () => {
  const dir = tempDir();
  const peerTls = selfSignedCertificate(dir, "peer");
  const otherTls = selfSignedCertificate(dir, "impostor");
  const received: { body: string; origin?: string }[] = [];
  // The peer's HAProxy: TLS on the system port, in front of its FlowProxy.
  const peer = https.createServer({ cert: peerTls.cert, key: peerTls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ body: Buffer.concat(chunks).toString(), origin: req.headers["x-sandbox-origin"] as string | undefined });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => peer.listen(0, "127.0.0.1", r));
  const peerPort = (peer.address() as { port: number }).port;

  const hub = await startMockhub({ systemPort: peerPort, stateDir: path.join(dir, "hub"), host: "127.0.0.1", port: 0 });
  const hubPort = (hub.address() as { port: number }).port;
  const register = (address: string, cert: string) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: hubPort, method: "POST", path: REGISTER_PATH, headers: { "content-type": "application/json" } }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.end(JSON.stringify({ tls_cert: cert, ecdsa_pubkey_address: address }));
    });
  // From the hub's point of view every registration comes from 127.0.0.1, so one entry at a time.
  await register("0x0000000000000000000000000000000000000001", peerTls.cert);

  const stateDir = path.join(dir, "state");
  const proxy = new FlowProxy({
    ...loadSettings({
      USER_LISTEN_ADDR: "127.0.0.1:0",
      SYSTEM_LISTEN_ADDR: "127.0.0.1:0",
      METRICS_ADDR: "127.0.0.1:0",
      BUILDERNET_NODE_NAME: "vm-test",
      BUILDERHUB_ENDPOINT: `http://127.0.0.1:${hubPort}/`,
      FLASHBOTS_ORDERFLOW_SIGNER: KEY,
      CLICKHOUSE_BACKUP_DISK_DATABASE_PATH: path.join(stateDir, "clickhouse-backup.db"),
      STATE_DIRECTORY: stateDir,
    }),
    peerPollMs: 100,
  });
  proxy.log = () => undefined;
  await proxy.start();
  const [user, system, metrics] = proxy.addresses().map((a) => a.port);
  try {
    assert.equal(await getStatus(user, "/livez"), 200);
    assert.equal(await getStatus(system, "/readyz"), 200);
    assert.equal(await getStatus(user, "/nope"), 404);
    assert.equal((await post(user, "{oops")).status, 400);
    assert.match((await post(user, { jsonrpc: "2.0", id: 1, method: "eth_call", params: [] })).body, /-32601/);

    const bundle = { jsonrpc: "2.0", id: 7, method: "eth_sendBundle", params: [{ txs: ["0x01"], blockNumber: "0x10" }] };
    const reply = JSON.parse((await post(user, bundle)).body) as { id: number; result: { bundleHash: string } };
    assert.equal(reply.id, 7);
    assert.match(reply.result.bundleHash, /^0x[0-9a-f]{64}$/);
    await until("the peer to receive the bundle", () => received.length === 1);
    assert.deepEqual(JSON.parse(received[0].body), bundle);
    assert.equal(received[0].origin, "vm-test");

    const metric = (name: string) =>
      new Promise<number>((resolve) =>
        http.get({ host: "127.0.0.1", port: metrics, path: "/metrics" }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve(Number(new RegExp(`^flowproxy_${name} (\\d+)$`, "m").exec(body)?.[1] ?? 0)));
        }),
      );
    const pollInterval = () => new Promise((r) => setTimeout(r, 300));

    // A peer presenting another certificate than the one it registered gets nothing.
    await register("0x0000000000000000000000000000000000000002", otherTls.cert);
    await pollInterval();
    await post(user, bundle);
    await until("the forwarding to fail", async () => (await metric("forwarded_failed_total")) === 1);
    assert.equal(received.length, 1);

    // Its own registration is not a peer.
    await register(addressOfPrivateKey(KEY), peerTls.cert);
    await pollInterval();
    assert.equal(await metric("peers"), 0);
    await post(user, bundle);
    await pollInterval();
    assert.equal(received.length, 1);

    await post(system, { jsonrpc: "2.0", id: 9, method: "mev_sendBundle", params: [{ version: "v0.1" }] }, { "x-sandbox-origin": "vm-peer" });
    const lines = fs.readFileSync(path.join(stateDir, "received.jsonl"), "utf8").trim().split("\n");
    const entry = JSON.parse(lines[lines.length - 1]) as { method: string; origin: string; node: string };
    assert.deepEqual([entry.method, entry.origin, entry.node], ["mev_sendBundle", "vm-peer", "vm-test"]);
  } finally {
    await proxy.stop();
    hub.close();
    peer.close();
  }
});

test("each answer names the server and the node that gave it", async () => {
  const stateDir = tempDir();
  const proxy = new FlowProxy(
    loadSettings({
      USER_LISTEN_ADDR: "127.0.0.1:0",
      SYSTEM_LISTEN_ADDR: "127.0.0.1:0",
      BUILDERNET_NODE_NAME: "vm-test",
      CLICKHOUSE_BACKUP_DISK_DATABASE_PATH: path.join(stateDir, "clickhouse-backup.db"),
    }),
  );
  proxy.log = () => undefined;
  await proxy.start();
  try {
    const [user, system] = proxy.addresses().map((a) => a.port);
    for (const [port, endpoint] of [[user, "user"], [system, "system"]] as const) {
      const headers = await new Promise<http.IncomingHttpHeaders>((resolve, reject) =>
        http.get({ host: "127.0.0.1", port, path: "/livez" }, (res) => {
          res.resume();
          resolve(res.headers);
        }).on("error", reject),
      );
      assert.deepEqual([headers["x-flowproxy-endpoint"], headers["x-flowproxy-node"]], [endpoint, "vm-test"]);
    }
  } finally {
    await proxy.stop();
  }
});

test("the crash-loop build panics at start, every time", () => {
  const file = path.join(tempDir(), "flowproxy");
  fs.writeFileSync(file, flowproxyExecutable(CRASH_LOOP_VARIANT), { mode: 0o755 });
  const env = { USER_LISTEN_ADDR: "127.0.0.1:0", SYSTEM_LISTEN_ADDR: "127.0.0.1:0", BUILDERNET_NODE_NAME: "vm-test" };
  const result = spawnSync(process.execPath, [file], { env, encoding: "utf8" });
  assert.equal(result.status, 101);
  assert.match(result.stderr, /^thread 'main' panicked/);
});
