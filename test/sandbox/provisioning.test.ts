// End-to-end: the program's own extension scripts, run by the sandbox on systemd containers.
// Needs root and the sandbox's Debian packages (tools/bootstrap.sh); brings the sandbox up before
// the tests and removes it after them (set SANDBOX_KEEP=1 to keep it for a look).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import { after, before, test } from "node:test";
import { publishArtifact } from "../../sandbox/doubles";
import { githubRequests, setGithubFault } from "../../sandbox/internet";
import { statePaths } from "../../sandbox/paths";
import { down, provision, up, UpReport } from "../../sandbox/sandbox";
import { artifactUrl, loadOrCreateSecrets, SANDBOX_ARTIFACT } from "../../sandbox/stack-config";
import { flowproxyVms, PUBLIC_PORTS, Vm, vmByName, VMS } from "../../sandbox/topology";
import { vmCheck, vmExec } from "../../sandbox/vm";

const east = vmByName("vm-eastus");
const west = vmByName("vm-westeurope");
const hub = vmByName("vm-builderhub");
let report: UpReport;

before(async () => {
  await down();
  report = await up({ log: (line) => console.log(line) });
  // HAProxy started before FlowProxy on the first run, so its health checks must first see the
  // backend rise; until then the public endpoints answer 503.
  const provisioned = Date.now();
  for (const vm of flowproxyVms()) {
    await eventually(`${vm.name} to serve through HAProxy`, async () =>
      (await httpsRequest(vm, PUBLIC_PORTS.https, "/livez").catch(() => undefined))?.status === 200 ? true : undefined,
    );
  }
  console.log(`public endpoints served ${((Date.now() - provisioned) / 1000).toFixed(1)} s after provisioning finished`);
});

after(async () => {
  setGithubFault(undefined);
  if (process.env.SANDBOX_KEEP !== "1") {
    await down();
  }
});

interface Reply {
  status: number;
  body: string;
}

/** HTTPS from the host to a VM's public IP; the VMs' certificates are self-signed. */
function httpsRequest(vm: Vm, port: number, urlPath: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: vm.publicIp,
        port,
        path: urlPath,
        method: body === undefined ? "GET" : "POST",
        rejectUnauthorized: false,
        agent: false,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        timeout: 5000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const mainPid = async (vm: Vm, unit: string) =>
  (await vmCheck(vm, ["systemctl", "show", "--property=MainPID", "--value", unit])).trim();

const metrics = (vm: Vm) => vmCheck(vm, ["curl", "-fsS", "http://127.0.0.1:8090/metrics"]);

const bundle = (tag: string) => ({ jsonrpc: "2.0", id: 1, method: "eth_sendBundle", params: [{ txs: [tag], blockNumber: "0x1" }] });

test("every extension succeeded, BuilderHub's first", () => {
  assert.deepEqual(report.runs.map((r) => [r.vmName, r.exitCode]), [
    ["vm-builderhub", 0],
    ["vm-eastus", 0],
    ["vm-westeurope", 0],
  ]);
});

test("the public IPs serve FlowProxy's user and system endpoints through HAProxy's TLS", async () => {
  for (const vm of flowproxyVms()) {
    assert.deepEqual(await httpsRequest(vm, PUBLIC_PORTS.https, "/livez"), { status: 200, body: "OK\n" });
    assert.equal((await httpsRequest(vm, PUBLIC_PORTS.system, "/livez")).status, 200);
  }
});

test("orderflow sent to one region reaches the other's system endpoint", async () => {
  for (const [from, to] of [[east, west], [west, east]]) {
    const tag = `0x${Date.now().toString(16)}`;
    assert.equal((await httpsRequest(from, PUBLIC_PORTS.https, "/", bundle(tag))).status, 200);
    const entry = await eventually(`${to.name} to receive ${tag}`, async () => {
      const received = await vmExec(to, ["cat", "/var/lib/flowproxy/received.jsonl"]);
      return received.stdout
        .split("\n")
        .filter((line) => line.includes(tag))
        .map((line) => JSON.parse(line) as { origin: string; node: string })[0];
    });
    assert.deepEqual([entry.origin, entry.node], [from.name, to.name]);
  }
});

test("BuilderHub lists each proxy with the certificate its HAProxy serves", async () => {
  const builders = JSON.parse(await vmCheck(west, ["curl", "-fsS", "http://builderhub.flowproxy.internal:3000/api/l1-builder/v1/builders"])) as {
    ip: string;
    orderflow_proxy: { tls_cert: string };
  }[];
  for (const vm of flowproxyVms()) {
    const entry = builders.find((b) => b.ip === `${vm.privateIp}:${PUBLIC_PORTS.system}`);
    assert.ok(entry, `${vm.name} is registered`);
    const served = await vmCheck(vm, ["cat", "/usr/local/etc/haproxy/static/le.cer"]);
    assert.equal(entry.orderflow_proxy.tls_cert.trim(), served.trim());
  }
});

test("the host reaches no private address, and no localhost-only port is public", async () => {
  await assert.rejects(
    new Promise((resolve, reject) => https.get({ host: hub.privateIp, port: 3000, timeout: 2000 }, resolve).on("error", reject)),
    /EHOSTUNREACH|ENETUNREACH/,
  );
  for (const port of [8405, 14727, 5542, 5543, 8090]) {
    await assert.rejects(httpsRequest(east, port, "/"), /ECONNREFUSED/, `port ${port}`);
  }
});

test("secrets stay out of the extension status and the GitHub double's log", async () => {
  const { githubToken } = loadOrCreateSecrets();
  for (const run of report.runs) {
    assert.ok(!run.stdoutTail.includes(githubToken) && !run.stderrTail.includes(githubToken), run.vmName);
  }
  assert.ok(!fs.readFileSync(statePaths.github.requests, "utf8").includes(githubToken));
  const blobRequests = githubRequests().filter((r) => r.host === "pipelines.actions.githubusercontent.com");
  assert.ok(blobRequests.length > 0 && blobRequests.every((r) => !r.authorization), "the token is not forwarded to the blob store");
  const mode = await vmCheck(east, ["stat", "-c", "%a %U", `/var/lib/waagent/custom-script/download/${report.runs[1].seq}/script.sh`]);
  assert.equal(mode.trim(), "500 root");
});

test("running the extensions again changes nothing and drops no request", async () => {
  const units = ["docker-haproxy.service", "flowproxy@vm-eastus.service"];
  const before = await Promise.all(units.map((u) => mainPid(east, u)));
  let failures = 0;
  let sent = 0;
  let running = true;
  const load = (async () => {
    // Bounded: at most 2000 requests, one at a time, only while the rerun lasts.
    while (running && sent < 2000) {
      sent++;
      const reply = await httpsRequest(east, PUBLIC_PORTS.https, "/livez").catch(() => undefined);
      if (reply?.status !== 200) {
        failures++;
      }
    }
  })();
  const runs = await provision(report.stack);
  running = false;
  await load;
  assert.deepEqual(runs.map((r) => r.exitCode), [0, 0, 0]);
  assert.ok(runs.every((r) => !r.settingsChanged));
  assert.deepEqual(await Promise.all(units.map((u) => mainPid(east, u))), before);
  assert.ok(sent > 0);
  assert.equal(failures, 0, `${failures} of ${sent} requests failed during the rerun`);
});

test("a new artifact replaces the binary; a corrupt one fails and leaves it running", async () => {
  const next = { ...SANDBOX_ARTIFACT, id: "3", variant: "v2" };
  publishArtifact(next);
  await up({ overrides: { flowProxyArtifact: artifactUrl(next) } });
  for (const vm of flowproxyVms()) {
    assert.match(await metrics(vm), /flowproxy_info\{version="v2"/);
  }

  const broken = { ...SANDBOX_ARTIFACT, id: "4", variant: "v3" };
  publishArtifact(broken);
  setGithubFault("corrupt");
  await assert.rejects(up({ overrides: { flowProxyArtifact: artifactUrl(broken) }, keepOnFailure: true }), /not a valid zip/);
  setGithubFault(undefined);
  for (const vm of flowproxyVms()) {
    assert.match(await metrics(vm), /flowproxy_info\{version="v2"/);
  }
  assert.ok(VMS.every((vm) => fs.existsSync(statePaths.vm(vm.name).dir)), "the sandbox is still there");
});
