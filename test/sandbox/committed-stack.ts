// The committed stack in the sandbox, and changes to it: what each proxy serves and refuses, what
// the NSGs let through, SSH as Azure sets it up, BuilderHub's registry, flow between the regions,
// reruns that change nothing, a configuration reload, HAProxy version changes that go wrong, and
// new FlowProxy builds.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { generatePrivateKey } from "viem/accounts";
import {
  BUILDERHUB,
  CONTAINERS,
  CUSTOM_SCRIPT_DOWNLOADS,
  DNS_ZONE,
  LOOPBACK,
  LOOPBACK_PORTS,
  PORTS,
  VM_PATHS,
} from "../../lib/contract";
import { BUILDERHUB_OUTPUTS, vmOutputNames } from "../../lib/outputs";
import { withEditedProject } from "../../plan/evaluation";
import { GENERATION_1_BUILD, publishArtifact } from "../../sandbox/internet/doubles";
import { runExtension } from "../../sandbox/azure/extension";
import { githubRequests, setGithubFault } from "../../sandbox/internet/github";
import { statePaths } from "../../sandbox/base/paths";
import {
  builders,
  changedFields,
  connectOutcome,
  describeLoad,
  eventually,
  flowproxyUnit,
  flowproxyVmState,
  haproxyWorkers,
  idleKeepAliveMs,
  livezLoad,
  peerCertificate,
  pemToDer,
  publicEndpoint,
  publicRequest,
  registrationOf,
  servesLivez,
  sha256,
  unitState,
} from "../../sandbox/probe";
import { lastNonEmptyLine, run } from "../../sandbox/base/proc";
import { evaluateSandboxStack, provision, up } from "../../sandbox/sandbox";
import {
  configCheckIsolated,
  flowproxyVersion,
  replacementRolledBack,
  sendAcross,
  unknownHaproxyReferences,
  versionRefusesConfig,
  withCheckProbe,
  withH2StreamLimit,
  withUnbindableFrontend,
} from "./scenarios/operations";
import { sshArguments, sshAs } from "../../sandbox/machines/ssh";
import { signerKeyOf } from "../../sandbox/azure/stack";
import { artifactUrl, loadOrCreateSecrets, SANDBOX_ARTIFACT } from "../../sandbox/internet/stack-config";
import { DOCKER_HUB, FIRST_PROXIES, flowproxyVms, Vm, vmByName, VMS } from "../../sandbox/base/topology";
import { vmCheck, vmExec } from "../../sandbox/machines/vm";
import { FlashbotsSearcher } from "../../verify/flashbots-client";
import { BundleClient, Searcher, SIGNATURE_HEADER, UserEndpoint } from "../../verify/searcher";
import { Impostor, refusal, unsigned } from "../support/searchers";
import { extensionOf, firstUp, signerOutput } from "./bring-up";

const [east, west] = FIRST_PROXIES;
const builderhub = vmByName(BUILDERHUB.vmName);
const searcher = new Searcher();
/** Searchers' clients: ours and Flashbots' own. */
const clients: readonly BundleClient[] = [searcher, new FlashbotsSearcher()];
let blockNumber = 1;

/** FlowProxy's answer to a missing or wrong signature (src/ingress/mod.rs at 258bbd6 and 029b7c4). */
const INVALID_SIGNATURE = { id: null, jsonrpc: "2.0", error: { code: -32603, message: "Invalid signature" } };

test("every extension succeeded, BuilderHub's first", () => {
  assert.deepEqual(
    firstUp().runs.map((r) => [r.vmName, r.exitCode]),
    [
      ["vm-builderhub", 0],
      ["vm-eastus", 0],
      ["vm-eastus-2", 0],
      ["vm-westeurope", 0],
    ],
  );
});

test("a bundle from each searchers' client, ours and Flashbots', on each proxy's public :443 and :80 gets a bundle hash, and /livez answers", async () => {
  for (const vm of flowproxyVms()) {
    for (const port of [PORTS.https, PORTS.http]) {
      const where = `${vm.name}:${port}`;
      for (const client of clients) {
        assert.match(
          await client.sendBundle(publicEndpoint(vm, port), blockNumber++),
          /^0x[0-9a-f]{64}$/,
          `${where}, ${client.name}`,
        );
      }
      assert.equal((await publicRequest(vm, port, "/livez")).status, 200, where);
    }
  }
});

test("unsigned and wrongly signed bundles, ours and through Flashbots' client, are refused with FlowProxy's JSON-RPC error", async () => {
  const signed = await searcher.bundle(blockNumber++);
  const impostor = new Searcher();
  // The impostor's signature over the same body, claimed in the searcher's name.
  const forged = `${searcher.address}:${(await impostor.signatureOf(signed.body)).split(":")[1]}`;
  // Flashbots' client's own requests: with the signature dropped on the way, and from an auth signer
  // that names the searcher while signing with another key.
  const viaClient = [
    ["Flashbots' client, unsigned", new FlashbotsSearcher(), unsigned],
    [
      "Flashbots' client, forged",
      new FlashbotsSearcher(new Impostor(generatePrivateKey(), searcher.address)),
      (endpoint: UserEndpoint) => endpoint,
    ],
  ] as const;
  for (const vm of flowproxyVms()) {
    for (const [label, headers] of [
      ["unsigned", {}],
      ["forged", { [SIGNATURE_HEADER]: forged }],
    ] as const) {
      const reply = await publicRequest(vm, PORTS.https, "/", signed.body, headers);
      assert.deepEqual([reply.status, JSON.parse(reply.body)], [400, INVALID_SIGNATURE], `${vm.name}, ${label}`);
    }
    for (const [label, client, via] of viaClient) {
      const { reply } = await refusal(client, via(publicEndpoint(vm, PORTS.https)), blockNumber++);
      assert.deepEqual([reply.status, JSON.parse(reply.body)], [400, INVALID_SIGNATURE], `${vm.name}, ${label}`);
    }
  }
});

test(":5544 reaches the system endpoint over TLS, presenting the certificate BuilderHub hands to peers", async () => {
  const list = await builders(east);
  for (const vm of flowproxyVms()) {
    assert.equal((await publicRequest(vm, PORTS.system, "/livez")).status, 200, `${vm.name}:5544 /livez`);
    const registered = registrationOf(list, vm)?.instance.tls_cert;
    assert.ok(registered, `${vm.name} is listed with a certificate`);
    assert.ok(
      (await peerCertificate(vm, PORTS.system)).equals(pemToDer(registered)),
      `${vm.name}:5544 presents the registered certificate`,
    );
  }
});

test("the metrics and certificate ports are dropped by the NSG from the internet, refused from the VNets, and answer inside the VM", async () => {
  for (const vm of flowproxyVms()) {
    const peer = vm === east ? west : east;
    // FlowProxy's own listeners (5542, 5543, 8090) are loopback-only too: HAProxy is the way in.
    const ports = [...LOOPBACK_PORTS];
    const fromInternet = await Promise.all(ports.map((port) => connectOutcome(vm.publicIp!, port)));
    assert.deepEqual(
      fromInternet,
      ports.map(() => "ETIMEDOUT"),
      `host to ${vm.name}:${ports.join(",")}`,
    );
    for (const port of ports) {
      // The VNets pass the NSG (AllowVnetInBound); only the loopback binds keep these closed.
      const fromPeer = await vmExec(peer, ["curl", "-sS", "--max-time", "3", `http://${vm.privateIp}:${port}/`]);
      assert.equal(
        fromPeer.code,
        7,
        `${peer.name} to ${vm.name}:${port} is refused (curl exit 7): ${fromPeer.stderr.trim()}`,
      );
    }
    assert.match(
      await vmCheck(vm, ["curl", "-fsS", `http://${LOOPBACK}:${PORTS.haproxyMetrics}/metrics`]),
      /^haproxy_process_/m,
    );
    const pem = await vmCheck(vm, ["curl", "-fsS", `http://${LOOPBACK}:${PORTS.servedCertificate}/`]);
    assert.match(pem, /^-----BEGIN CERTIFICATE-----\n/);
    assert.equal(pem, await vmCheck(vm, ["cat", VM_PATHS.servedCertificate]));
  }
});

test("BuilderHub is unreachable from the host and answers by name in both VNets", async () => {
  assert.match(await connectOutcome(builderhub.privateIp, BUILDERHUB.port), /^(EHOSTUNREACH|ENETUNREACH)$/);
  for (const vm of [east, west]) {
    assert.ok(Array.isArray(await builders(vm)), `${vm.name} reads the builders list by name`);
  }
});

/** An address of the host on the internet side that allowedSshCidr (the host's 198.18.0.1/32) leaves out. */
const OUTSIDE_SSH_CIDR = DOCKER_HUB.hostIp;

/** The first bytes a TCP port answers with, asked from inside `from` ("" when nothing answers in 3 s). */
async function bannerFrom(from: Vm, host: string, port: number): Promise<string> {
  const probe = await vmExec(from, ["timeout", "3", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port} && head -c 4 <&3`]);
  return probe.code === 0 ? probe.stdout : "";
}

test("the NSGs let SSH in from allowedSshCidr only, and the orderflow ports from anywhere", async () => {
  for (const vm of flowproxyVms()) {
    assert.equal(await connectOutcome(vm.publicIp!, 22), "connected", `${vm.name}:22 from inside allowedSshCidr`);
    assert.equal(
      await connectOutcome(vm.publicIp!, 22, OUTSIDE_SSH_CIDR),
      "ETIMEDOUT",
      `${vm.name}:22 from ${OUTSIDE_SSH_CIDR}`,
    );
    for (const port of [PORTS.http, PORTS.https, PORTS.system]) {
      assert.equal(
        await connectOutcome(vm.publicIp!, port, OUTSIDE_SSH_CIDR),
        "connected",
        `${vm.name}:${port} from anywhere`,
      );
    }
  }
});

test("BuilderHub's API and SSH answer from both VNets; ICMP crosses the VNets and is dropped from the internet", async () => {
  for (const vm of [east, west]) {
    assert.equal(await bannerFrom(vm, builderhub.privateIp, 22), "SSH-", `${vm.name} to BuilderHub's SSH`);
    assert.equal(
      (await vmExec(vm, ["ping", "-c", "1", "-W", "2", builderhub.privateIp])).code,
      0,
      `${vm.name} pings BuilderHub`,
    );
  }
  assert.equal(
    (await vmExec(east, ["ping", "-c", "1", "-W", "2", west.privateIp])).code,
    0,
    "east pings west across the peering",
  );
  for (const vm of flowproxyVms()) {
    assert.notEqual((await run("ping", ["-c", "1", "-W", "2", vm.publicIp!])).code, 0, `the internet pings ${vm.name}`);
  }
});

test("a rule changed in index.ts changes what the sandbox lets through", async () => {
  const openSsh = (text: string) =>
    text.replace(
      /(name: "ssh", priority: 100, protocol: "Tcp", port: String\(PORTS\.ssh\), source: )settings\.allowedSshCidr/,
      '$1"*"',
    );
  const before = await connectOutcome(east.publicIp!, 22, OUTSIDE_SSH_CIDR);
  try {
    await withEditedProject("index.ts", openSsh, (projectDir) => up({ projectDir }));
    assert.equal(before, "ETIMEDOUT");
    assert.equal(
      await connectOutcome(east.publicIp!, 22, OUTSIDE_SSH_CIDR),
      "connected",
      "SSH from anywhere once the rule says *",
    );
  } finally {
    await up();
  }
  assert.equal(
    await connectOutcome(east.publicIp!, 22, OUTSIDE_SSH_CIDR),
    "ETIMEDOUT",
    "closed again with the committed rule",
  );
});

/** The stack's ssh commands: sshEast, sshEast2, sshWest, and sshBuilderhub through the jump host. */
function sshOutputs(): [Vm, string][] {
  const output = (name: string) => String(firstUp().stack.outputs[name]?.value);
  return [
    ...flowproxyVms().map((vm): [Vm, string] => [vm, output(vmOutputNames(vm.outputName!).ssh)]),
    [builderhub, output(BUILDERHUB_OUTPUTS.ssh)],
  ];
}

test("the stack's ssh commands log in with the stack's key as the admin user, who has sudo without a password", async () => {
  for (const [vm, command] of sshOutputs()) {
    // ssh hands the remote side one command line, which the login shell parses.
    const login = await sshAs(command, ["sudo -n sh -c 'id -un && hostname'"]);
    assert.equal(login.code, 0, `${command}: ${login.stderr}`);
    assert.equal(login.stdout, `root\n${vm.name}\n`, command);
  }
});

test("SSH refuses a password login and a key the stack does not hold", async () => {
  const [, command] = sshOutputs()[0];
  const password = await sshAs(
    command,
    ["true"],
    ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"],
  );
  assert.equal(password.code, 255);
  assert.match(password.stderr, /Permission denied \(publickey\)/, "the server offers public keys only");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-wrong-key-"));
  try {
    const made = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/key`]);
    assert.equal(made.code, 0, made.stderr);
    const wrong = await run("ssh", [
      "-F",
      "/dev/null",
      "-i",
      `${dir}/key`,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      ...sshArguments(command),
      "--",
      "true",
    ]);
    assert.equal(wrong.code, 255);
    assert.match(wrong.stderr, /Permission denied \(publickey\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("BuilderHub lists every proxy under its VM's name, with the stack's signer addresses and the certificates they serve", async () => {
  const list = await builders(west);
  assert.equal(list.length, flowproxyVms().length, "one entry per proxy");
  for (const vm of flowproxyVms()) {
    const entry = registrationOf(list, vm);
    assert.ok(entry, `${vm.name} is registered`);
    assert.equal(entry.name, vm.name, `${vm.name} is named after its VM, by the reverse name of its address`);
    assert.equal(
      entry.orderflow_proxy.ecdsa_pubkey_address.toLowerCase(),
      signerOutput(vm).toLowerCase(),
      `${vm.name}'s signer`,
    );
    const served = pemToDer(await vmCheck(vm, ["cat", VM_PATHS.servedCertificate]));
    assert.ok(pemToDer(entry.orderflow_proxy.tls_cert ?? "").equals(served), `${vm.name}'s registered certificate`);
    assert.ok(pemToDer(entry.instance.tls_cert).equals(served), `${vm.name}'s certificate as peers read it`);
  }
});

test("a bundle from each searchers' client, ours and Flashbots', sent to any proxy reaches every other one's system endpoint, in its region and the other, signed by a listed signer", async () => {
  for (const from of flowproxyVms()) {
    for (const to of flowproxyVms().filter((vm) => vm !== from)) {
      await sendAcross(from, to);
    }
  }
});

test("every VNet resolves each VM's name to its address and the address back to the name, from the program's A and PTR records", async () => {
  for (const from of [builderhub, west]) {
    for (const vm of VMS) {
      const name = vm.role === "builderhub" ? `${BUILDERHUB.dnsLabel}.${DNS_ZONE}` : `${vm.name}.${DNS_ZONE}`;
      assert.match(
        await vmCheck(from, ["getent", "hosts", name]),
        new RegExp(`^${vm.privateIp.replace(/\./g, "\\.")}\\s+${name}$`, "m"),
        `${from.name} resolves ${name}`,
      );
      assert.match(
        await vmCheck(from, ["getent", "hosts", vm.privateIp]),
        new RegExp(`^${vm.privateIp.replace(/\./g, "\\.")}\\s+${name}$`, "m"),
        `${from.name} names ${vm.privateIp} ${name}`,
      );
    }
  }
});

test("secrets stay out of the extension status and the GitHub double's log", async () => {
  const { githubToken } = loadOrCreateSecrets();
  for (const run of firstUp().runs) {
    assert.ok(!run.stdoutTail.includes(githubToken) && !run.stderrTail.includes(githubToken), run.vmName);
  }
  assert.ok(!fs.readFileSync(statePaths.github.requests, "utf8").includes(githubToken));
  const blobRequests = githubRequests().filter((r) => r.host === "pipelines.actions.githubusercontent.com");
  assert.ok(
    blobRequests.length > 0 && blobRequests.every((r) => !r.authorization),
    "the token is not forwarded to the blob store",
  );
  const mode = await vmCheck(east, [
    "stat",
    "-c",
    "%a %U",
    `${CUSTOM_SCRIPT_DOWNLOADS}/${firstUp().runs[1].seq}/script.sh`,
  ]);
  assert.equal(mode.trim(), "500 root");
});

test("three reruns change nothing: one signer line, the same key, certificate and registration, no dropped request", async () => {
  const stateBefore = await flowproxyVmState(east);
  const load = livezLoad(east, PORTS.https, { ratePerSecond: 50, maxRequests: 3000 });
  for (let rerun = 1; rerun <= 3; rerun++) {
    const runs = await provision(firstUp().stack);
    assert.deepEqual(
      runs.map((r) => [r.exitCode, r.settingsChanged]),
      VMS.map(() => [0, false]),
      `rerun ${rerun}`,
    );
  }
  const served = await load.stop();
  const stateAfter = await flowproxyVmState(east);
  assert.equal(await unitState(east, flowproxyUnit(east)), "active");
  assert.equal(stateAfter.signerLines, 1, `${stateAfter.signerLines} FLASHBOTS_ORDERFLOW_SIGNER lines`);
  assert.equal(
    stateAfter.signerLinesSha,
    sha256(`FLASHBOTS_ORDERFLOW_SIGNER=${signerKeyOf(firstUp().stack, east.name)}`),
    "the stack's key",
  );
  assert.deepEqual(changedFields(stateBefore, stateAfter), [], "nothing changed on vm-eastus");
  assert.ok(served.sent > 0 && served.ok === served.sent, describeLoad(served));
});

test("a haproxy.cfg change reloads HAProxy under load without losing a request or restarting FlowProxy", async () => {
  let changed = "";
  const stack = await withEditedProject(
    "haproxy.cfg",
    (committed) => {
      changed = committed.replace(/timeout http-keep-alive 10s/, "timeout http-keep-alive 2s");
      assert.notEqual(changed, committed, "haproxy.cfg sets timeout http-keep-alive 10s");
      return changed;
    },
    (projectDir) => evaluateSandboxStack({ projectDir }),
  );
  try {
    const stateBefore = await flowproxyVmState(east);
    const workersBefore = await haproxyWorkers(east);
    const load = livezLoad(east, PORTS.https, { ratePerSecond: 200, minRequests: 1000, maxRequests: 10_000 });
    await eventually("the load to get going", async () => (load.sent >= 100 ? true : undefined));
    const runs = await provision(stack);
    const served = await load.stop();

    assert.deepEqual(
      runs.map((r) => r.exitCode),
      VMS.map(() => 0),
    );
    assert.match(runs.find((r) => r.vmName === east.name)!.stdoutTail, /reloaded HAProxy gracefully/);
    assert.ok(served.sent >= 1000, `only ${served.sent} requests`);
    assert.equal(served.ok, served.sent, describeLoad(served));
    const stateAfter = await flowproxyVmState(east);
    assert.deepEqual(changedFields(stateBefore, stateAfter), ["haproxyCfgSha"], "only the configuration changed");
    assert.equal(stateAfter.haproxyCfgSha, sha256(changed));
    assert.equal(await vmCheck(east, ["cat", VM_PATHS.haproxyCfg]), changed);
    // The new configuration runs: a new worker, and it closes idle connections after 2 s, not 10 s.
    const workersAfter = await haproxyWorkers(east);
    assert.ok(
      workersAfter.some((pid) => !workersBefore.includes(pid)),
      `new HAProxy worker (${workersBefore.join(",")} -> ${workersAfter.join(",")})`,
    );
    const idleMs = await idleKeepAliveMs(east, PORTS.https);
    assert.ok(idleMs >= 1500 && idleMs < 5000, `idle keep-alive closed after ${idleMs} ms`);
  } finally {
    await provision(firstUp().stack);
  }
});

test("each VM runs Debian's real Docker engine, which leaves the host's forwarding off", async () => {
  for (const vm of VMS) {
    assert.match(await vmCheck(vm, ["docker", "version", "--format", "{{.Server.Version}}"]), /^\d+\.\d+\.\d+/);
  }
  assert.equal(fs.readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim(), "0");
});

test("a new HAProxy container that cannot start is removed and the previous one keeps serving under its name", async () => {
  console.log(await withEditedProject("haproxy.cfg", withUnbindableFrontend, replacementRolledBack));
});

test("an unknown haproxy tag or digest fails the pull at once with Docker's error on the extension's last line; HAProxy keeps serving", async () => {
  for (const line of await unknownHaproxyReferences()) console.log(line);
});

test("a haproxy.cfg the new HAProxy version refuses fails the run and leaves the old container serving", async () => {
  console.log(await withEditedProject("haproxy.cfg", withH2StreamLimit, versionRefusesConfig));
});

test("the config check runs with no network and a read-only configuration", async () => {
  console.log(await withEditedProject("haproxy.cfg", withCheckProbe, configCheckIsolated));
});

test("with BuilderHub down the extension fails at registration and FlowProxy stays stopped; it recovers once BuilderHub is back", async () => {
  await vmCheck(east, ["systemctl", "stop", flowproxyUnit(east)]);
  await vmCheck(builderhub, ["docker", "stop", CONTAINERS.mockhub]);
  try {
    const failed = await runExtension(east, extensionOf(east));
    assert.equal(failed.exitCode, 1);
    const reason =
      /^FAILED: vm-eastus, step \d+\/\d+ \(ensure registered with builderhub\): BuilderHub at \S+ did not take the registration/;
    assert.match(lastNonEmptyLine(failed.stdoutTail) ?? "", reason);
    assert.match(lastNonEmptyLine(failed.stderrTail) ?? "", reason);
    assert.equal(await unitState(east, flowproxyUnit(east)), "inactive");
  } finally {
    await vmCheck(builderhub, ["docker", "start", CONTAINERS.mockhub]);
  }
  const recovered = await runExtension(east, extensionOf(east));
  assert.equal(recovered.exitCode, 0, recovered.stdoutTail);
  assert.equal(await unitState(east, flowproxyUnit(east)), "active");
  await servesLivez(east);
});

test("a new artifact replaces the binary; a corrupt one fails and leaves it running", async () => {
  const next = { ...SANDBOX_ARTIFACT, id: "3", build: { ...GENERATION_1_BUILD, version: "1.2.3", gitHash: "bee0001" } };
  const broken = { ...SANDBOX_ARTIFACT, id: "4", build: { ...GENERATION_1_BUILD, gitHash: "bee0002" } };
  try {
    publishArtifact(next);
    await up({ overrides: { flowProxyArtifact: artifactUrl(next) } });
    for (const vm of flowproxyVms()) {
      assert.equal(await flowproxyVersion(vm), "flowproxy 1.2.3-bee0001");
    }

    publishArtifact(broken);
    setGithubFault("corrupt");
    await assert.rejects(
      up({ overrides: { flowProxyArtifact: artifactUrl(broken) }, keepOnFailure: true }),
      /not a valid zip/,
    );
    for (const vm of flowproxyVms()) {
      assert.equal(await flowproxyVersion(vm), "flowproxy 1.2.3-bee0001");
    }
    assert.ok(
      VMS.every((vm) => fs.existsSync(statePaths.vm(vm.name).dir)),
      "the sandbox is still there",
    );
  } finally {
    setGithubFault(undefined);
    await up();
  }
});
