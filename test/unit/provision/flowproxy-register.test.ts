// provision/flowproxy-register.sh against the BuilderHub double (mockhub v0.0.6 behaviour: first
// registration of a signer wins, ENABLE_TLS hands the certificate to peers): what it registers,
// what it reports, and which exit status tells provisioning whether a retry can help.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { BUILDERHUB_API, REGISTRATION_USER_AGENT } from "../../../lib/contract";
import { startMockhub } from "../../doubles/mockhub/server";
import { scratchDir } from "../../support/scratch";

const HOOK = path.resolve(__dirname, "..", "..", "..", "provision", "flowproxy-register.sh");
const dir = scratchDir("register-hook-");
const certificate = "-----BEGIN CERTIFICATE-----\nMIIBSERVEDCERT\n-----END CERTIFICATE-----";
let endpoint = "";
let server: Awaited<ReturnType<typeof startMockhub>>;
let signerCount = 0;

before(async () => {
  server = await startMockhub({
    systemPort: 5544,
    enableTls: true,
    host: "127.0.0.1",
    port: 0,
    lookup: async () => "",
    log: () => undefined,
  });
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fs.writeFileSync(path.join(dir, "cert.pem"), `${certificate}\n`);
});

after(() => {
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh signer address, so each test starts with BuilderHub not knowing it. */
const newSigner = () => `0x${(++signerCount).toString(16).padStart(40, "0")}`;

interface HookRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the hook with a settings file (written without a final newline, as a careless editor
 * would). Asynchronously: the BuilderHub double answers from this process.
 */
function runHook(signer: string, overrides: Record<string, string> = {}, args: string[] = []): Promise<HookRun> {
  const settings = {
    BUILDERHUB_ENDPOINT: endpoint,
    SIGNER_ADDRESS: signer,
    CERTIFICATE_FILE: path.join(dir, "cert.pem"),
    REGISTER_PATH: BUILDERHUB_API.register,
    BUILDERS_PATH: BUILDERHUB_API.builders,
    ...overrides,
  };
  const file = path.join(dir, `registration-${signer}.env`);
  fs.writeFileSync(
    file,
    Object.entries(settings)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
  );
  return new Promise((resolve) => {
    execFile(
      "bash",
      [HOOK, ...args],
      { env: { PATH: process.env.PATH, FLOWPROXY_REGISTRATION_ENV: file } },
      (error, stdout, stderr) =>
        resolve({ status: error ? (typeof error.code === "number" ? error.code : null) : 0, stdout, stderr }),
    );
  });
}

async function register(signer: string, tlsCert?: string): Promise<void> {
  const response = await fetch(`${endpoint}${BUILDERHUB_API.register}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(
      tlsCert === undefined ? { ecdsa_pubkey_address: signer } : { tls_cert: tlsCert, ecdsa_pubkey_address: signer },
    ),
  });
  assert.equal(response.status, 200);
}

async function listedCertificate(signer: string): Promise<string | undefined> {
  const list = (await (await fetch(`${endpoint}${BUILDERHUB_API.builders}`)).json()) as {
    orderflow_proxy: { ecdsa_pubkey_address: string };
    instance: { tls_cert: string };
  }[];
  return list.find((b) => b.orderflow_proxy.ecdsa_pubkey_address.toLowerCase() === signer.toLowerCase())?.instance
    .tls_cert;
}

test("registers an unknown signer with the served certificate, which peers then read", async () => {
  const signer = newSigner();
  const run = await runHook(signer);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /registered 0x0+1 with the served certificate/);
  assert.equal(await listedCertificate(signer), certificate);
});

test("leaves a current registration alone and says so", async () => {
  const signer = newSigner();
  await register(signer, certificate);
  const run = await runHook(signer);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /BuilderHub lists 0x[0-9a-f]+ with the served certificate/);
});

test("reports a signer BuilderHub lists without a certificate with status 3, naming the repair", async () => {
  const signer = newSigner();
  await register(signer);
  const run = await runHook(signer);
  assert.equal(run.status, 3);
  assert.match(run.stderr, /lists 0x[0-9a-f]+ without a certificate.*restart mockhub on vm-builderhub/);
  assert.equal(await listedCertificate(signer), "", "the first registration still wins");
});

test("reports a signer BuilderHub lists with another certificate with status 3", async () => {
  const signer = newSigner();
  await register(signer, "-----BEGIN CERTIFICATE-----\nMIIOTHER\n-----END CERTIFICATE-----");
  const run = await runHook(signer);
  assert.equal(run.status, 3);
  assert.match(run.stderr, /with a certificate other than the one HAProxy serves/);
});

test("an unreachable BuilderHub is status 1, worth a retry", async () => {
  const run = await runHook(newSigner(), { BUILDERHUB_ENDPOINT: "http://127.0.0.1:9" });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /BuilderHub at http:\/\/127\.0\.0\.1:9 does not answer/);
});

test("a settings file that lacks a value is status 2, naming the value", async () => {
  const run = await runHook(newSigner(), { BUILDERS_PATH: "" });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /does not set BUILDERS_PATH; rerun provisioning/);
});

test("a missing certificate file is status 2, naming the file", async () => {
  const run = await runHook(newSigner(), { CERTIFICATE_FILE: path.join(dir, "absent.pem") });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /cannot read .*absent\.pem, the certificate HAProxy serves/);
});

test("tells BuilderHub who runs it: provisioning, the timer, or FlowProxy's start when called without an argument", async () => {
  const agents: string[] = [];
  const recorder = http.createServer((req, res) => {
    agents.push(`${req.method} ${req.headers["user-agent"]}`);
    req.resume();
    res.end(req.method === "GET" ? "[]" : "");
  });
  await new Promise<void>((resolve) => recorder.listen(0, "127.0.0.1", resolve));
  try {
    const recorded = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;
    const seen: Record<string, string[]> = {};
    for (const [caller, args] of [
      ["provisioning", ["provisioning"]],
      ["timer", ["timer"]],
      ["flowproxyStart", []],
    ] as const) {
      agents.length = 0;
      // The recorder lists nobody, even after a registration: the hook reports that as status 1.
      assert.equal((await runHook(newSigner(), { BUILDERHUB_ENDPOINT: recorded }, [...args])).status, 1);
      seen[caller] = [...agents];
    }
    const expected = (agent: string) => [`GET ${agent}`, `POST ${agent}`, `GET ${agent}`];
    assert.deepEqual(seen, {
      provisioning: expected(REGISTRATION_USER_AGENT.provisioning),
      timer: expected(REGISTRATION_USER_AGENT.timer),
      flowproxyStart: expected(REGISTRATION_USER_AGENT.flowproxyStart),
    });
  } finally {
    recorder.close();
  }
});

test("provisioning runs the hook under its own name", () => {
  const provisioning = fs.readFileSync(path.resolve(__dirname, "..", "..", "..", "provision", "flowproxy.sh"), "utf8");
  const name = REGISTRATION_USER_AGENT.provisioning.slice(REGISTRATION_USER_AGENT.provisioning.indexOf("/") + 1);
  assert.match(provisioning, new RegExp(`^ +"\\$REGISTER_HOOK_FILE" ${name} \\|\\| status=\\$\\?$`, "m"));
});
