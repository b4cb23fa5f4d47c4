// provision/builderhub-listing.sh against the BuilderHub double (mockhub v0.0.6 lists each
// registration at the address it came from, with the certificate it sent as instance.tls_cert):
// the series it writes for the node exporter's textfile collector, and its refusals. Proxies are
// TLS servers on loopback addresses of their own, presenting their certificates on the system port.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import type * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { after, before, beforeEach, test } from "node:test";
import { BUILDERHUB_API } from "../../../lib/contract";
import { selfSignedCertificate, SelfSigned } from "../../support/certificates";
import { registerFrom, startBuilderhubDouble, writeHookSettings } from "../../support/hooks";
import { spawnAsync } from "../../support/processes";
import { scratchDir } from "../../support/scratch";

const HOOK = path.resolve(__dirname, "..", "..", "..", "provision", "builderhub-listing.sh");
const dir = scratchDir("builderhub-listing-");
const textfileDir = path.join(dir, "textfile");
const PROM_FILE = path.join(textfileDir, "builderhub-listing.prom");
/** Three proxies of the fleet, each presenting its own certificate; one more address that presents nothing. */
const EAST = "127.0.0.2";
const WEST = "127.0.0.3";
const EAST_2 = "127.0.0.4";
const SILENT = "127.0.0.5";
const FLEET = `vm-eastus ${EAST}\nvm-westeurope ${WEST}\nvm-eastus-2 ${EAST_2}\nvm-westeurope-2 ${SILENT}\n`;

let mockhub: http.Server;
let endpoint = "";
let systemPort = 0;
const proxies: tls.Server[] = [];
const certificates: Record<string, SelfSigned> = {};

async function restartBuilderhub(): Promise<void> {
  ({ server: mockhub, endpoint } = await startBuilderhubDouble(systemPort, (ip) =>
    Promise.resolve(`builder-${ip}.flowproxy.internal`),
  ));
}

function listen(server: tls.Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => resolve());
  });
}

before(async () => {
  fs.mkdirSync(textfileDir);
  for (const address of [EAST, WEST, EAST_2]) {
    certificates[address] = selfSignedCertificate(dir, `proxy-${address}`, `IP:${address}`);
    const server = tls.createServer({ cert: certificates[address].cert, key: certificates[address].key }, (s) =>
      s.end(),
    );
    // The first picks the port; every proxy takes system flow on the same one, as on the VMs.
    await listen(server, address, systemPort);
    systemPort ||= (server.address() as AddressInfo).port;
    proxies.push(server);
  }
  await restartBuilderhub();
});

after(() => {
  mockhub.close();
  for (const server of proxies) server.close();
});

beforeEach(async () => {
  // A restarted mockhub: an empty registry.
  mockhub.close();
  await restartBuilderhub();
  fs.rmSync(PROM_FILE, { force: true });
});

const signer = (n: number) => `0x${n.toString(16).padStart(40, "0")}`;

async function listing(settings: Partial<Record<string, string>> = {}) {
  fs.writeFileSync(path.join(dir, "fleet"), FLEET);
  const written = {
    FLEET_FILE: path.join(dir, "fleet"),
    BUILDERS_URL: `${endpoint}${BUILDERHUB_API.builders}`,
    SYSTEM_PORT: String(systemPort),
    TEXTFILE_DIR: textfileDir,
    ...settings,
  };
  writeHookSettings(
    path.join(dir, "listing.env"),
    Object.fromEntries(Object.entries(written).filter(([, v]) => v !== undefined)),
  );
  const run = await spawnAsync("bash", [HOOK], {
    env: { PATH: process.env.PATH, BUILDERHUB_LISTING_ENV: path.join(dir, "listing.env") },
  });
  const series = fs.existsSync(PROM_FILE)
    ? fs
        .readFileSync(PROM_FILE, "utf8")
        .split("\n")
        .filter((line) => line !== "" && !line.startsWith("#"))
    : undefined;
  return { ...run, series };
}

test("writes listed and certificate-matches per fleet VM: the certificate it presents, another, none, and unlisted", async () => {
  await registerFrom(endpoint, EAST, { tls_cert: certificates[EAST].cert, ecdsa_pubkey_address: signer(1) });
  // Listed with east's certificate, while it presents its own: its peers' TLS would refuse it.
  await registerFrom(endpoint, WEST, { tls_cert: certificates[EAST].cert, ecdsa_pubkey_address: signer(2) });
  // Listed, but nothing answers on its system port: no certificate to compare.
  await registerFrom(endpoint, SILENT, { tls_cert: certificates[EAST].cert, ecdsa_pubkey_address: signer(4) });
  const run = await listing();
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.series, [
    'flowproxy_staging_builderhub_listed{vm="vm-eastus"} 1',
    'flowproxy_staging_builderhub_listed{vm="vm-westeurope"} 1',
    'flowproxy_staging_builderhub_listed{vm="vm-eastus-2"} 0',
    'flowproxy_staging_builderhub_listed{vm="vm-westeurope-2"} 1',
    'flowproxy_staging_builderhub_certificate_matches{vm="vm-eastus"} 1',
    'flowproxy_staging_builderhub_certificate_matches{vm="vm-westeurope"} 0',
  ]);
  assert.equal(fs.statSync(PROM_FILE).mode & 0o777, 0o644, "the collector, another user, reads it");
});

test("counts every fleet VM unlisted while BuilderHub does not answer, and still writes the file", async () => {
  mockhub.close();
  const run = await listing();
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.series, [
    'flowproxy_staging_builderhub_listed{vm="vm-eastus"} 0',
    'flowproxy_staging_builderhub_listed{vm="vm-westeurope"} 0',
    'flowproxy_staging_builderhub_listed{vm="vm-eastus-2"} 0',
    'flowproxy_staging_builderhub_listed{vm="vm-westeurope-2"} 0',
  ]);
});

test("refuses settings that lack a name, saying which and what to run, and writes nothing", async () => {
  const run = await listing({ TEXTFILE_DIR: undefined });
  assert.equal(run.status, 1);
  assert.match(
    run.stderr,
    /^builderhub-listing: \S+listing\.env does not set TEXTFILE_DIR; rerun provisioning \(pulumi up\)\n$/,
  );
  assert.equal(run.series, undefined);
});
