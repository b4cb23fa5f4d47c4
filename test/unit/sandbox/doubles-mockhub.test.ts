// The BuilderHub double against mockhub v0.0.6: BuilderNet/FlowProxy simulation/mockhub/src/main.rs
// at b56e719, with the crates its Cargo.lock pins. Each test names the upstream file it follows.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { test } from "node:test";
import {
  displayAddress,
  enableTlsFrom,
  isJsonContentType,
  MockhubOptions,
  parseRegistration,
  reverseLookup,
  ryuFormat,
  startMockhub,
  systemPortFrom,
} from "../../doubles/mockhub";
import type { BuilderListing } from "../../../lib/contract";
import { spawnAsync } from "../../support/processes";
import { MOCKHUB_INJECTED_FILE } from "../../../sandbox/doubles-interface";
import { scratchDir } from "../../support/scratch";

// main.rs's routes at b56e719: the double must answer exactly these.
const REGISTER_PATH = "/api/l1-builder/v1/register_credentials/orderflow_proxy";
const BUILDERS_PATH = "/api/l1-builder/v1/builders";

const LOWER = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const CHECKSUMMED = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const OTHER = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const JSON_TYPE = "application/json";
const MOCKHUB_TS = path.join(__dirname, "..", "..", "doubles", "mockhub.ts");

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, method: string, urlPath: string, body?: string | Buffer, contentType?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = contentType === undefined ? {} : { "content-type": contentType };
    const req = http.request({ host: "127.0.0.1", port, method, path: urlPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A hub on 127.0.0.1 whose reverse lookup names every address vm-eastus (unless told otherwise). */
async function withHub(options: Partial<MockhubOptions>, run: (port: number) => Promise<void>): Promise<void> {
  const server = await startMockhub({
    systemPort: 5544,
    host: "127.0.0.1",
    port: 0,
    lookup: async () => "vm-eastus.internal.cloudapp.net",
    log: () => undefined,
    ...options,
  });
  try {
    await run((server.address() as { port: number }).port);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

const register = (port: number, body: unknown) => request(port, "POST", REGISTER_PATH, JSON.stringify(body), JSON_TYPE);
const builders = async (port: number) => JSON.parse((await request(port, "GET", BUILDERS_PATH)).body) as BuilderListing[];

// ---- startup (main.rs fn main) ----

// Upstream: main.rs line 18, `.expect("SYSTEM_PORT is not set")`; a Rust panic in main exits 101.
test("without SYSTEM_PORT the program panics like main.rs's expect and exits 101", async () => {
  const env = { ...process.env };
  delete env.SYSTEM_PORT;
  delete env.RUST_BACKTRACE;
  const child = await spawnAsync(process.execPath, ["--require", "ts-node/register/transpile-only", MOCKHUB_TS], { env, timeoutMs: 30_000 });
  assert.equal(child.status, 101);
  assert.equal(
    child.stderr,
    "thread 'main' panicked at src/main.rs:18:10:\nSYSTEM_PORT is not set: NotPresent\n" +
      "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
  );
});

// Upstream: main.rs line 20, `.parse::<u16>().expect(..)`; core::num from_str_radix (Rust 1.89).
test("SYSTEM_PORT parses as Rust's u16: a leading +, no spaces, 0 to 65535", () => {
  assert.deepEqual(systemPortFrom("5544"), { ok: true, port: 5544 });
  assert.deepEqual(systemPortFrom("+80"), { ok: true, port: 80 });
  assert.deepEqual(systemPortFrom("0"), { ok: true, port: 0 });
  const panicKind = (value: string) => {
    const result = systemPortFrom(value);
    assert.ok(!result.ok);
    return /ParseIntError \{ kind: (\w+) \}/.exec(result.panic)?.[1];
  };
  assert.equal(panicKind(""), "Empty");
  assert.equal(panicKind(" 5544"), "InvalidDigit");
  assert.equal(panicKind("-1"), "InvalidDigit");
  assert.equal(panicKind("65536"), "PosOverflow");
  assert.equal(panicKind("99999x"), "PosOverflow", "with five digits the multiplication overflows before the x is read");
  assert.match((systemPortFrom("x") as { panic: string }).panic, /^thread 'main' panicked at src\/main.rs:20:10:\nSYSTEM_PORT must be a valid port number: /);
});

// Upstream: main.rs, `v.parse().unwrap_or(false)` (core's bool::from_str: "true" or "false" only).
test("ENABLE_TLS is on only for the exact text true", () => {
  assert.equal(enableTlsFrom("true"), true);
  for (const value of [undefined, "false", "True", "TRUE", "1", "yes", " true", ""]) {
    assert.equal(enableTlsFrom(value), false, String(value));
  }
});

// ---- registration and the list (main.rs register_credentials, get_builders) ----

// Upstream: main.rs register_credentials (StatusCode::OK) and get_builders (Json of every entry).
test("a registration answers 200 with an empty body and the list holds it in main.rs's shape", async () => {
  await withHub({}, async (port) => {
    const registered = await register(port, { tls_cert: PEM, ecdsa_pubkey_address: LOWER });
    assert.deepEqual([registered.status, registered.body], [200, ""]);
    const reply = await request(port, "GET", BUILDERS_PATH);
    assert.equal(reply.headers["content-type"], "application/json");
    assert.equal(
      reply.body,
      `[{"name":"vm-eastus","ip":"127.0.0.1:5544","dns_name":"127.0.0.1","orderflow_proxy":{"tls_cert":${JSON.stringify(PEM)},"ecdsa_pubkey_address":"${LOWER}"},"instance":{"tls_cert":""}}]`,
    );
  });
});

// Upstream: main.rs register_credentials, `if registry.builders.contains_key(&signer) { return StatusCode::OK }`.
test("the first registration of a signer wins: a later one answers 200 and changes nothing", async () => {
  await withHub({ enableTls: true }, async (port) => {
    await register(port, { tls_cert: null, ecdsa_pubkey_address: LOWER });
    const again = await register(port, { tls_cert: PEM, ecdsa_pubkey_address: LOWER });
    assert.equal(again.status, 200);
    const list = await builders(port);
    assert.equal(list.length, 1);
    assert.deepEqual([list[0].orderflow_proxy.tls_cert, list[0].instance.tls_cert], [null, ""]);
  });
});

// Upstream: main.rs, DashMap<Address, _>: the key is the 20 bytes (alloy bits/serde.rs decodes any spelling).
test("a signer is the same whatever case or 0x prefix its address is written in", async () => {
  await withHub({}, async (port) => {
    await register(port, { ecdsa_pubkey_address: LOWER });
    await register(port, { ecdsa_pubkey_address: CHECKSUMMED });
    await register(port, { ecdsa_pubkey_address: LOWER.slice(2).toUpperCase() });
    assert.equal((await builders(port)).length, 1);
  });
});

// Upstream: main.rs get_builders iterates the DashMap (arbitrary order); the key is the signer alone.
test("the list holds one entry per signer, even when two come from the same source address", async () => {
  await withHub({}, async (port) => {
    await register(port, { ecdsa_pubkey_address: LOWER });
    await register(port, { ecdsa_pubkey_address: OTHER });
    const signers = (await builders(port)).map((b) => b.orderflow_proxy.ecdsa_pubkey_address).sort();
    assert.deepEqual(signers, [LOWER, OTHER].sort());
  });
});

// Upstream: main.rs, `tls_cert: if registry.enable_tls { cert } else { String::new() }`, cert = unwrap_or_default().
test("instance.tls_cert is the registered certificate with ENABLE_TLS, else empty", async () => {
  await withHub({ enableTls: true }, async (port) => {
    await register(port, { tls_cert: PEM, ecdsa_pubkey_address: LOWER });
    await register(port, { tls_cert: null, ecdsa_pubkey_address: OTHER });
    const list = await builders(port);
    const tlsOf = (signer: string) => list.find((b) => b.orderflow_proxy.ecdsa_pubkey_address === signer)?.instance.tls_cert;
    assert.deepEqual([tlsOf(LOWER), tlsOf(OTHER)], [PEM, ""]);
  });
  await withHub({ enableTls: false }, async (port) => {
    await register(port, { tls_cert: PEM, ecdsa_pubkey_address: LOWER });
    assert.equal((await builders(port))[0].instance.tls_cert, "");
  });
});

// Upstream: main.rs Registry::new, an in-memory DashMap: nothing is written anywhere.
test("a restart forgets every builder", async () => {
  const stateDir = scratchDir("mockhub-");
  await withHub({ stateDir }, async (port) => {
    await register(port, { ecdsa_pubkey_address: LOWER });
  });
  await withHub({ stateDir }, async (port) => {
    assert.deepEqual(await builders(port), []);
  });
});

// Upstream: main.rs, `dns.split('.').next()` else `signer.to_string()`; dns-lookup 3.0.1 lookup_addr
// (NI_NAMEREQD: no name is an error); alloy address.rs Display (EIP-55).
test("without a reverse name the builder is named by its EIP-55 checksummed address", async () => {
  await withHub({ lookup: () => Promise.reject(new Error("ENOTFOUND")) }, async (port) => {
    await register(port, { ecdsa_pubkey_address: LOWER });
    assert.equal((await builders(port))[0].name, CHECKSUMMED);
  });
});

// Upstream: dns-lookup 3.0.1 src/lookup.rs, getnameinfo through the system resolver (/etc/hosts first).
test("the default reverse lookup asks the system resolver, as getnameinfo does", async () => {
  const expected = fs.readFileSync("/etc/hosts", "utf8").match(/^127\.0\.0\.1\s+(\S+)/m)?.[1];
  assert.ok(expected, "this machine's /etc/hosts names 127.0.0.1");
  assert.equal(await reverseLookup("127.0.0.1"), expected);
});

// Upstream: alloy-primitives 1.3.1 bits/address.rs (Display is to_checksum), EIP-55's own example.
test("an address displays with its EIP-55 checksum", () => {
  assert.equal(displayAddress(Buffer.from("d8da6bf26964af9d7eed9e03e53415d37aa96045", "hex")), "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045");
});

// Upstream: alloy-primitives 1.3.1 bits/serde.rs, Serialize writes hex::Buffer::<N, true> (0x, lowercase).
test("ecdsa_pubkey_address is listed in lowercase hex with 0x, whatever was registered", async () => {
  await withHub({}, async (port) => {
    await register(port, { ecdsa_pubkey_address: CHECKSUMMED.slice(2) });
    assert.equal((await builders(port))[0].orderflow_proxy.ecdsa_pubkey_address, LOWER);
  });
});

// ---- the request body (axum 0.8.4 json.rs and rejection.rs; serde_json 1.0.145; alloy 1.3.1) ----

const decode = (body: string | Buffer) => parseRegistration(JSON_TYPE, body);

// Upstream: alloy bits/serde.rs visit_str -> const_hex decode_to_array: optional 0x, any case, no checksum check.
test("an address is taken with or without 0x, in any case, with a wrong checksum too", () => {
  const wrongChecksum = `0x${CHECKSUMMED.slice(2, 3).toUpperCase()}${CHECKSUMMED.slice(3).toLowerCase()}`;
  for (const address of [LOWER, LOWER.slice(2), LOWER.toUpperCase().replace("0X", "0x"), CHECKSUMMED, wrongChecksum]) {
    const decoded = decode(JSON.stringify({ ecdsa_pubkey_address: address }));
    assert.ok(decoded.ok, address);
    assert.equal(decoded.credentials.ecdsa_pubkey_address, LOWER);
  }
});

// Upstream: alloy bits/serde.rs visit_seq: an array of exactly 20 u8 is an address too.
test("an address may also come as an array of 20 byte values", () => {
  const bytes = Array.from({ length: 20 }, (_, i) => i + 1);
  const decoded = decode(JSON.stringify({ ecdsa_pubkey_address: bytes }));
  assert.ok(decoded.ok);
  assert.equal(decoded.credentials.ecdsa_pubkey_address, "0x0102030405060708090a0b0c0d0e0f1011121314");
});

// Upstream: const-hex src/error.rs Display texts, through serde_json's custom error and path_to_error's path.
test("a malformed address answers 422 with const-hex's reason", () => {
  const reason = (address: string) => (decode(JSON.stringify({ ecdsa_pubkey_address: address })) as { body: string }).body;
  const prefix = "Failed to deserialize the JSON body into the target type: ecdsa_pubkey_address: ";
  assert.equal(reason("0x123"), `${prefix}Odd number of digits at line 1 column 31`);
  assert.equal(reason("0x1234"), `${prefix}Invalid string length at line 1 column 32`);
  assert.equal(reason(`0X${LOWER.slice(2)}`), `${prefix}Invalid string length at line 1 column 68`);
  assert.equal(reason(`${LOWER.slice(0, 41)}g`), `${prefix}Invalid character 'g' at position 39 at line 1 column 68`);
});

// Upstream: axum json.rs json_content_type and rejection.rs MissingJsonContentType (415).
test("a body without a JSON content type answers 415", () => {
  const expected = { ok: false, status: 415, body: "Expected request with `Content-Type: application/json`" };
  assert.deepEqual(parseRegistration(undefined, "{}"), expected);
  assert.deepEqual(parseRegistration("text/plain", "{}"), expected);
  assert.deepEqual(parseRegistration("application/x-www-form-urlencoded", "{}"), expected);
});

// Upstream: axum json.rs json_content_type with mime 0.3.17 src/parse.rs (type/subtype, +suffix, parameters).
test("application/json with parameters and any application/*+json type count as JSON", () => {
  for (const type of ["application/json", "Application/JSON", "application/json; charset=utf-8", "application/json;", "application/vnd.api+json", "application/ld+json; profile=x"]) {
    assert.equal(isJsonContentType(type), true, type);
  }
  for (const type of ["text/json", "application/jsonx", "application/json ", "application/json ;charset=utf-8", "application/+json", "application/json; charset", "*/*"]) {
    assert.equal(isJsonContentType(type), false, type);
  }
});

// Upstream: axum json.rs (Syntax and Eof errors -> JsonSyntaxError 400); serde_json de.rs positions.
test("malformed JSON answers 400 with serde_json's message and position", () => {
  assert.deepEqual(decode("{not json"), { ok: false, status: 400, body: "Failed to parse the request body as JSON: key must be a string at line 1 column 2" });
  assert.deepEqual(decode(""), { ok: false, status: 400, body: "Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 0" });
  assert.deepEqual(decode(`{"ecdsa_pubkey_address":"${LOWER}"`), { ok: false, status: 400, body: "Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 68" });
});

// Upstream: axum json.rs (Data errors -> JsonDataError 422); serde_path_to_error path.rs ("tls_cert: ").
test("a field of the wrong type answers 422 naming the field", () => {
  assert.deepEqual(decode(`{"tls_cert": 5, "ecdsa_pubkey_address": "${LOWER}"}`), {
    ok: false,
    status: 422,
    body: "Failed to deserialize the JSON body into the target type: tls_cert: invalid type: integer `5`, expected a string at line 1 column 14",
  });
});

// Upstream: serde_derive visit_map (missing_field; Option fields default to None).
test("a missing address answers 422; a missing certificate is null", () => {
  assert.deepEqual(decode("{}"), { ok: false, status: 422, body: "Failed to deserialize the JSON body into the target type: missing field `ecdsa_pubkey_address` at line 1 column 2" });
  const decoded = decode(JSON.stringify({ ecdsa_pubkey_address: LOWER, extra: [1, { a: true }] }));
  assert.ok(decoded.ok);
  assert.equal(decoded.credentials.tls_cert, null);
});

// Upstream: serde_derive visit_map (duplicate_field).
test("a repeated field answers 422", () => {
  assert.deepEqual(decode(`{"tls_cert":"x","tls_cert":"y","ecdsa_pubkey_address":"${LOWER}"}`), {
    ok: false,
    status: 422,
    body: "Failed to deserialize the JSON body into the target type: duplicate field `tls_cert` at line 1 column 26",
  });
});

// Upstream: axum 0.8.4 json.rs from_bytes calls no Deserializer::end(), so the first value is enough.
test("bytes after the JSON value are ignored", () => {
  assert.equal(decode(`{"ecdsa_pubkey_address":"${LOWER}"} trailing`).ok, true);
});

// Upstream: serde_derive visit_seq; serde_json de.rs deserialize_struct accepts a sequence.
test("the credentials may come as an array [tls_cert, ecdsa_pubkey_address]", () => {
  const decoded = decode(JSON.stringify([PEM, LOWER]));
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.credentials, { tls_cert: PEM, ecdsa_pubkey_address: LOWER });
});

// Upstream: serde_json JsonUnexpected (error.rs) formats floats with ryu 1.0.20 src/pretty/mod.rs.
test("floats in messages print as ryu does", () => {
  assert.deepEqual(
    [1.5, 100000, 1e15, 1e16, 1e-5, 1e-6, -0, 1.2345678901234568e20].map(ryuFormat),
    ["1.5", "100000.0", "1000000000000000.0", "1e16", "0.00001", "1e-6", "-0.0", "1.2345678901234568e20"],
  );
});

// Upstream: axum-core 0.5.2 ext_traits/request.rs DEFAULT_LIMIT (2 MiB) and rejection.rs LengthLimitError.
test("a body over 2 MiB answers 413", async () => {
  await withHub({}, async (port) => {
    const reply = await request(port, "POST", REGISTER_PATH, Buffer.alloc(2_097_153, 0x20), JSON_TYPE);
    assert.deepEqual([reply.status, reply.body], [413, "Failed to buffer the request body: length limit exceeded"]);
  });
});

// Upstream: axum 0.8.4 json.rs (the content type is checked first) over HTTP, with a text/plain body.
test("over HTTP a rejection is text/plain with axum's message", async () => {
  await withHub({}, async (port) => {
    const reply = await request(port, "POST", REGISTER_PATH, "{}", "text/plain");
    assert.deepEqual([reply.status, reply.headers["content-type"], reply.body], [415, "text/plain; charset=utf-8", "Expected request with `Content-Type: application/json`"]);
  });
});

// ---- routing (axum 0.8.4 src/routing/method_routing.rs) ----

// Upstream: axum method_routing.rs: a route's other methods answer 405 with the Allow header.
test("other methods answer 405 naming the allowed ones", async () => {
  await withHub({}, async (port) => {
    const onRegister = await request(port, "GET", REGISTER_PATH);
    assert.deepEqual([onRegister.status, onRegister.headers.allow, onRegister.body], [405, "POST", ""]);
    const onBuilders = await request(port, "POST", BUILDERS_PATH, "{}", JSON_TYPE);
    assert.deepEqual([onBuilders.status, onBuilders.headers.allow], [405, "GET,HEAD"]);
  });
});

// Upstream: axum's Router fallback (404, empty body); paths match exactly, no trailing-slash redirect.
test("unknown paths answer 404", async () => {
  await withHub({}, async (port) => {
    for (const urlPath of ["/", `${BUILDERS_PATH}/`, "/api/l1-builder/v1/BUILDERS"]) {
      const reply = await request(port, "GET", urlPath);
      assert.deepEqual([reply.status, reply.body], [404, ""], urlPath);
    }
  });
});

// Upstream: axum method_routing.rs, `get` also serves HEAD without the body.
test("HEAD on the list answers 200 without a body", async () => {
  await withHub({}, async (port) => {
    const reply = await request(port, "HEAD", BUILDERS_PATH);
    assert.deepEqual([reply.status, reply.body], [200, ""]);
  });
});

// ---- the sandbox-only fault switch (not upstream behaviour: test machinery of sandbox/probe.ts) ----

test("sandbox fault switch: down drops connections, error answers 500, an empty switch serves", async () => {
  const stateDir = scratchDir("mockhub-");
  await withHub({ stateDir }, async (port) => {
    fs.writeFileSync(path.join(stateDir, "fault"), "down\n");
    await assert.rejects(request(port, "GET", BUILDERS_PATH), /socket hang up|ECONNRESET/);
    fs.writeFileSync(path.join(stateDir, "fault"), "error");
    assert.equal((await request(port, "GET", BUILDERS_PATH)).status, 500);
    fs.rmSync(path.join(stateDir, "fault"));
    assert.equal((await request(port, "GET", BUILDERS_PATH)).status, 200);
  });
});

test("sandbox fault switch: flap answers 503 to every other request of its agent only, the first included, and records each", async () => {
  const stateDir = scratchDir("mockhub-");
  const as = (port: number, agent: string) =>
    new Promise<number>((resolve, reject) => {
      http.get({ host: "127.0.0.1", port, path: BUILDERS_PATH, headers: { "user-agent": agent }, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      }).on("error", reject);
    });
  await withHub({ stateDir }, async (port) => {
    fs.writeFileSync(path.join(stateDir, "fault"), "flap aimed/1\n");
    const statuses = [];
    for (const agent of ["aimed/1", "peer", "aimed/1", "aimed/1", "peer", "aimed/1", "aimed/1"]) {
      statuses.push(`${agent}:${await as(port, agent)}`);
    }
    assert.deepEqual(statuses, ["aimed/1:503", "peer:200", "aimed/1:200", "aimed/1:503", "peer:200", "aimed/1:200", "aimed/1:503"]);
    const injected = fs.readFileSync(path.join(stateDir, MOCKHUB_INJECTED_FILE), "utf8");
    assert.equal(injected, `503 GET ${BUILDERS_PATH} aimed/1\n`.repeat(3));
  });
});
