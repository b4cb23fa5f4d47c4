import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { BUILDERS_PATH, Builder, parseRegistration, REGISTER_PATH, Registry, startMockhub } from "../doubles/mockhub";

const ADDRESS = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const CHECKSUMMED = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "mockhub-"));

test("a registration body is checked as axum's Json extractor checks it", () => {
  const json = "application/json";
  assert.equal((parseRegistration(undefined, "{}") as { status: number }).status, 415);
  assert.equal((parseRegistration("application/x-www-form-urlencoded", "{}") as { status: number }).status, 415);
  assert.equal((parseRegistration(json, "{not json") as { status: number }).status, 400);
  assert.equal((parseRegistration(json, "{}") as { status: number }).status, 422);
  assert.equal((parseRegistration(json, JSON.stringify({ ecdsa_pubkey_address: "0x1234" })) as { status: number }).status, 422);
  assert.equal((parseRegistration(json, JSON.stringify({ ecdsa_pubkey_address: ADDRESS, tls_cert: 5 })) as { status: number }).status, 422);
  assert.deepEqual(parseRegistration("application/json; charset=utf-8", JSON.stringify({ ecdsa_pubkey_address: ADDRESS })), {
    ok: true,
    value: { tls_cert: null, ecdsa_pubkey_address: CHECKSUMMED },
  });
});

test("a registration replaces the entry from the same source IP or with the same signer, and persists", () => {
  const file = path.join(tempDir(), "registrations.json");
  const registry = new Registry(file, 5544);
  registry.register("10.10.1.4", { tls_cert: PEM, ecdsa_pubkey_address: CHECKSUMMED });
  registry.register("10.20.1.4", { tls_cert: PEM, ecdsa_pubkey_address: "0x0000000000000000000000000000000000000001" });
  registry.register("10.10.1.4", { tls_cert: PEM, ecdsa_pubkey_address: "0x0000000000000000000000000000000000000002" });
  registry.register("10.30.1.4", { tls_cert: PEM, ecdsa_pubkey_address: "0x0000000000000000000000000000000000000001" });
  const reloaded = new Registry(file, 5544).list();
  assert.deepEqual(reloaded.map((b) => b.ip), ["10.10.1.4:5544", "10.30.1.4:5544"]);
  assert.deepEqual(reloaded[0], {
    name: "0x0000000000000000000000000000000000000002",
    ip: "10.10.1.4:5544",
    dns_name: "10.10.1.4",
    orderflow_proxy: { tls_cert: PEM, ecdsa_pubkey_address: "0x0000000000000000000000000000000000000002" },
    instance: { tls_cert: "" },
  });
});

function request(port: number, method: string, urlPath: string, body?: string, contentType = "application/json"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: urlPath, headers: body ? { "content-type": contentType } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("serves registration and the builders list on its API, with the source IP and SYSTEM_PORT", async () => {
  const server = await startMockhub({ systemPort: 5544, stateDir: tempDir(), host: "127.0.0.1", port: 0 });
  const port = (server.address() as { port: number }).port;
  try {
    const registered = await request(port, "POST", REGISTER_PATH, JSON.stringify({ tls_cert: PEM, ecdsa_pubkey_address: ADDRESS }));
    assert.equal(registered.status, 200);
    assert.equal((await request(port, "POST", REGISTER_PATH, "x=1", "application/x-www-form-urlencoded")).status, 415);
    const builders = await request(port, "GET", BUILDERS_PATH);
    const list = JSON.parse(builders.body) as Builder[];
    assert.equal(list.length, 1);
    assert.equal(list[0].ip, "127.0.0.1:5544");
    assert.equal(list[0].orderflow_proxy.tls_cert, PEM);
    assert.equal((await request(port, "GET", REGISTER_PATH)).status, 405);
    assert.equal((await request(port, "GET", "/")).status, 404);
  } finally {
    server.close();
  }
});

test("fault switch: down drops connections, flap fails every other request, error always", async () => {
  const stateDir = tempDir();
  const server = await startMockhub({ systemPort: 5544, stateDir, host: "127.0.0.1", port: 0 });
  const port = (server.address() as { port: number }).port;
  try {
    fs.writeFileSync(path.join(stateDir, "fault"), "down\n");
    await assert.rejects(request(port, "GET", BUILDERS_PATH), /socket hang up|ECONNRESET/);
    fs.writeFileSync(path.join(stateDir, "fault"), "flap");
    const statuses = [(await request(port, "GET", BUILDERS_PATH)).status, (await request(port, "GET", BUILDERS_PATH)).status];
    assert.deepEqual(statuses.sort(), [200, 503]);
    fs.writeFileSync(path.join(stateDir, "fault"), "error");
    assert.equal((await request(port, "GET", BUILDERS_PATH)).status, 500);
    fs.rmSync(path.join(stateDir, "fault"));
    assert.equal((await request(port, "GET", BUILDERS_PATH)).status, 200);
  } finally {
    server.close();
  }
});
