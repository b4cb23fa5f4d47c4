// The BuilderHub double against mockhub v0.0.6: BuilderNet/FlowProxy simulation/mockhub/src/main.rs
// at b56e719, with the crates its Cargo.lock pins. Each test names the upstream file it follows.
//
// The tests speak to a target (test/support/mockhub-target.ts): our double by default; with
// MOCKHUB_BINARY=/path a mockhub binary they start and stop themselves (as root, for the tests that
// give a source address a reverse name); with MOCKHUB_UNDER_TEST=http://host:port a running mockhub
// (the tests that restart it or choose their source address are skipped). They were played so on
// mockhub v0.0.6 built from its source at b56e719, and every difference was fixed in the double:
//   MOCKHUB_BINARY=/path/to/mockhub node --require ts-node/register/transpile-only --test-reporter=spec \
//     test/unit/doubles/mockhub.test.ts
// The last tests are of the double's own machinery (its process, the sandbox's fault switch): they
// run on the double only.
import assert from "node:assert/strict";
import * as dns from "node:dns";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { after, test } from "node:test";
import { getAddress } from "viem";
import { startMockhub } from "../../doubles/mockhub/server";
import type { BuilderListing } from "../../../lib/contract";
import { spawnAsync } from "../../support/processes";
import { MOCKHUB_INJECTED_FILE } from "../../../sandbox/internet/doubles-interface";
import {
  MockhubEnvironment,
  mockhubTarget,
  mockhubTargetKind,
  ReverseNames,
  VM_ENVIRONMENT,
} from "../../support/mockhub-target";
import { scratchDir } from "../../support/scratch";

// main.rs's routes at b56e719: the double must answer exactly these.
const REGISTER_PATH = "/api/l1-builder/v1/register_credentials/orderflow_proxy";
const BUILDERS_PATH = "/api/l1-builder/v1/builders";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const JSON_TYPE = "application/json";
const MOCKHUB_TS = path.join(__dirname, "..", "..", "doubles", "mockhub.ts");

const target = mockhubTarget();
const kind = mockhubTargetKind();
after(() => target.stop());

// What a test needs beyond requests to a running mockhub; a target without it skips the test.
const RESTARTS = target.restart === undefined && "needs to restart mockhub (not possible at a URL)";
const LOCAL = !target.local && "needs mockhub on this machine (it names the source address by this machine's resolver)";
const NAMES =
  (RESTARTS || LOCAL || (kind === "binary" && process.getuid?.() !== 0)) &&
  "needs to give a source address a reverse name (a binary: root)";
const DOUBLE_ONLY = kind !== "double" && "the double's own machinery, not upstream behaviour";

/** A fresh mockhub (empty registry) with this environment, where the target can restart; else the running one. */
async function freshMockhub(environment: MockhubEnvironment = VM_ENVIRONMENT, names?: ReverseNames): Promise<void> {
  if (target.restart) {
    const startup = await target.restart(environment, names);
    assert.ok(startup.listening, `${target.description} did not start: ${JSON.stringify(startup)}`);
  }
}

/** A signer no earlier registration used (a running mockhub keeps the first registration of each). */
const newSigner = (): string => `0x${randomBytes(20).toString("hex")}`;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface RequestOptions {
  body?: string | Buffer;
  contentType?: string;
  /** The source address (127.0.0.0/8 reaches a local target from any of its addresses). */
  from?: string;
}

function request(method: string, urlPath: string, options: RequestOptions = {}): Promise<Reply> {
  const url = new URL(target.url);
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders =
      options.contentType === undefined ? {} : { "content-type": options.contentType };
    const req = http.request(
      { host: url.hostname, port: url.port, method, path: urlPath, headers, agent: false, localAddress: options.from },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

const post = (body: string | Buffer, contentType = JSON_TYPE) => request("POST", REGISTER_PATH, { body, contentType });
const register = (body: unknown, from?: string) =>
  request("POST", REGISTER_PATH, { body: JSON.stringify(body), contentType: JSON_TYPE, from });
const list = async () => JSON.parse((await request("GET", BUILDERS_PATH)).body) as BuilderListing[];
/** The entries of these signers (a running mockhub may list others). */
const entriesOf = async (...signers: string[]) =>
  (await list()).filter((b) => signers.includes(b.orderflow_proxy.ecdsa_pubkey_address));

/** Bytes sent as they are, the answer as it came until the server closed (date aside). */
function raw(text: string | Buffer): Promise<{ statusLine: string; headers: Record<string, string>; body: string }> {
  const url = new URL(target.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      const [head, ...rest] = Buffer.concat(chunks).toString("latin1").split("\r\n\r\n");
      const [statusLine, ...lines] = head.split("\r\n");
      const headers = Object.fromEntries(
        lines
          .map((l): [string, string] => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()])
          .filter(([n]) => n !== "date"),
      );
      resolve({ statusLine, headers, body: rest.join("\r\n\r\n") });
    });
    socket.write(text);
  });
}

const get = (urlPath: string, version = "HTTP/1.1", extra = "") =>
  `GET ${urlPath} ${version}\r\nHost: mockhub\r\n${extra}Connection: close\r\n\r\n`;
/** What hyper answers to a request it refuses before axum sees it (role.rs on_error). */
const automatic = (status: string) => ({
  statusLine: `HTTP/1.1 ${status}`,
  headers: { connection: "close", "content-length": "0" },
  body: "",
});

test(`mockhub under test: ${target.description}`, () => undefined);

// ---- startup (main.rs fn main) ----

// Upstream: main.rs line 18, `.expect("SYSTEM_PORT is not set")`; a Rust panic in main exits 101.
test("without SYSTEM_PORT the program panics like main.rs's expect and exits 101", { skip: RESTARTS }, async () => {
  const startup = await target.restart?.({ ENABLE_TLS: "true" });
  assert.deepEqual(startup, {
    listening: false,
    status: 101,
    stderr:
      "\nthread 'main' panicked at src/main.rs:18:10:\nSYSTEM_PORT is not set: NotPresent\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
  });
});

// Upstream: main.rs line 20, `.parse::<u16>().expect(..)`; core::num from_str_radix; the port is `ip`'s.
test("SYSTEM_PORT parses as Rust's u16: a leading +, no spaces, 0 to 65535", { skip: RESTARTS }, async () => {
  for (const [value, port] of [
    ["+80", "80"],
    ["0", "0"],
    ["65535", "65535"],
  ]) {
    await freshMockhub({ SYSTEM_PORT: value });
    const signer = newSigner();
    await register({ ecdsa_pubkey_address: signer });
    assert.match((await entriesOf(signer))[0].ip, new RegExp(`:${port}$`), value);
  }
  for (const [value, kindOfError] of [
    ["", "Empty"],
    [" 5544", "InvalidDigit"],
    ["-1", "InvalidDigit"],
    ["65536", "PosOverflow"],
    ["99999x", "PosOverflow"],
    ["x", "InvalidDigit"],
  ]) {
    const startup = await target.restart?.({ SYSTEM_PORT: value });
    assert.deepEqual(
      startup,
      {
        listening: false,
        status: 101,
        stderr:
          `\nthread 'main' panicked at src/main.rs:20:10:\nSYSTEM_PORT must be a valid port number: ParseIntError { kind: ${kindOfError} }\n` +
          "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
      },
      JSON.stringify(value),
    );
  }
});

// Upstream: main.rs, `v.parse().unwrap_or(false)` (core's bool::from_str: "true" or "false" only).
test("ENABLE_TLS is on only for the exact text true", { skip: RESTARTS }, async () => {
  for (const value of ["true", undefined, "false", "True", "TRUE", "1", "yes", " true", ""]) {
    await freshMockhub(value === undefined ? { SYSTEM_PORT: "5544" } : { SYSTEM_PORT: "5544", ENABLE_TLS: value });
    const signer = newSigner();
    await register({ tls_cert: PEM, ecdsa_pubkey_address: signer });
    assert.equal((await entriesOf(signer))[0].instance.tls_cert, value === "true" ? PEM : "", String(value));
  }
});

// ---- registration and the list (main.rs register_credentials, get_builders) ----

// Upstream: main.rs register_credentials (StatusCode::OK; name = the reverse name's first label,
// ip = "<source>:<SYSTEM_PORT>", dns_name = the source) and get_builders (Json of every entry).
test(
  "a registration answers 200 with an empty body and the list holds it in main.rs's shape",
  { skip: NAMES },
  async () => {
    await freshMockhub(VM_ENVIRONMENT, { "127.0.0.4": "vm-eastus.internal.cloudapp.net" });
    const signer = newSigner();
    const registered = await register({ tls_cert: PEM, ecdsa_pubkey_address: signer }, "127.0.0.4");
    assert.deepEqual([registered.status, registered.body, registered.headers["content-type"]], [200, "", undefined]);
    const reply = await request("GET", BUILDERS_PATH);
    assert.equal(reply.headers["content-type"], "application/json");
    const cert = JSON.stringify(PEM);
    assert.equal(
      reply.body,
      `[{"name":"vm-eastus","ip":"127.0.0.4:${VM_ENVIRONMENT.SYSTEM_PORT}","dns_name":"127.0.0.4","orderflow_proxy":{"tls_cert":${cert},"ecdsa_pubkey_address":"${signer}"},"instance":{"tls_cert":${cert}}}]`,
    );
  },
);

// Upstream: main.rs register_credentials, `if registry.builders.contains_key(&signer) { return StatusCode::OK }`.
test("the first registration of a signer wins: a later one answers 200 and changes nothing", async () => {
  await freshMockhub({ SYSTEM_PORT: "5544", ENABLE_TLS: "true" });
  const signer = newSigner();
  await register({ tls_cert: null, ecdsa_pubkey_address: signer });
  const again = await register({ tls_cert: PEM, ecdsa_pubkey_address: signer });
  assert.equal(again.status, 200);
  const entries = await entriesOf(signer);
  assert.equal(entries.length, 1);
  assert.deepEqual([entries[0].orderflow_proxy.tls_cert, entries[0].instance.tls_cert], [null, ""]);
});

// Upstream: main.rs, DashMap<Address, _>: the key is the 20 bytes (alloy bits/serde.rs decodes any spelling).
test("a signer is the same whatever case or 0x prefix its address is written in", async () => {
  await freshMockhub();
  const signer = newSigner();
  await register({ ecdsa_pubkey_address: signer });
  await register({ ecdsa_pubkey_address: getAddress(signer) });
  await register({ ecdsa_pubkey_address: signer.slice(2).toUpperCase() });
  assert.equal((await entriesOf(signer)).length, 1);
});

// Upstream: main.rs get_builders iterates the DashMap (arbitrary order); the key is the signer alone.
test("the list holds one entry per signer, even when two come from the same source address", async () => {
  await freshMockhub();
  const [one, other] = [newSigner(), newSigner()];
  await register({ ecdsa_pubkey_address: one });
  await register({ ecdsa_pubkey_address: other });
  const signers = (await entriesOf(one, other)).map((b) => b.orderflow_proxy.ecdsa_pubkey_address).sort();
  assert.deepEqual(signers, [one, other].sort());
});

// Upstream: main.rs, `tls_cert: if registry.enable_tls { cert } else { String::new() }`, cert = unwrap_or_default().
test("instance.tls_cert is the registered certificate with ENABLE_TLS, else empty", { skip: RESTARTS }, async () => {
  await freshMockhub({ SYSTEM_PORT: "5544", ENABLE_TLS: "true" });
  const [withCert, withoutCert] = [newSigner(), newSigner()];
  await register({ tls_cert: PEM, ecdsa_pubkey_address: withCert });
  await register({ tls_cert: null, ecdsa_pubkey_address: withoutCert });
  const entries = await entriesOf(withCert, withoutCert);
  const tlsOf = (signer: string) =>
    entries.find((b) => b.orderflow_proxy.ecdsa_pubkey_address === signer)?.instance.tls_cert;
  assert.deepEqual([tlsOf(withCert), tlsOf(withoutCert)], [PEM, ""]);
  await freshMockhub({ SYSTEM_PORT: "5544", ENABLE_TLS: "false" });
  await register({ tls_cert: PEM, ecdsa_pubkey_address: withCert });
  assert.equal((await entriesOf(withCert))[0].instance.tls_cert, "");
});

// Upstream: main.rs Registry::new, an in-memory DashMap: nothing is written anywhere.
test("a restart forgets every builder", { skip: RESTARTS }, async () => {
  await freshMockhub();
  await register({ ecdsa_pubkey_address: newSigner() });
  assert.equal((await list()).length, 1);
  await freshMockhub();
  assert.deepEqual(await list(), []);
});

// Upstream: main.rs, `dns_lookup::lookup_addr(&addr.ip())`: dns-lookup 3.0.1 src/lookup.rs getnameinfo
// through the system resolver (nsswitch: /etc/hosts first), then `dns.split('.').next()`.
test("a builder is named by the system resolver's name for its source address", { skip: LOCAL }, async () => {
  await freshMockhub();
  const hostsName = fs.readFileSync("/etc/hosts", "utf8").match(/^127\.0\.0\.1\s+(\S+)/m)?.[1];
  assert.ok(hostsName, "this machine's /etc/hosts names 127.0.0.1");
  const signer = newSigner();
  await register({ ecdsa_pubkey_address: signer }, "127.0.0.1");
  assert.deepEqual(
    (await entriesOf(signer)).map((b) => [b.name, b.dns_name]),
    [[hostsName.split(".")[0], "127.0.0.1"]],
  );
});

// Upstream: main.rs, else `signer.to_string()`; dns-lookup 3.0.1 lookup_addr (NI_NAMEREQD: no name is
// an error); alloy-primitives 1.3.1 bits/address.rs Display (EIP-55), here EIP-55's own example.
test("without a reverse name the builder is named by its EIP-55 checksummed address", { skip: LOCAL }, async () => {
  await assert.rejects(dns.promises.lookupService("127.0.0.2", 0), "this machine has no name for 127.0.0.2");
  await freshMockhub();
  const signer = "0xd8da6bf26964af9d7eed9e03e53415d37aa96045";
  await register({ ecdsa_pubkey_address: signer }, "127.0.0.2");
  assert.deepEqual(
    (await entriesOf(signer)).map((b) => [b.name, b.ip]),
    [["0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045", "127.0.0.2:5544"]],
  );
});

// Upstream: alloy-primitives 1.3.1 bits/serde.rs, Serialize writes hex::Buffer::<N, true> (0x, lowercase).
test("ecdsa_pubkey_address is listed in lowercase hex with 0x, whatever was registered", async () => {
  await freshMockhub();
  const signer = newSigner();
  await register({ ecdsa_pubkey_address: getAddress(signer).slice(2) });
  assert.deepEqual(
    (await entriesOf(signer)).map((b) => b.orderflow_proxy.ecdsa_pubkey_address),
    [signer],
  );
});

// ---- the request body (axum 0.8.4 json.rs and rejection.rs; serde_json 1.0.145; alloy 1.3.1) ----

const UNPROCESSABLE = "Failed to deserialize the JSON body into the target type: ";
const BAD_JSON = "Failed to parse the request body as JSON: ";

// Upstream: alloy bits/serde.rs visit_str -> const_hex decode_to_array: optional 0x, any case, no checksum check.
test("an address is taken with or without 0x, in any case, with a wrong checksum too", async () => {
  await freshMockhub();
  let signer = newSigner();
  while (!/[a-f]/.test(signer.slice(2))) {
    signer = newSigner();
  }
  const checksummed = getAddress(signer);
  const letter = checksummed.slice(2).search(/[a-fA-F]/) + 2;
  const flipped =
    checksummed[letter] === checksummed[letter].toLowerCase()
      ? checksummed[letter].toUpperCase()
      : checksummed[letter].toLowerCase();
  const wrongChecksum = checksummed.slice(0, letter) + flipped + checksummed.slice(letter + 1);
  const spellings = [signer, signer.slice(2), `0x${signer.slice(2).toUpperCase()}`, checksummed, wrongChecksum];
  const statuses = await Promise.all(
    spellings.map(async (spelling) => (await register({ ecdsa_pubkey_address: spelling })).status),
  );
  assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
  assert.equal((await entriesOf(signer)).length, 1);
});

// Upstream: alloy bits/serde.rs visit_seq: an array of exactly 20 u8 is an address too.
test("an address may also come as an array of 20 byte values", async () => {
  await freshMockhub();
  const bytes = [...randomBytes(20)];
  assert.equal((await register({ ecdsa_pubkey_address: bytes })).status, 200);
  assert.equal((await entriesOf(`0x${Buffer.from(bytes).toString("hex")}`)).length, 1);
});

// Upstream: const-hex 1.16.0 (Cargo.lock) src/error.rs Display texts, through serde_json's custom error
// and path_to_error's path.
test("a malformed address answers 422 with const-hex's reason", async () => {
  await freshMockhub();
  const signer = newSigner();
  const reason = async (address: string) => {
    const reply = await post(JSON.stringify({ ecdsa_pubkey_address: address }));
    return [reply.status, reply.body];
  };
  const prefix = `${UNPROCESSABLE}ecdsa_pubkey_address: `;
  assert.deepEqual(
    await Promise.all(["0x123", "0x1234", `0X${signer.slice(2)}`, `${signer.slice(0, 41)}g`].map(reason)),
    [
      [422, `${prefix}odd number of digits at line 1 column 31`],
      [422, `${prefix}invalid string length at line 1 column 32`],
      [422, `${prefix}invalid string length at line 1 column 68`],
      [422, `${prefix}invalid character 'g' at position 39 at line 1 column 68`],
    ],
  );
});

// Upstream: axum json.rs json_content_type and rejection.rs MissingJsonContentType (415), text/plain.
test("a body without a JSON content type answers 415 with axum's message", async () => {
  await freshMockhub();
  const replies = await Promise.all(
    [undefined, "text/plain", "application/x-www-form-urlencoded"].map((contentType) =>
      request("POST", REGISTER_PATH, { body: "{}", contentType }),
    ),
  );
  for (const reply of replies) {
    assert.deepEqual(
      [reply.status, reply.headers["content-type"], reply.body],
      [415, "text/plain; charset=utf-8", "Expected request with `Content-Type: application/json`"],
    );
  }
});

// Upstream: axum json.rs json_content_type with mime 0.3.17 src/parse.rs (type/subtype, +suffix,
// parameters): a JSON type goes on to the body ("{}": 422), any other is 415. (Whitespace around a
// header's value never reaches it: httparse drops it.)
test("application/json with parameters and any application/*+json type count as JSON", async () => {
  await freshMockhub();
  const json = [
    "application/json",
    "Application/JSON",
    "application/json; charset=utf-8",
    "application/json;",
    "application/vnd.api+json",
    "application/ld+json; profile=x",
  ];
  const other = [
    "text/json",
    "application/jsonx",
    "application/json ;charset=utf-8",
    "application/+json",
    "application/json; charset",
    "*/*",
  ];
  const statuses = await Promise.all(
    [...json, ...other].map(async (type) => `${type}: ${(await post("{}", type)).status}`),
  );
  assert.deepEqual(statuses, [...json.map((type) => `${type}: 422`), ...other.map((type) => `${type}: 415`)]);
});

// Upstream: axum json.rs (Syntax and Eof errors -> JsonSyntaxError 400); serde_json de.rs positions.
test("malformed JSON answers 400 with serde_json's message and position", async () => {
  await freshMockhub();
  const signer = newSigner();
  const answer = async (body: string) => {
    const reply = await post(body);
    return [reply.status, reply.body];
  };
  assert.deepEqual(await Promise.all(["{not json", "", `{"ecdsa_pubkey_address":"${signer}"`].map(answer)), [
    [400, `${BAD_JSON}key must be a string at line 1 column 2`],
    [400, `${BAD_JSON}EOF while parsing a value at line 1 column 0`],
    [400, `${BAD_JSON}EOF while parsing an object at line 1 column 68`],
  ]);
});

// Upstream: axum json.rs (Data errors -> JsonDataError 422); serde_path_to_error path.rs ("tls_cert: ").
test("a field of the wrong type answers 422 naming the field", async () => {
  await freshMockhub();
  const reply = await post(`{"tls_cert": 5, "ecdsa_pubkey_address": "${newSigner()}"}`);
  assert.deepEqual(
    [reply.status, reply.body],
    [422, `${UNPROCESSABLE}tls_cert: invalid type: integer \`5\`, expected a string at line 1 column 14`],
  );
});

// Upstream: serde_derive visit_map (missing_field; Option fields default to None).
test("a missing address answers 422; a missing certificate is null", async () => {
  await freshMockhub();
  const missing = await post("{}");
  assert.deepEqual(
    [missing.status, missing.body],
    [422, `${UNPROCESSABLE}missing field \`ecdsa_pubkey_address\` at line 1 column 2`],
  );
  const signer = newSigner();
  assert.equal((await register({ ecdsa_pubkey_address: signer, extra: [1, { a: true }] })).status, 200);
  assert.equal((await entriesOf(signer))[0].orderflow_proxy.tls_cert, null);
});

// Upstream: serde_derive visit_map (duplicate_field).
test("a repeated field answers 422", async () => {
  await freshMockhub();
  const reply = await post(`{"tls_cert":"x","tls_cert":"y","ecdsa_pubkey_address":"${newSigner()}"}`);
  assert.deepEqual(
    [reply.status, reply.body],
    [422, `${UNPROCESSABLE}duplicate field \`tls_cert\` at line 1 column 26`],
  );
});

// Upstream: axum 0.8.4 json.rs from_bytes calls no Deserializer::end(), so the first value is enough.
test("bytes after the JSON value are ignored", async () => {
  await freshMockhub();
  const signer = newSigner();
  assert.equal((await post(`{"ecdsa_pubkey_address":"${signer}"} trailing`)).status, 200);
  assert.equal((await entriesOf(signer)).length, 1);
});

// Upstream: serde_derive visit_seq; serde_json de.rs deserialize_struct accepts a sequence.
test("the credentials may come as an array [tls_cert, ecdsa_pubkey_address]", async () => {
  await freshMockhub();
  const signer = newSigner();
  assert.equal((await post(JSON.stringify([PEM, signer]))).status, 200);
  assert.deepEqual((await entriesOf(signer))[0].orderflow_proxy, { tls_cert: PEM, ecdsa_pubkey_address: signer });
});

// Upstream: serde_json JsonUnexpected (error.rs) formats floats with ryu 1.0.20 src/pretty/mod.rs; an
// integer over u64 becomes a float from its first 19 or 20 digits times a power of ten (de.rs
// parse_long_integer, f64_from_parts without the float_roundtrip feature), not the nearest double.
test("floats in messages print as ryu does", async () => {
  await freshMockhub();
  const literals = ["1.5", "1e5", "1e15", "1e16", "1e-5", "1e-6", "-0", "123456789012345678901"];
  const printed = ["1.5", "100000.0", "1000000000000000.0", "1e16", "0.00001", "1e-6", "-0.0", "1.2345678901234567e20"];
  const replies = await Promise.all(
    literals.map((literal) => post(`{"tls_cert":${literal},"ecdsa_pubkey_address":"${newSigner()}"}`)),
  );
  assert.deepEqual(
    replies.map((reply) => [reply.status, reply.body]),
    literals.map((literal, i) => [
      422,
      `${UNPROCESSABLE}tls_cert: invalid type: floating point \`${printed[i]}\`, expected a string at line 1 column ${'{"tls_cert":'.length + literal.length}`,
    ]),
  );
});

// Upstream: axum-core 0.5.2 ext_traits/request.rs DEFAULT_LIMIT (2 MiB) and rejection.rs LengthLimitError.
test("a body over 2 MiB answers 413", async () => {
  await freshMockhub();
  const reply = await post(Buffer.alloc(2_097_153, 0x20));
  assert.deepEqual([reply.status, reply.body], [413, "Failed to buffer the request body: length limit exceeded"]);
});

// ---- routing (axum 0.8.4 src/routing/method_routing.rs) ----

// Upstream: axum method_routing.rs: a route's other methods answer 405 with the Allow header.
test("other methods answer 405 naming the allowed ones", async () => {
  await freshMockhub();
  const onRegister = await request("GET", REGISTER_PATH);
  assert.deepEqual([onRegister.status, onRegister.headers.allow, onRegister.body], [405, "POST", ""]);
  const onBuilders = await request("POST", BUILDERS_PATH, { body: "{}", contentType: JSON_TYPE });
  assert.deepEqual([onBuilders.status, onBuilders.headers.allow], [405, "GET,HEAD"]);
});

// Upstream: axum's Router fallback (404, empty body); paths match exactly, no trailing-slash redirect,
// no percent-decoding.
test("unknown paths answer 404", async () => {
  await freshMockhub();
  const paths = [
    "/",
    `${BUILDERS_PATH}/`,
    "/api/l1-builder/v1/BUILDERS",
    "/api/l1-builder/v1/%62uilders",
    "/api/l1-builder/v1//builders",
  ];
  const replies = await Promise.all(
    paths.map(async (urlPath) => {
      const reply = await request("GET", urlPath);
      return `${urlPath}: ${reply.status} ${JSON.stringify(reply.body)}`;
    }),
  );
  assert.deepEqual(
    replies,
    paths.map((urlPath) => `${urlPath}: 404 ""`),
  );
});

// Upstream: axum method_routing.rs, `get` also serves HEAD without the body.
test("HEAD on the list answers 200 without a body", async () => {
  await freshMockhub();
  const reply = await request("HEAD", BUILDERS_PATH);
  assert.deepEqual([reply.status, reply.body], [200, ""]);
});

// Upstream: axum routes the path of an absolute-form target and the query aside; `*` is a path of
// its own (404).
test("an absolute-form target routes on its path, a query is ignored and * is not found", async () => {
  await freshMockhub();
  assert.equal((await raw(get(`http://mockhub${BUILDERS_PATH}`))).statusLine, "HTTP/1.1 200 OK");
  assert.equal((await raw(get(`${BUILDERS_PATH}?page=2`))).statusLine, "HTTP/1.1 200 OK");
  assert.deepEqual(await raw("OPTIONS * HTTP/1.1\r\nHost: mockhub\r\nConnection: close\r\n\r\n"), {
    statusLine: "HTTP/1.1 404 Not Found",
    headers: { connection: "close", "content-length": "0" },
    body: "",
  });
});

// ---- HTTP/1.1 (hyper 1.7.0 under axum::serve, as the Cargo.lock pins them) ----

// Upstream: hyper's server reads requests without a Host header (src/proto/h1/role.rs asks for none).
test("a request without a Host header is served", async () => {
  await freshMockhub();
  const reply = await raw(`GET ${BUILDERS_PATH} HTTP/1.1\r\nConnection: close\r\n\r\n`);
  assert.deepEqual([reply.statusLine, reply.headers["content-type"]], ["HTTP/1.1 200 OK", "application/json"]);
});

// Upstream: hyper role.rs on_error: a parse error gets 400, connection: close and content-length: 0.
test("a request that does not parse answers 400 with an empty body and closes", async () => {
  await freshMockhub();
  assert.deepEqual(await raw("GARBAGE\r\n\r\n"), automatic("400 Bad Request"));
  assert.deepEqual(
    await raw(get(BUILDERS_PATH, "HTTP/1.1", "Content-Length: 1\r\nContent-Length: 2\r\n")),
    automatic("400 Bad Request"),
  );
});

// Upstream: httparse 1.10.1 reads HTTP/1.0 and HTTP/1.1 only; hyper role.rs on_error (Parse::Version).
test("request lines of HTTP versions other than 1.0 and 1.1 answer 400", async () => {
  await freshMockhub();
  const replies = await Promise.all(
    ["HTTP/0.9", "HTTP/1.2", "HTTP/2.0"].map((version) => raw(get(BUILDERS_PATH, version))),
  );
  assert.deepEqual(replies, [automatic("400 Bad Request"), automatic("400 Bad Request"), automatic("400 Bad Request")]);
});

// Upstream: hyper role.rs DEFAULT_MAX_HEADERS (100) and io.rs DEFAULT_MAX_BUFFER_SIZE (8192 + 4096 *
// 100 bytes) -> Parse::TooLarge, 431; the http crate's Uri MAX_LEN (u16::MAX - 1) -> UriTooLong, 414.
test("a head over hyper's limits answers 431, a target over 65534 bytes 414; 20 KiB of headers are served", async () => {
  await freshMockhub();
  const headers = (count: number) => Array.from({ length: count }, (_, i) => `X-Header-${i}: v\r\n`).join("");
  const [hundred, hundredAndTwo, twentyKiB, tooBig, longTarget] = await Promise.all([
    raw(get(BUILDERS_PATH, "HTTP/1.1", headers(98))),
    raw(get(BUILDERS_PATH, "HTTP/1.1", headers(100))),
    raw(get(BUILDERS_PATH, "HTTP/1.1", `X-Big: ${"a".repeat(20_000)}\r\n`)),
    // hyper checks its buffer between reads, so only a head over twice the limit is refused for sure.
    raw(get(BUILDERS_PATH, "HTTP/1.1", `X-Big: ${"a".repeat(1_000_000)}\r\n`)),
    raw(get(`${BUILDERS_PATH}?${"q".repeat(65_535 - BUILDERS_PATH.length)}`)),
  ]);
  assert.equal(hundred.statusLine, "HTTP/1.1 200 OK", "100 headers with Host and Connection");
  assert.deepEqual(hundredAndTwo, automatic("431 Request Header Fields Too Large"));
  assert.equal(twentyKiB.statusLine, "HTTP/1.1 200 OK");
  assert.deepEqual(tooBig, automatic("431 Request Header Fields Too Large"));
  assert.deepEqual(longTarget, automatic("414 URI Too Long"));
});

// Upstream: hyper role.rs: a Transfer-Encoding that does not end in chunked is refused, 400.
test("a request whose Transfer-Encoding does not end in chunked answers 400", async () => {
  await freshMockhub();
  assert.deepEqual(
    await raw(get(BUILDERS_PATH, "HTTP/1.1", "Transfer-Encoding: gzip\r\n")),
    automatic("400 Bad Request"),
  );
  const chunked = `POST ${REGISTER_PATH} HTTP/1.1\r\nHost: mockhub\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`;
  assert.equal((await raw(chunked)).statusLine, "HTTP/1.1 422 Unprocessable Entity");
});

// Upstream: axum 0.8.4 serve/mod.rs gives hyper no timer: a kept-alive connection has no idle timeout,
// so no answer announces one.
test("answers on a kept-alive connection announce no idle timeout", async () => {
  await freshMockhub();
  const reply = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const agent = new http.Agent({ keepAlive: true });
    const url = new URL(target.url);
    http
      .get({ host: url.hostname, port: url.port, path: BUILDERS_PATH, agent }, (res) => {
        res.resume();
        res.on("end", () => {
          agent.destroy();
          resolve(res);
        });
      })
      .on("error", reject);
  });
  assert.equal(reply.statusCode, 200);
  assert.equal(reply.headers["keep-alive"], undefined);
});

// ---- the double's own machinery (not upstream behaviour) ----

// The double's main() is wired as main.rs's: a panic at start is its process's exit 101.
test("the double's program panics without SYSTEM_PORT and exits 101", { skip: DOUBLE_ONLY }, async () => {
  const env = { ...process.env };
  delete env.SYSTEM_PORT;
  delete env.RUST_BACKTRACE;
  const child = await spawnAsync(process.execPath, ["--require", "ts-node/register/transpile-only", MOCKHUB_TS], {
    env,
    timeoutMs: 30_000,
  });
  assert.equal(child.status, 101);
  assert.match(child.stderr, /^\nthread 'main' panicked at src\/main.rs:18:10:\nSYSTEM_PORT is not set: NotPresent\n/);
});

/** The double on 127.0.0.1 with the sandbox's fault switch in `stateDir`. */
async function withFaultSwitch(stateDir: string, run: (port: number) => Promise<void>): Promise<void> {
  const server = await startMockhub({
    systemPort: 5544,
    host: "127.0.0.1",
    port: 0,
    lookup: async () => "vm-eastus",
    log: () => undefined,
    stateDir,
  });
  try {
    await run((server.address() as net.AddressInfo).port);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

test(
  "sandbox fault switch: down drops connections, error answers 500, an empty switch serves",
  { skip: DOUBLE_ONLY },
  async () => {
    const stateDir = scratchDir("mockhub-");
    const status = (port: number) =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: "127.0.0.1", port, path: BUILDERS_PATH, agent: false }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          })
          .on("error", reject);
      });
    await withFaultSwitch(stateDir, async (port) => {
      fs.writeFileSync(path.join(stateDir, "fault"), "down\n");
      await assert.rejects(status(port), /socket hang up|ECONNRESET/);
      fs.writeFileSync(path.join(stateDir, "fault"), "error");
      assert.equal(await status(port), 500);
      fs.rmSync(path.join(stateDir, "fault"));
      assert.equal(await status(port), 200);
    });
  },
);

test(
  "sandbox fault switch: flap answers 503 to every other request of its agent only, the first included, and records each",
  { skip: DOUBLE_ONLY },
  async () => {
    const stateDir = scratchDir("mockhub-");
    const as = (port: number, agent: string) =>
      new Promise<number>((resolve, reject) => {
        http
          .get(
            { host: "127.0.0.1", port, path: BUILDERS_PATH, headers: { "user-agent": agent }, agent: false },
            (res) => {
              res.resume();
              res.on("end", () => resolve(res.statusCode ?? 0));
            },
          )
          .on("error", reject);
      });
    await withFaultSwitch(stateDir, async (port) => {
      fs.writeFileSync(path.join(stateDir, "fault"), "flap aimed/1\n");
      const statuses = [];
      for (const agent of ["aimed/1", "peer", "aimed/1", "aimed/1", "peer", "aimed/1", "aimed/1"]) {
        statuses.push(`${agent}:${await as(port, agent)}`);
      }
      assert.deepEqual(statuses, [
        "aimed/1:503",
        "peer:200",
        "aimed/1:200",
        "aimed/1:503",
        "peer:200",
        "aimed/1:200",
        "aimed/1:503",
      ]);
      const injected = fs.readFileSync(path.join(stateDir, MOCKHUB_INJECTED_FILE), "utf8");
      assert.equal(injected, `503 GET ${BUILDERS_PATH} aimed/1\n`.repeat(3));
    });
  },
);
