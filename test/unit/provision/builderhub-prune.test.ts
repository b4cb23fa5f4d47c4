// provision/builderhub-prune.sh against the BuilderHub double (mockhub v0.0.6: each registration
// named after the registering address's reverse name, kept until a restart): when it restarts
// mockhub (a proxy that left the fleet and is gone, a fleet VM listed under another name that its
// reverse name would now correct, once) and when it leaves mockhub alone. Registrations come from
// loopback addresses of their own; `docker` and `getent` are stubs on PATH that record and answer.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import type * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { BUILDERHUB_API } from "../../../lib/contract";
import { registerFrom, startBuilderhubDouble, writeHookSettings } from "../../support/hooks";
import { spawnAsync } from "../../support/processes";
import { scratchDir } from "../../support/scratch";

const HOOK = path.resolve(__dirname, "..", "..", "..", "provision", "builderhub-prune.sh");
const dir = scratchDir("builderhub-prune-");
const stubs = path.join(dir, "bin");
/** The fleet's two proxies, a proxy removed from it whose VM is gone, and one removed whose VM still runs. */
const EAST = "127.0.0.2";
const WEST = "127.0.0.3";
const GONE = "127.0.0.4";
const LEAVING = "127.0.0.5";
/** What the reverse lookups answer, as the VNet's DNS would with the stack's PTR records. */
const names = path.join(dir, "names");
const restarts = path.join(dir, "docker-calls");

let server: http.Server;
let endpoint = "";
let systemPort = 0;
let leavingProxy: net.Server;
/** Names the double gives registrations; the test sets them before each registration. */
let reverseNames: Record<string, string> = {};

function writeStub(name: string, body: string): void {
  fs.writeFileSync(path.join(stubs, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
}

async function restartBuilderhub(): Promise<void> {
  ({ server, endpoint } = await startBuilderhubDouble(systemPort, async (ip) => {
    if (reverseNames[ip] === undefined) throw new Error(`no reverse name for ${ip}`);
    return reverseNames[ip];
  }));
}

before(async () => {
  fs.mkdirSync(stubs);
  // The one proxy still running after leaving the fleet answers on the system port.
  leavingProxy = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => leavingProxy.listen(0, LEAVING, resolve));
  systemPort = (leavingProxy.address() as AddressInfo).port;
  await restartBuilderhub();
  writeStub("docker", `printf '%s\\n' "$*" >>${JSON.stringify(restarts)}`);
  writeStub("getent", `[[ $1 == hosts ]] && grep -m1 "^$2 " ${JSON.stringify(names)}`);
});

after(() => {
  server.close();
  leavingProxy.close();
});

beforeEach(async () => {
  // A restarted mockhub: an empty registry.
  server.close();
  await restartBuilderhub();
  fs.rmSync(restarts, { force: true });
  fs.rmSync(path.join(dir, "renamed"), { force: true });
  fs.writeFileSync(names, "");
});

/** A registration of `signer` from `address`, which the double names `name` (the address's reverse name then). */
function register(address: string, signer: number, name?: string): Promise<void> {
  reverseNames = name === undefined ? {} : { [address]: `${name}.flowproxy.internal` };
  return registerFrom(endpoint, address, {
    tls_cert: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    ecdsa_pubkey_address: `0x${signer.toString(16).padStart(40, "0")}`,
  });
}

/** The VNet's reverse names from now on: one "<address> <name>" a line, as getent prints them. */
const reverseDns = (entries: Record<string, string>) =>
  fs.writeFileSync(
    names,
    Object.entries(entries)
      .map(([ip, name]) => `${ip}       ${name}.flowproxy.internal\n`)
      .join(""),
  );

async function prune(fleet = `vm-eastus ${EAST}\nvm-westeurope ${WEST}\n`) {
  fs.writeFileSync(path.join(dir, "fleet"), fleet);
  const settings = {
    FLEET_FILE: path.join(dir, "fleet"),
    BUILDERS_URL: `${endpoint}${BUILDERHUB_API.builders}`,
    MOCKHUB_CONTAINER: "mockhub",
    SYSTEM_PORT: String(systemPort),
    RENAMED_FILE: path.join(dir, "renamed"),
  };
  writeHookSettings(path.join(dir, "prune.env"), settings);
  const run = await spawnAsync("bash", [HOOK], {
    env: { PATH: `${stubs}:${process.env.PATH}`, BUILDERHUB_PRUNE_ENV: path.join(dir, "prune.env") },
  });
  const restarted = fs.existsSync(restarts) ? fs.readFileSync(restarts, "utf8").trim().split("\n") : [];
  return { ...run, restarted };
}

test("leaves a mockhub that lists nobody alone", async () => {
  const run = await prune();
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.restarted, []);
});

test("leaves mockhub alone while it lists the fleet's VMs under their names", async () => {
  await register(EAST, 1, "vm-eastus");
  await register(WEST, 2, "vm-westeurope");
  const run = await prune();
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.restarted, []);
  assert.equal(run.stdout, "");
});

test("restarts mockhub once a proxy that left the fleet no longer answers, naming it", async () => {
  await register(EAST, 1, "vm-eastus");
  await register(GONE, 3, "vm-eastus-2");
  const run = await prune();
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.restarted, ["restart mockhub"]);
  assert.match(
    run.stdout,
    new RegExp(
      `vm-eastus-2 \\(${GONE.replace(/\./g, "\\.")}\\) left the stack and no longer answers on port ${systemPort}`,
    ),
  );
  assert.match(run.stdout, /restarted mockhub; every proxy of the stack registers again within 20 s/);
});

test("keeps a proxy that left the fleet listed while its VM still answers: Pulumi has not deleted it yet", async () => {
  await register(EAST, 1, "vm-eastus");
  await register(LEAVING, 4, "vm-westeurope-2");
  const run = await prune();
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.restarted, []);
});

test("renames a fleet VM listed under its signer once its address has a reverse name, and only once", async () => {
  await register(WEST, 2);
  reverseDns({ [WEST]: "vm-westeurope" });
  const first = await prune();
  assert.deepEqual(first.restarted, ["restart mockhub"]);
  assert.match(
    first.stdout,
    new RegExp(
      `vm-westeurope \\(${WEST.replace(/\./g, "\\.")}\\) is listed as 0x0+2; registered again it is named vm-westeurope`,
    ),
  );
  // Should the restarted mockhub still not resolve the name, the same listing does not restart it again.
  const second = await prune();
  assert.deepEqual(second.restarted, ["restart mockhub"], "no second restart for the same listing");
});

test("leaves a fleet VM listed under its signer while its address has no reverse name: a restart would name it alike", async () => {
  await register(WEST, 2);
  const run = await prune();
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.restarted, []);
});

test("fails naming mockhub when it does not answer, and restarts nothing", async () => {
  server.close();
  const run = await prune();
  assert.equal(run.status, 1);
  assert.match(
    run.stderr,
    /builderhub-prune: mockhub does not answer http:\/\/127\.0\.0\.1:\d+\/api\/l1-builder\/v1\/builders/,
  );
  assert.deepEqual(run.restarted, []);
});
