import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { BLOB_HOST, GithubDouble, presentedToken } from "../../doubles/github";
import { createZip } from "../../../sandbox/internet/zip";
import { spawnAsync } from "../../support/processes";
import { scratchDir } from "../../support/scratch";

const TOKEN = "ghp_unitTestToken0123456789abcdefghijkl";
const API_PATH = "/repos/flashbots/flowproxy/actions/artifacts/2/zip";
const dir = scratchDir("github-double-");
const faultFile = path.join(dir, "fault");
const requestLog = path.join(dir, "requests.jsonl");
const artifact = createZip([
  { name: "flowproxy", data: Buffer.from(`#!/bin/sh\n${"echo flowproxy\n".repeat(40)}`), mode: 0o755 },
]);
let double: GithubDouble;
let port: number;

before(async () => {
  fs.mkdirSync(path.join(dir, "artifacts", "flashbots", "flowproxy"), { recursive: true });
  fs.writeFileSync(path.join(dir, "artifacts", "flashbots", "flowproxy", "2.zip"), artifact);
  fs.mkdirSync(path.join(dir, "files"));
  for (const file of ["foundry-install.sh", "foundryup.sh", "cast.js", "tailscale-install.sh", "tailscale.js"]) {
    fs.writeFileSync(path.join(dir, "files", file), `contents of ${file}`);
  }
  double = new GithubDouble({
    host: "127.0.0.1",
    port: 0,
    token: TOKEN,
    artifactsDir: path.join(dir, "artifacts"),
    filesDir: path.join(dir, "files"),
    faultFile,
    requestLog,
  });
  port = await double.listen();
});

after(() => double.close());

beforeEach(() => fs.rmSync(faultFile, { force: true }));

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function get(host: string, urlPath: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host: "127.0.0.1", port, path: urlPath, headers: { host, "user-agent": "curl/8", ...headers } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    request.setTimeout(timeoutMs, () => request.destroy(new Error("timed out")));
    request.on("error", reject);
  });
}

const api = (headers: Record<string, string> = {}) => get("api.github.com", API_PATH, headers);
const bearer = { authorization: `Bearer ${TOKEN}` };

async function download(headers = bearer): Promise<Reply> {
  const redirect = await api(headers);
  assert.equal(redirect.status, 302);
  const location = new URL(String(redirect.headers.location));
  assert.equal(location.hostname, BLOB_HOST);
  return get(location.hostname, location.pathname + location.search);
}

test("the artifact API wants a token, and says so like GitHub", async () => {
  const none = await api();
  assert.equal(none.status, 401);
  assert.equal((JSON.parse(none.body.toString()) as { message: string }).message, "Requires authentication");
  const wrong = await api({ authorization: "Bearer ghp_wrong" });
  assert.equal(wrong.status, 401);
  assert.equal((JSON.parse(wrong.body.toString()) as { message: string }).message, "Bad credentials");
});

test("both Bearer and token forms are accepted; the zip comes from the blob store", async () => {
  assert.deepEqual((await download()).body, artifact);
  assert.deepEqual((await download({ authorization: `token ${TOKEN}` })).body, artifact);
  assert.equal(presentedToken("Basic abc"), undefined);
});

test("the blob store refuses a forwarded Authorization header and unknown links", async () => {
  const redirect = await api(bearer);
  const location = new URL(String(redirect.headers.location));
  const forwarded = await get(BLOB_HOST, location.pathname, bearer);
  assert.equal(forwarded.status, 403);
  assert.match(forwarded.body.toString(), /AuthenticationFailed/);
  assert.equal((await get(BLOB_HOST, "/artifacts/0000")).status, 403);
});

test("an unknown artifact or repository is 404; a request without User-Agent is 403", async () => {
  assert.equal((await get("api.github.com", "/repos/flashbots/flowproxy/actions/artifacts/3/zip", bearer)).status, 404);
  assert.equal((await get("api.github.com", "/repos/other/repo/actions/artifacts/2/zip", bearer)).status, 404);
  assert.equal((await get("api.github.com", API_PATH, { ...bearer, "user-agent": "" })).status, 403);
});

test("the request log records whether a token came, never the token", async () => {
  await api(bearer);
  await api();
  const log = fs.readFileSync(requestLog, "utf8");
  assert.ok(!log.includes(TOKEN));
  const entries = log
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { authorization: boolean; path: string });
  assert.deepEqual(
    entries.slice(-2).map((e) => e.authorization),
    [true, false],
  );
});

test("the installers and tools are served under their real hosts", async () => {
  const foundry = await get("foundry.paradigm.xyz", "/");
  assert.equal(foundry.status, 302);
  const installer = new URL(String(foundry.headers.location));
  assert.equal((await get(installer.hostname, installer.pathname)).body.toString(), "contents of foundry-install.sh");
  assert.equal(
    (await get("raw.githubusercontent.com", "/foundry-rs/foundry/HEAD/foundryup/foundryup")).body.toString(),
    "contents of foundryup.sh",
  );
  assert.equal(
    (await get("github.com", "/foundry-rs/foundry/releases/download/stable/cast")).body.toString(),
    "contents of cast.js",
  );
  assert.equal((await get("tailscale.com", "/install.sh")).body.toString(), "contents of tailscale-install.sh");
  assert.equal(
    (await get("pkgs.tailscale.com", "/stable/sandbox/tailscaled")).body.toString(),
    "contents of tailscale.js",
  );
  assert.equal((await get("example.com", "/")).status, 404);
});

test("faults: 401 and 404 whatever the request", async () => {
  fs.writeFileSync(faultFile, "401\n");
  assert.equal((await api(bearer)).status, 401);
  fs.writeFileSync(faultFile, "404");
  assert.equal((await api(bearer)).status, 404);
});

test("faults: a truncated, a corrupt and a binary-less zip", async () => {
  fs.writeFileSync(faultFile, "truncated");
  assert.equal((await download()).body.length, Math.floor(artifact.length / 2));
  for (const [fault, check] of [
    ["corrupt", /bad CRC|invalid compressed data|error/i],
    ["no-binary", /README\.txt/],
  ] as const) {
    fs.writeFileSync(faultFile, fault);
    const body = (await download()).body;
    const zipFile = path.join(dir, `${fault}.zip`);
    fs.writeFileSync(zipFile, body);
    // unzip -t lists what it tested on stdout, whatever its status.
    const listing = (await spawnAsync("unzip", ["-t", zipFile])).stdout;
    assert.match(listing, check, fault);
    assert.ok(!/testing: flowproxy +OK/.test(listing), fault);
  }
});

test("faults: flaky answers 502 to every other API request", async () => {
  fs.writeFileSync(faultFile, "flaky");
  const statuses = [(await api(bearer)).status, (await api(bearer)).status];
  assert.deepEqual(statuses.sort(), [302, 502]);
});

test("faults: hang never answers; slow trickles the zip", async () => {
  fs.writeFileSync(faultFile, "hang");
  await assert.rejects(get("api.github.com", API_PATH, bearer, 300), /timed out/);
  fs.writeFileSync(faultFile, "slow");
  const started = Date.now();
  assert.deepEqual((await download()).body, artifact);
  assert.ok(Date.now() - started >= 250, "the zip came at once");
});
