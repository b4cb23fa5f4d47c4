// pnpm run verify: every decision on facts from a fake Target (no SSH, no stack), the scripts it
// runs on the VMs (against stub commands), this machine's TLS side against a local server, the
// command line and the report.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { after, before, describe, test } from "node:test";
import { X509Certificate } from "crypto";
import { keccak256, recoverMessageAddress, toHex } from "viem";
import {
  AcceptanceWatch,
  CheckResult,
  decideClosedPorts,
  decideLogin,
  decideMonitoring,
  decideProvisioning,
  decideProxyServices,
  decideRegistration,
  decideTls,
  DEFAULT_OPTIONS,
  fingerprint,
  TLS_PORTS,
  verify,
  VerifyOptions,
} from "../../../verify/checks";
import { parseArgs, runVerify, TargetChoice, UsageError } from "../../../verify/cli";
import { FLOWPROXY_LISTEN, LOOPBACK_PORTS } from "../../../lib/contract";
import { haproxyEnvironment } from "../../../lib/provision";
import { layoutOf, ProxyVm } from "../../../verify/layout";
import { metricSum } from "../../../verify/metrics";
import {
  asRoot,
  BUILDERHUB_FACTS_SCRIPT,
  METRICS_SCRIPT,
  parseSections,
  PROXY_FACTS_SCRIPT,
  Section,
} from "../../../verify/remote";
import { formatJson, formatTable } from "../../../verify/report";
import { describePulumiFailure, parseStackOutputs, stackTarget } from "../../../verify/stack-target";
import {
  CertificateMismatch,
  CommandResult,
  ConnectOutcome,
  hostNetwork,
  remoteCommandLine,
  Reply,
  Target,
  VerifyError,
} from "../../../verify/target";
import { FlashbotsSearcher } from "../../../verify/flashbots-client";
import { SIGNATURE_HEADER } from "../../../verify/searcher";
import { shellcheck, spawnAsync } from "../../support/processes";
import { PROJECT_DIR } from "../../../plan/evaluation";
import { selfSignedCertificate } from "../../support/certificates";
import { scratchDir } from "../../support/scratch";

/** The outputs the program exports for the example config (as `pnpm run plan` renders them). */
const OUTPUTS: Record<string, string> = {
  eastPublicIp: "203.0.113.10",
  eastPrivateIp: "10.10.1.4",
  sshEast: "ssh azureuser@203.0.113.10",
  eastPrivateFqdn: "vm-eastus.flowproxy.internal",
  eastNicPrivateFqdn: "vm-eastus.mockguid.bx.internal.cloudapp.net",
  eastSignerAddress: "0x570B6fcD4260E71f04EB7B090a132c2a7532554B",
  westPublicIp: "203.0.113.11",
  westPrivateIp: "10.20.1.4",
  sshWest: "ssh azureuser@203.0.113.11",
  westPrivateFqdn: "vm-westeurope.flowproxy.internal",
  westNicPrivateFqdn: "vm-westeurope.mockguid.bx.internal.cloudapp.net",
  westSignerAddress: "0x9395BF2896c667E0068bc21897d7A5c6cfD079d6",
  builderhubPrivateIp: "10.10.1.5",
  builderhubPrivateFqdn: "builderhub.flowproxy.internal",
  builderhubNicPrivateFqdn: "vm-builderhub.mockguid.bx.internal.cloudapp.net",
  sshBuilderhub: "ssh -J azureuser@203.0.113.10 azureuser@10.10.1.5",
};

const layout = layoutOf(OUTPUTS, "stack dev");
const [EAST, WEST] = layout.proxies;

// ---- certificates, made by openssl as provisioning makes them ----

const workDir = scratchDir("flowproxy-verify-");

interface Cert {
  pem: string;
  key: string;
  der: Buffer;
}

function makeCert(name: string): Cert {
  const { cert: pem, key } = selfSignedCertificate(workDir, name, "IP:127.0.0.1");
  return { pem, key, der: new X509Certificate(pem).raw };
}

const certs = { east: makeCert("vm-eastus"), west: makeCert("vm-westeurope"), other: makeCert("other") };

// ---- a fake stack behind a fake Target ----

interface FakeProxy {
  vm: ProxyVm;
  hostname: string;
  lastRun: Section;
  haproxy: Section;
  flowproxy: Section;
  /** undefined: BuilderHub does not list it; "": listed without a certificate. */
  registered?: string;
  served: string;
  presented: Buffer;
  ports: Record<number, ConnectOutcome>;
  /** The system endpoint's accepted count; a healthy peer counts every bundle its peers forward. */
  accepted: number;
}

interface FakeStack {
  builderhub: { hostname: string; lastRun: Section; mockhub: Section; login?: CommandResult };
  proxies: FakeProxy[];
  logins: Record<string, CommandResult | undefined>;
}

const done = (output: string, status = 0): Section => ({ output, status });
const succeeded = done(
  "status=0\nat=2026-11-27T10:00:00Z\ndir=/var/lib/waagent/custom-script/download/0\nline=provisioning of vm converged in 12.345 s\n",
);

function healthyStack(): FakeStack {
  const proxy = (vm: ProxyVm, cert: Cert): FakeProxy => ({
    vm,
    hostname: vm.name,
    lastRun: succeeded,
    haproxy: done("running\n"),
    flowproxy: done("active\n"),
    registered: cert.pem,
    served: cert.pem,
    presented: cert.der,
    ports: Object.fromEntries(LOOPBACK_PORTS.map((p) => [p, "timeout"])),
    accepted: 3,
  });
  return {
    builderhub: { hostname: "vm-builderhub", lastRun: succeeded, mockhub: done("running\n") },
    proxies: [proxy(EAST, certs.east), proxy(WEST, certs.west)],
    logins: {},
  };
}

function sections(entries: Record<string, Section>): string {
  return Object.entries(entries)
    .map(([name, s]) => `@@verify ${name}\n${s.output}\n@@status ${s.status}\n`)
    .join("");
}

/** A request as the fake proxy received it. */
interface Sent {
  body: string;
  headers: Record<string, string>;
}

function fakeTarget(stack: FakeStack): Target & { sent: Sent[] } {
  const byIp = (ip: string) => stack.proxies.find((p) => p.vm.publicIp === ip)!;
  const builders = () =>
    JSON.stringify(
      stack.proxies
        .filter((p) => p.registered !== undefined)
        .map((p) => ({
          name: p.vm.name,
          orderflow_proxy: { ecdsa_pubkey_address: p.vm.signer!.toLowerCase(), tls_cert: p.registered },
          instance: { tls_cert: p.registered },
        })),
    );
  const sent: Sent[] = [];
  return {
    sent,
    description: "stack dev",
    outputs: OUTPUTS,
    async ssh(printed, remote): Promise<CommandResult> {
      const login = stack.logins[printed];
      if (login) return login;
      const [script] = remote.slice(4);
      const reply = (stdout: string): CommandResult => ({ code: 0, stdout, stderr: "", timedOut: false });
      if (printed === layout.builderhub.ssh) {
        const { hostname, lastRun, mockhub } = stack.builderhub;
        return reply(sections({ hostname: done(`${hostname}\n`), "last-run": lastRun, mockhub }));
      }
      const proxy = stack.proxies.find((p) => p.vm.ssh === printed)!;
      if (script === METRICS_SCRIPT) {
        return reply(
          `flowproxy_ingress_rpc_request_duration_count{handler="system",method="eth_sendBundle",priority="medium"} ${proxy.accepted}\n` +
            `flowproxy_builderhub_peer_count ${stack.proxies.filter((p) => p.registered !== undefined && p !== proxy).length}\n`,
        );
      }
      assert.equal(script, PROXY_FACTS_SCRIPT);
      return reply(
        sections({
          hostname: done(`${proxy.hostname}\n`),
          "last-run": proxy.lastRun,
          haproxy: proxy.haproxy,
          flowproxy: proxy.flowproxy,
          "signer-file": done("cat: /etc/flowproxy/signer.address: No such file or directory", 1),
          "builderhub-endpoint": done("http://builderhub.flowproxy.internal:3000"),
          builders: done(builders()),
          "served-certificate": done(proxy.served),
        }),
      );
    },
    async connect(host, port) {
      return byIp(host).ports[port];
    },
    async peerCertificate(host) {
      return byIp(host).presented;
    },
    async pinnedPost(host, _port, _path, body, headers, pinned): Promise<Reply> {
      const sender = byIp(host);
      if (!sender.presented.equals(pinned)) throw new CertificateMismatch(sender.presented);
      sent.push({ body, headers });
      if (sender.flowproxy.output.trim() !== "active")
        return { status: 503, body: "<html>503 Service Unavailable</html>" };
      for (const peer of stack.proxies) {
        const reaches =
          peer !== sender && peer.registered && peer.presented.equals(new X509Certificate(peer.registered).raw);
        if (reaches && peer.flowproxy.output.trim() === "active") peer.accepted++;
      }
      return {
        status: 200,
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, result: { bundleHash: `0x${"ab".repeat(32)}` } }),
      };
    },
  };
}

const FAST: VerifyOptions = { ...DEFAULT_OPTIONS, flowTimeoutMs: 200, pollIntervalMs: 5 };
const resultOf = (results: CheckResult[], vm: string, check: string) => {
  const found = results.find((r) => r.vm === vm && r.check === check);
  assert.ok(found, `a result for ${vm} ${check}`);
  return found;
};
const failures = (results: CheckResult[]) =>
  results.filter((r) => r.outcome !== "ok").map((r) => `${r.vm} ${r.check} ${r.outcome}`);

describe("the whole verify against a fake stack", () => {
  test("a healthy stack passes every check, and a bundle from each client, ours and Flashbots', from each proxy reaches the other", async () => {
    const target = fakeTarget(healthyStack());
    const results = await verify(target, FAST);
    assert.deepEqual(failures(results), []);
    assert.deepEqual(
      results.map((r) => `${r.vm} ${r.check}`),
      [
        "vm-builderhub ssh",
        "vm-builderhub provisioning",
        "vm-builderhub services",
        ...["vm-eastus", "vm-westeurope"].flatMap((vm) =>
          ["ssh", "provisioning", "services", "registration", "tls", "closed-ports", "flow"].map((c) => `${vm} ${c}`),
        ),
      ],
    );
    assert.match(
      resultOf(results, "vm-eastus", "flow").detail,
      /^sent to https:\/\/203\.0\.113\.10\/: a bundle from our signer \(0x[0-9a-f]{8}…\) reached vm-westeurope in \d+\.\d s; a bundle from Flashbots' client \(0x[0-9a-f]{8}…\) reached vm-westeurope in \d+\.\d s$/,
    );
    assert.equal(target.sent.length, 4, "one bundle per client and proxy");
    for (const { body, headers } of target.sent) {
      const request = JSON.parse(body) as { method: string; params: [{ txs: string[] }] };
      assert.equal(request.method, "eth_sendBundle");
      assert.match(request.params[0].txs[0], /^0x02[0-9a-f]+$/, "an EIP-1559 transaction, signed");
      const [address, signature] = headers[SIGNATURE_HEADER].split(":");
      assert.equal(
        await recoverMessageAddress({ message: keccak256(toHex(body)), signature: signature as `0x${string}` }),
        address,
        "signed by the address it names",
      );
    }
    // Ours, then the Flashbots client's own request (pinnedPost adds the content type to ours).
    const ours = SIGNATURE_HEADER;
    const flashbots = `accept-encoding,content-length,content-type,${SIGNATURE_HEADER}`;
    assert.deepEqual(
      target.sent.map((s) => Object.keys(s.headers).sort().join(",")),
      [ours, flashbots, ours, flashbots],
    );
  });

  test("FlowProxy stopped on one VM fails its services and its flow at once, and the other proxy's flow names it", async () => {
    const stack = healthyStack();
    stack.proxies[1].flowproxy = done("inactive\n", 3);
    const started = Date.now();
    const results = await verify(fakeTarget(stack), { ...FAST, flowTimeoutMs: 60_000 });
    assert.ok(Date.now() - started < 2000, "no wait for a peer known to be down");
    assert.deepEqual(failures(results), [
      "vm-eastus flow skipped",
      "vm-westeurope services FAIL",
      "vm-westeurope flow FAIL",
    ]);
    assert.match(resultOf(results, "vm-westeurope", "services").detail, /flowproxy@vm-westeurope\.service is inactive/);
    assert.match(resultOf(results, "vm-eastus", "flow").detail, /vm-westeurope's services are down/);
    assert.match(
      resultOf(results, "vm-westeurope", "flow").detail,
      /https:\/\/203\.0\.113\.11\/ did not take a bundle from our signer: HTTP 503/,
    );
  });

  test("an emptied BuilderHub registry fails registration on every proxy, naming the signer", async () => {
    const stack = healthyStack();
    for (const proxy of stack.proxies) proxy.registered = undefined;
    const results = await verify(fakeTarget(stack), FAST);
    assert.deepEqual(failures(results), [
      "vm-eastus registration FAIL",
      "vm-eastus tls skipped",
      "vm-eastus flow skipped",
      "vm-westeurope registration FAIL",
      "vm-westeurope tls skipped",
      "vm-westeurope flow skipped",
    ]);
    assert.match(
      resultOf(results, "vm-eastus", "registration").detail,
      /does not list vm-eastus's signer 0x570B6fcD4260E71f04EB7B090a132c2a7532554B \(it lists 0 builders\)/,
    );
  });

  test("a wrong certificate on one proxy fails its tls and its flow, and no bundle goes to it", async () => {
    const stack = healthyStack();
    stack.proxies[0].presented = certs.other.der;
    const target = fakeTarget(stack);
    const results = await verify(target, FAST);
    assert.deepEqual(failures(results), ["vm-eastus tls FAIL", "vm-eastus flow FAIL", "vm-westeurope flow skipped"]);
    assert.match(
      resultOf(results, "vm-eastus", "tls").detail,
      new RegExp(
        `203\\.0\\.113\\.10:443 presents a certificate \\(${fingerprint(certs.other.der)}\\) other than the registered one \\(${fingerprint(certs.east.der)}\\)`,
      ),
    );
    assert.match(resultOf(results, "vm-eastus", "flow").detail, /the bundle was not sent/);
    assert.equal(target.sent.length, 0);
  });

  test("Flashbots' client's bundle, too, goes out only to the registered certificate", async () => {
    const stack = healthyStack();
    stack.proxies[0].presented = certs.other.der;
    const target = fakeTarget(stack);
    const results = await verify(target, FAST, [new FlashbotsSearcher()]);
    assert.match(
      resultOf(results, "vm-eastus", "flow").detail,
      /^https:\/\/203\.0\.113\.10\/ presents a certificate \(sha256 [0-9a-f]{16}\) other than the registered one; the bundle was not sent$/,
    );
    assert.equal(target.sent.length, 0);
  });

  test("a bundle Flashbots' client sends that FlowProxy refuses fails the flow with FlowProxy's answer, after ours reached", async () => {
    const target = fakeTarget(healthyStack());
    const pinnedPost = target.pinnedPost.bind(target);
    target.pinnedPost = async (host, port, urlPath, body, headers, pinned, timeoutMs) =>
      "accept-encoding" in headers
        ? { status: 400, body: '{"id":null,"jsonrpc":"2.0","error":{"code":-32603,"message":"Invalid signature"}}' }
        : pinnedPost(host, port, urlPath, body, headers, pinned, timeoutMs);
    const results = await verify(target, FAST);
    assert.deepEqual(failures(results), ["vm-eastus flow FAIL", "vm-westeurope flow FAIL"]);
    assert.match(
      resultOf(results, "vm-eastus", "flow").detail,
      /^a bundle from our signer \(0x[0-9a-f]{8}…\) reached vm-westeurope in \d+\.\d s; https:\/\/203\.0\.113\.10\/ did not take a bundle from Flashbots' client: HTTP 400 \{"id":null,"jsonrpc":"2\.0","error":\{"code":-32603,"message":"Invalid signature"\}\}$/,
    );
  });

  test("a port the NSG lets through fails closed-ports on that VM with the cause", async () => {
    const stack = healthyStack();
    stack.proxies[1].ports[8405] = "ECONNREFUSED";
    const results = await verify(fakeTarget(stack), FAST);
    assert.deepEqual(failures(results), ["vm-westeurope closed-ports FAIL"]);
    assert.equal(
      resultOf(results, "vm-westeurope", "closed-ports").detail,
      "on 203.0.113.11: 8405 refused: the NSG lets it through; only the loopback bind keeps it closed",
    );
  });

  test("a peer that never counts the bundle fails the sender's flow after the timeout, with the peer count", async () => {
    const target = fakeTarget(healthyStack());
    target.pinnedPost = async () => ({
      status: 200,
      body: JSON.stringify({ result: { bundleHash: `0x${"cd".repeat(32)}` } }),
    });
    const results = await verify(target, FAST);
    assert.match(
      resultOf(results, "vm-eastus", "flow").detail,
      /vm-westeurope's system endpoint accepted nothing within 0\.2 s .*vm-eastus's FlowProxy knows 1 of 1 peers/,
    );
  });

  test("an ssh that fails names the VM and ssh's last line, and the checks that need it are skipped", async () => {
    const stack = healthyStack();
    stack.logins[layout.builderhub.ssh] = {
      code: 255,
      stdout: "",
      stderr: "Warning: Permanently added '203.0.113.10'\nazureuser@10.10.1.5: Permission denied (publickey).\n",
      timedOut: false,
    };
    const results = await verify(fakeTarget(stack), FAST);
    assert.deepEqual(failures(results), [
      "vm-builderhub ssh FAIL",
      "vm-builderhub provisioning skipped",
      "vm-builderhub services skipped",
    ]);
    assert.equal(
      resultOf(results, "vm-builderhub", "ssh").detail,
      "`ssh -J azureuser@203.0.113.10 azureuser@10.10.1.5` failed: azureuser@10.10.1.5: Permission denied (publickey).; load the key whose public half is the stack's sshPublicKey (ssh-add)",
    );
  });
});

describe("each check's decision", () => {
  const facts = (entries: Record<string, Section>) => new Map(Object.entries(entries));

  test("ssh: a login that reaches another host, or where sudo asks for a password, fails", () => {
    const other = decideLogin("vm-eastus", "ssh azureuser@203.0.113.10", {
      code: 0,
      stdout: sections({ hostname: done("somewhere\n") }),
      stderr: "",
      timedOut: false,
    });
    assert.equal(other.check.detail, "`ssh azureuser@203.0.113.10` reached host somewhere, not vm-eastus");
    const sudo = decideLogin("vm-eastus", "ssh azureuser@203.0.113.10", {
      code: 1,
      stdout: "",
      stderr: "sudo: a password is required\n",
      timedOut: false,
    });
    assert.match(sudo.check.detail, /logged in, but `sudo -n` did not run the checks: sudo: a password is required/);
    const hostKey = decideLogin("vm-eastus", "ssh azureuser@203.0.113.10", {
      code: 255,
      stdout: "",
      stderr: "Host key verification failed.\n",
      timedOut: false,
    });
    assert.match(hostKey.check.detail, /accept the VM's host key once by running `ssh azureuser@203\.0\.113\.10`/);
  });

  test("provisioning: the recorded run passes when it converged, and fails when it failed, never ended or is missing", () => {
    assert.equal(
      decideProvisioning("vm-eastus", facts({ "last-run": succeeded })).detail,
      "provisioning of vm converged in 12.345 s (2026-11-27T10:00:00Z)",
    );
    const failed = decideProvisioning(
      "vm-eastus",
      facts({
        "last-run": done(
          "status=1\nat=T\ndir=/d/3\nline=FAILED: vm-eastus, step 13/15 (ensure registered with builderhub): BuilderHub lists ...\n",
        ),
      }),
    );
    assert.deepEqual(
      [failed.outcome, failed.detail],
      [
        "FAIL",
        "the last run (T) exited with status 1: FAILED: vm-eastus, step 13/15 (ensure registered with builderhub): BuilderHub lists ...",
      ],
    );
    const killed = decideProvisioning(
      "vm-eastus",
      facts({
        "last-run": done(
          "status=running\nat=T\ndir=/var/lib/waagent/custom-script/download/3\nline=provisioning of vm-eastus started\n",
        ),
      }),
    );
    assert.match(
      killed.detail,
      /has not finished: it is still running, or was killed midway; its output is in \/var\/lib\/waagent\/custom-script\/download\/3\/stdout/,
    );
    const missing = decideProvisioning(
      "vm-eastus",
      facts({ "last-run": done("cat: /var/lib/flowproxy-provision/last-run: No such file or directory", 1) }),
    );
    assert.match(missing.detail, /no provisioning run is recorded/);
  });

  test("services: a stopped container or unit fails, naming it and where to look", () => {
    const result = decideProxyServices(
      "vm-eastus",
      facts({ haproxy: done("Error: No such object: haproxy", 1), flowproxy: done("failed\n", 3) }),
    );
    assert.equal(
      result.detail,
      "the haproxy container is missing (sudo docker logs haproxy); flowproxy@vm-eastus.service is failed (journalctl -u flowproxy@vm-eastus.service)",
    );
  });

  const registrationFacts = (builders: unknown[], served = certs.east.pem) =>
    facts({
      "builderhub-endpoint": done("http://builderhub.flowproxy.internal:3000"),
      builders: done(JSON.stringify(builders)),
      "served-certificate": done(served),
      "signer-file": done("0x1111111111111111111111111111111111111111\n"),
    });
  const entry = (address: string, cert: string, name = EAST.name) => ({
    name,
    orderflow_proxy: { ecdsa_pubkey_address: address, tls_cert: cert },
    instance: { tls_cert: cert },
  });

  test("registration: another certificate than HAProxy serves fails, naming the VM and both fingerprints", () => {
    const result = decideRegistration(EAST, registrationFacts([entry(EAST.signer!.toLowerCase(), certs.other.pem)]));
    assert.equal(result.check.outcome, "FAIL");
    assert.match(
      result.check.detail,
      new RegExp(
        `with a certificate \\(${fingerprint(certs.other.der)}\\) other than the one HAProxy serves \\(${fingerprint(certs.east.der)}\\), so peers reject vm-eastus`,
      ),
    );
    assert.ok(result.registered?.equals(certs.other.der), "the registered certificate is what peers pin");
  });

  test("registration: a listing without a certificate fails; the signer matches whatever its case", () => {
    assert.match(
      decideRegistration(EAST, registrationFacts([entry(EAST.signer!.toUpperCase().replace("0X", "0x"), "")])).check
        .detail,
      /without a certificate/,
    );
    assert.equal(
      decideRegistration(EAST, registrationFacts([entry(EAST.signer!.toLowerCase(), certs.east.pem)])).check.outcome,
      "ok",
    );
  });

  test("registration: a VM that made its own key is looked up by the address it wrote", () => {
    const vm = { ...EAST, signer: undefined };
    const result = decideRegistration(
      vm,
      registrationFacts([entry("0x1111111111111111111111111111111111111111", certs.east.pem)]),
    );
    assert.equal(
      result.check.detail,
      `BuilderHub lists 0x1111111111111111111111111111111111111111 as vm-eastus with the certificate HAProxy serves (${fingerprint(certs.east.der)})`,
    );
  });

  test("registration: a listing under another name than the VM's fails, saying where the name comes from; the TLS check still runs", () => {
    const result = decideRegistration(
      EAST,
      registrationFacts([entry(EAST.signer!.toLowerCase(), certs.east.pem, EAST.signer)]),
    );
    assert.equal(result.check.outcome, "FAIL");
    assert.match(
      result.check.detail,
      new RegExp(
        `lists ${EAST.signer} as "${EAST.signer}", not under its VM's name vm-eastus: mockhub names a builder after the reverse name of the address it registered from`,
      ),
    );
    assert.ok(result.registered?.equals(certs.east.der));
  });

  test("closed ports: a dropped connection passes; refused and accepted ones fail with their cause", () => {
    assert.equal(
      decideClosedPorts(EAST, [
        [8405, "timeout"],
        [14727, "timeout"],
      ]).outcome,
      "ok",
    );
    assert.equal(
      decideClosedPorts(EAST, [
        [8405, "connected"],
        [14727, "ECONNREFUSED"],
        [8090, "EHOSTUNREACH"],
      ]).detail,
      "on 203.0.113.10: 8405 accepts connections from the internet; 14727 refused: the NSG lets it through; only the loopback bind keeps it closed; 8090 answered EHOSTUNREACH instead of being dropped",
    );
  });

  test("tls: a port without a handshake fails with the error", () => {
    const result = decideTls(EAST, certs.east.der, [
      { port: 443, der: certs.east.der },
      { port: 5544, error: "ECONNREFUSED" },
    ]);
    assert.equal(result.detail, "no TLS handshake on 203.0.113.10:5544: ECONNREFUSED");
  });

  test("flow: only a rise from one sample to the next proves an arrival, as a rolling window also falls", () => {
    const watch = new AcceptanceWatch(5);
    assert.equal(watch.observe(5), false);
    assert.equal(watch.observe(4), false, "an old request aged out");
    assert.equal(watch.observe(5), true, "a new one arrived while the count was lower than at the start");
    assert.equal(watch.observe(3), true, "an arrival stays proven");
  });

  test("metrics: the system handler's accepted count sums its series across methods and priorities", () => {
    const text = [
      'flowproxy_ingress_rpc_request_duration_count{handler="system",method="eth_sendBundle",priority="medium"} 2',
      'flowproxy_ingress_rpc_request_duration_count{handler="system",method="eth_sendRawTransaction",priority="low"} 1',
      'flowproxy_ingress_rpc_request_duration_count{handler="user",method="eth_sendBundle",priority="medium"} 9',
    ].join("\n");
    assert.equal(metricSum(text, "flowproxy_ingress_rpc_request_duration_count", { handler: "system" }), 3);
  });
});

describe("the stack's outputs", () => {
  test("give each region's proxy and BuilderHub's jump command", () => {
    assert.deepEqual(layout, {
      builderhub: { name: "vm-builderhub", ssh: "ssh -J azureuser@203.0.113.10 azureuser@10.10.1.5" },
      proxies: [
        {
          name: "vm-eastus",
          region: "east",
          publicIp: "203.0.113.10",
          ssh: "ssh azureuser@203.0.113.10",
          privateIp: "10.10.1.4",
          signer: "0x570B6fcD4260E71f04EB7B090a132c2a7532554B",
        },
        {
          name: "vm-westeurope",
          region: "west",
          publicIp: "203.0.113.11",
          ssh: "ssh azureuser@203.0.113.11",
          privateIp: "10.20.1.4",
          signer: "0x9395BF2896c667E0068bc21897d7A5c6cfD079d6",
        },
      ],
    });
  });

  test("a signer made on the VM has no address in the outputs", () => {
    const outputs = {
      ...OUTPUTS,
      eastSignerAddress: "generated on vm-eastus: ssh in and read /etc/flowproxy/signer.address",
    };
    assert.equal(layoutOf(outputs, "stack dev").proxies[0].signer, undefined);
  });

  test("a missing or empty output is one clear error naming it", () => {
    const { sshWest: _dropped, ...withoutSsh } = OUTPUTS;
    assert.throws(
      () => layoutOf(withoutSsh, "stack dev"),
      new VerifyError(
        "stack dev has no output sshWest; run `pulumi up` with this checkout's program, which exports it",
      ),
    );
    assert.throws(
      () => layoutOf({ ...OUTPUTS, eastPublicIp: "" }, "stack dev"),
      /stack dev has an empty output eastPublicIp/,
    );
    assert.throws(
      () => layoutOf({}, "stack dev"),
      /has no <region>PublicIp output: is it a deployed flowproxy-staging stack\?/,
    );
  });
});

describe("pulumi and the command line", () => {
  const savedPath = process.env.PATH;
  after(() => {
    process.env.PATH = savedPath;
  });

  test("without the Pulumi CLI, the error says how to install it or use the sandbox", async () => {
    process.env.PATH = workDir;
    await assert.rejects(
      stackTarget("dev"),
      /the Pulumi CLI \(pulumi\) is not on PATH: install it .* or check the local sandbox with --sandbox/,
    );
    process.env.PATH = savedPath;
  });

  test("a stack Pulumi does not know is named, with how to list them", async () => {
    const bin = path.join(workDir, "bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(
      path.join(bin, "pulumi"),
      "#!/bin/sh\necho \"error: no stack named 'nope' found\" >&2\nexit 255\n",
      { mode: 0o755 },
    );
    process.env.PATH = `${bin}:${savedPath}`;
    await assert.rejects(stackTarget("nope"), /Pulumi has no stack named nope: `pulumi stack ls` lists/);
    process.env.PATH = savedPath;
    assert.match(
      describePulumiFailure(undefined, {
        code: 255,
        stdout: "",
        stderr: "error: no stack selected; please use `pulumi stack select`\n",
        timedOut: false,
      }),
      /pass --stack NAME/,
    );
  });

  test("a deployed stack's ssh runs the facts script as root through the remote shell, word for word", async () => {
    // Stand-ins: pulumi prints the outputs, ssh hands its command line to a shell as sshd does, and
    // sudo runs what follows -n; the facts script then runs here, on this machine.
    const bin = path.join(workDir, "remote");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(workDir, "outputs.json"), JSON.stringify(OUTPUTS));
    const script = (name: string, body: string) =>
      fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    script("pulumi", `cat ${path.join(workDir, "outputs.json")}`);
    script(
      "ssh",
      `printf '%s\\n' "$@" > ${path.join(workDir, "ssh-argv")}\nwhile [ "$1" != -- ]; do shift; done\nexec sh -c "$2"`,
    );
    script("sudo", '[ "$1" = -n ] && shift && exec "$@"');
    script("docker", "echo running");
    script("systemctl", "echo active");
    script("curl", "exit 7");
    process.env.PATH = `${bin}:${savedPath}`;
    try {
      const target = await stackTarget("dev");
      assert.equal(target.outputs.sshEast, "ssh azureuser@203.0.113.10");
      const result = await target.ssh(EAST.ssh, asRoot(PROXY_FACTS_SCRIPT, "vm-eastus"));
      assert.deepEqual(parseSections(result.stdout).get("haproxy"), { output: "running\n", status: 0 });
      assert.equal(parseSections(result.stdout).get("builders")?.status, 7);
      assert.equal(
        decideLogin("vm-eastus", EAST.ssh, result).check.detail,
        `\`ssh azureuser@203.0.113.10\` reached host ${os.hostname()}, not vm-eastus`,
      );
      const argv = fs.readFileSync(path.join(workDir, "ssh-argv"), "utf8").split("\n");
      assert.deepEqual(argv.slice(0, 6), [
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "azureuser@203.0.113.10",
        "--",
      ]);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  test("pulumi's JSON outputs become strings", () => {
    assert.deepEqual(parseStackOutputs('{"eastPublicIp": "203.0.113.10", "n": 3}', "dev"), {
      eastPublicIp: "203.0.113.10",
      n: "3",
    });
    assert.throws(() => parseStackOutputs("[]", "dev"), /printed no object of outputs for stack dev/);
  });

  test("arguments: one target, JSON on request, a flow timeout in seconds", () => {
    assert.deepEqual(parseArgs(["--stack", "dev"]), {
      target: { kind: "stack", stack: "dev" },
      json: false,
      flowTimeoutMs: 40_000,
    });
    assert.deepEqual(parseArgs(["--", "--sandbox", "--json", "--flow-timeout=5"]), {
      target: { kind: "sandbox" },
      json: true,
      flowTimeoutMs: 5000,
    });
    assert.deepEqual(parseArgs([]).target, { kind: "stack", stack: undefined });
    assert.throws(() => parseArgs(["--stack", "dev", "--sandbox"]), UsageError);
    assert.throws(() => parseArgs(["--stack"]), /--stack needs a value/);
    assert.throws(
      () => parseArgs(["--flow-timeout", "soon"]),
      /--flow-timeout takes a number of seconds above 0, not "soon"/,
    );
    assert.throws(() => parseArgs(["--verbose"]), /unknown argument --verbose/);
  });

  async function capture(
    argv: string[],
    makeTarget: (choice: TargetChoice) => Promise<Target>,
    results: CheckResult[] = [],
  ) {
    let stdout = "";
    let stderr = "";
    const code = await runVerify(argv, {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      makeTarget,
      verify: async () => results,
    });
    return { code, stdout, stderr };
  }

  test("exit status: 2 for a usage error, 1 for a target that cannot be read or a failed check, 0 when all pass", async () => {
    const unreadable = async () => {
      throw new VerifyError("no sandbox is running (vm-eastus not running); start one with `pnpm run sandbox up`");
    };
    assert.equal((await capture(["--frobnicate"], unreadable)).code, 2);
    const failed = await capture(["--sandbox", "--json"], unreadable);
    assert.equal(failed.code, 1);
    assert.equal(
      failed.stderr,
      "verify: no sandbox is running (vm-eastus not running); start one with `pnpm run sandbox up`\n",
    );
    assert.deepEqual(JSON.parse(failed.stdout), {
      target: "the sandbox",
      ok: false,
      error: "no sandbox is running (vm-eastus not running); start one with `pnpm run sandbox up`",
      results: [],
    });
    const target = async () => fakeTarget(healthyStack());
    const good: CheckResult = { vm: "vm-eastus", check: "tls", outcome: "ok", detail: "fine" };
    assert.equal((await capture(["--stack", "dev"], target, [good])).code, 0);
    assert.equal(
      (await capture(["--stack", "dev"], target, [good, { ...good, check: "flow", outcome: "skipped" }])).code,
      1,
    );
  });

  test("the table has a row per VM and check and a summary naming what did not pass", () => {
    const table = formatTable("stack dev", [
      { vm: "vm-eastus", check: "ssh", outcome: "ok", detail: "azureuser@203.0.113.10, root through sudo -n" },
      { vm: "vm-westeurope", check: "closed-ports", outcome: "FAIL", detail: "on 203.0.113.11: 8405 refused" },
    ]);
    assert.equal(
      table,
      [
        "VM             CHECK         RESULT  DETAIL",
        "vm-eastus      ssh           ok      azureuser@203.0.113.10, root through sudo -n",
        "vm-westeurope  closed-ports  FAIL    on 203.0.113.11: 8405 refused",
        "",
        "stack dev: 1 of 2 checks did not pass: vm-westeurope closed-ports",
        "",
      ].join("\n"),
    );
    assert.deepEqual(JSON.parse(formatJson("stack dev", [])), { target: "stack dev", ok: true, results: [] });
  });
});

describe("what runs on the VMs", () => {
  test("each remote script passes shellcheck as POSIX sh", async () => {
    for (const script of [PROXY_FACTS_SCRIPT, BUILDERHUB_FACTS_SCRIPT, METRICS_SCRIPT]) {
      const child = await shellcheck("sh", script);
      assert.equal(child.status, 0, child.stdout);
    }
  });

  test("the facts script prints every section with its own status, whichever command fails", async () => {
    const bin = path.join(workDir, "stubs");
    fs.mkdirSync(bin, { recursive: true });
    const stub = (name: string, body: string) =>
      fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    stub("docker", 'echo "Error: No such object: haproxy" >&2; exit 1');
    stub("systemctl", 'echo "active ($*)"');
    stub("curl", 'echo "curl: (6) Could not resolve host" >&2; exit 6');
    const child = await spawnAsync("sh", ["-c", PROXY_FACTS_SCRIPT, "verify", "vm-eastus"], {
      env: { PATH: `${bin}:/usr/bin:/bin` },
    });
    const found = parseSections(child.stdout);
    assert.deepEqual(
      [...found.keys()],
      [
        "hostname",
        "last-run",
        "haproxy",
        "flowproxy",
        "signer-file",
        "builderhub-endpoint",
        "builders",
        "served-certificate",
      ],
    );
    assert.deepEqual(found.get("haproxy"), { output: "Error: No such object: haproxy\n", status: 1 });
    assert.deepEqual(found.get("flowproxy"), { output: "active (is-active flowproxy@vm-eastus.service)\n", status: 0 });
    assert.equal(found.get("builders")?.status, 6);
    assert.equal(found.get("hostname")?.output.trim(), os.hostname());
  });

  test("an argv reaches the remote side word for word through the shell ssh hands it to", async () => {
    const argv = ["printf", "%s|", "it's", "{{.State.Status}}", "a b", "$HOME", ""];
    const child = await spawnAsync("sh", ["-c", remoteCommandLine(argv)]);
    assert.equal(child.stdout, "it's|{{.State.Status}}|a b|$HOME||");
  });
});

describe("this machine's side", () => {
  let server: https.Server;
  let port: number;
  const received: string[] = [];

  before(async () => {
    server = https.createServer({ key: certs.east.key, cert: certs.east.pem }, (req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        received.push(body);
        res.end('{"result":{}}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => server.close());

  test("a POST goes out only to the pinned certificate", async () => {
    const reply = await hostNetwork.pinnedPost("127.0.0.1", port, "/", '{"x":1}', {}, certs.east.der, 2000);
    assert.deepEqual(reply, { status: 200, body: '{"result":{}}' });
    await assert.rejects(
      hostNetwork.pinnedPost("127.0.0.1", port, "/", '{"x":2}', {}, certs.other.der, 2000),
      CertificateMismatch,
    );
    assert.deepEqual(received, ['{"x":1}']);
  });

  test("the presented certificate, and a connection's outcome", async () => {
    assert.ok((await hostNetwork.peerCertificate("127.0.0.1", port, 2000)).equals(certs.east.der));
    assert.equal(await hostNetwork.connect("127.0.0.1", port, 2000), "connected");
    const closed = await new Promise<number>((resolve) => {
      const probe = https.createServer().listen(0, "127.0.0.1", () => {
        const free = (probe.address() as { port: number }).port;
        probe.close(() => resolve(free));
      });
    });
    assert.equal(await hostNetwork.connect("127.0.0.1", closed, 2000), "ECONNREFUSED");
  });
});

describe("the verify's boundaries", () => {
  test("nothing under verify/ imports the sandbox or the tests", () => {
    for (const file of fs.readdirSync(path.join(PROJECT_DIR, "verify"))) {
      const text = fs.readFileSync(path.join(PROJECT_DIR, "verify", file), "utf8");
      assert.doesNotMatch(text, /from "\.\.\/(sandbox|test)\//, file);
    }
  });

  test("the ports it expects closed are every loopback listener of haproxy.cfg and flowproxy.env, and TLS_PORTS its TLS binds", () => {
    // haproxy.cfg as HAProxy reads it, with the environment provisioning gives its container.
    const environment = Object.fromEntries(
      haproxyEnvironment("http")
        .split("\n")
        .map((line) => line.split("=") as [string, string]),
    );
    const cfg = fs
      .readFileSync(path.join(PROJECT_DIR, "haproxy.cfg"), "utf8")
      .replace(/\$\{(\w+)\}/g, (_, name: string) => environment[name]);
    const env = Object.entries(FLOWPROXY_LISTEN)
      .map(([name, address]) => `${name}=${address}`)
      .join("\n");
    const loopback = [
      ...cfg.matchAll(/^\s*bind "127\.0\.0\.1:(\d+)"/gm),
      ...env.matchAll(/^[A-Z_]+_ADDR=127\.0\.0\.1:(\d+)$/gm),
    ].map((m) => Number(m[1]));
    assert.deepEqual([...loopback].sort(), [...LOOPBACK_PORTS].sort());
    const tls = [...cfg.matchAll(/^\s*bind ":(\d+)" ssl/gm)].map((m) => Number(m[1]));
    assert.deepEqual(tls, [...TLS_PORTS]);
  });
});

describe("the monitoring check (a stack with prometheusTunnel)", () => {
  const proxies = layout.proxies;
  const targetsAnswer = (health: Record<string, string>) => ({
    code: 0,
    stdout: JSON.stringify({
      status: "success",
      data: {
        activeTargets: proxies.flatMap((p) =>
          ["flowproxy", "haproxy"].map((job) => ({
            labels: { job, vm: p.name },
            health: health[`${p.name} ${job}`] ?? "up",
            lastError: "",
          })),
        ),
      },
    }),
    stderr: "",
    timedOut: false,
  });
  const probe = (from: string, lines: string) => ({
    from,
    result: { code: 0, stdout: lines, stderr: "", timedOut: false },
  });
  const refused = [
    probe("vm-eastus", "closed 10.20.1.4:8090\nclosed 10.20.1.4:8405\n"),
    probe("vm-westeurope", "closed 10.10.1.4:8090\nclosed 10.10.1.4:8405\n"),
  ];

  test("passes with every target up and the metrics ports refused between proxies", () => {
    const result = decideMonitoring("vm-builderhub", proxies, targetsAnswer({}), refused);
    assert.equal(result.outcome, "ok", result.detail);
    assert.equal(
      result.detail,
      "4 Prometheus targets up; 4 connections from proxies to the others' metrics ports (8090, 8405) refused",
    );
  });

  test("fails naming a target down and a proxy that reached another's metrics port", () => {
    const result = decideMonitoring("vm-builderhub", proxies, targetsAnswer({ "vm-westeurope haproxy": "down" }), [
      probe("vm-eastus", "open 10.20.1.4:8090\nclosed 10.20.1.4:8405\n"),
      refused[1],
    ]);
    assert.equal(result.outcome, "FAIL");
    assert.equal(
      result.detail,
      "vm-westeurope haproxy is down; vm-eastus connected to 10.20.1.4:8090: only BuilderHub's Prometheus may",
    );
  });
});
