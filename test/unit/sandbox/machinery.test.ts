// The sandbox machinery's logic that needs neither root nor containers.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { CONFIG_KEYS } from "../../../lib/config";
import { decodeScript, ExtensionInfo } from "../../../plan/evaluation";
import { bundle } from "../../../sandbox/internet/bundle";
import { dnsRecordsFor } from "../../../sandbox/networks/network";
import { extensionBatches } from "../../../sandbox/azure/stack";
import { sandboxRequest } from "../../../sandbox/internet/stack-config";
import { fleetVms, INTERNET, SANDBOX_REGIONS, vmByName, VMS, VNETS } from "../../../sandbox/base/topology";
import { execFileAsync } from "../../support/processes";
import { scratchDir } from "../../support/scratch";

const doubles = path.join(__dirname, "..", "..", "doubles");

test("a bundled double runs with plain node, its sibling modules inlined", async () => {
  const dir = scratchDir("bundle-");
  const file = path.join(dir, "cast.js");
  fs.writeFileSync(file, bundle(path.join(doubles, "cast.ts"), { shebang: "#!/usr/bin/env node" }), { mode: 0o755 });
  const out = await execFileAsync(file, [
    "wallet",
    "address",
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  ]);
  assert.equal(out, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n");
  assert.doesNotMatch(fs.readFileSync(file, "utf8"), /require\("\.\//);
});

test("a bundled double carries its packages inside and runs without node_modules", async () => {
  const dir = scratchDir("bundle-");
  const file = path.join(dir, "cast.js");
  const text = bundle(path.join(doubles, "cast.ts"));
  assert.doesNotMatch(text, /require\("@noble/);
  fs.writeFileSync(file, text);
  const out = await execFileAsync(process.execPath, ["--jitless", "--no-expose-wasm", file, "wallet", "new"], {
    cwd: dir,
  });
  assert.match(out, /^Address: {5}0x[0-9a-fA-F]{40}$/m);
});

test("the prelude reaches the bundled module (the artifact's build, as clap prints it)", async () => {
  const dir = scratchDir("bundle-");
  const file = path.join(dir, "flowproxy");
  const build = JSON.stringify({ version: "1.2.3", gitHash: "abc1234" });
  fs.writeFileSync(
    file,
    bundle(path.join(doubles, "flowproxy.ts"), { prelude: `globalThis.FLOWPROXY_BUILD = ${build};` }),
  );
  assert.equal(await execFileAsync(process.execPath, [file, "--version"]), "flowproxy 1.2.3-abc1234\n");
});

test("extension scripts are decoded as the CustomScript handler does, gzip or not", () => {
  const script = "#!/bin/bash\necho hi\n";
  assert.equal(decodeScript(Buffer.from(script).toString("base64")), script);
  assert.equal(decodeScript(gzipSync(script).toString("base64")), script);
});

function extension(vmName: string, dependsOn: string[]): ExtensionInfo {
  return {
    resource: `provision-${vmName}`,
    vmName,
    role: "flowproxy",
    forceUpdateTag: "t",
    script: "",
    protectedSettingsSecret: true,
    publicSettings: undefined,
    dependsOn,
  };
}

test("extensions run in dependency order, independent ones together", () => {
  const builderhub = extension("vm-builderhub", ["rg-eastus", "vm-builderhub"]);
  const east = extension("vm-eastus", ["provision-vm-builderhub", "vm-eastus"]);
  const west = extension("vm-westeurope", ["provision-vm-builderhub", "vm-westeurope"]);
  assert.deepEqual(extensionBatches([west, east, builderhub]), [[builderhub], [west, east]]);
  // Without the dependency on BuilderHub, Azure would start all three at once; so does the sandbox.
  const loose = extension("vm-eastus", ["vm-eastus"]);
  assert.deepEqual(extensionBatches([builderhub, loose]), [[builderhub, loose]]);
  assert.throws(
    () => extensionBatches([extension("a", ["provision-b"]), extension("b", ["provision-a"])]),
    /cycle: a, b/,
  );
});

test("each VNet's DNS answers the private zone, its own NIC names, and the internet doubles at its router", () => {
  const zone = [{ fqdn: "builderhub.flowproxy.internal", ip: "10.10.1.5" }];
  const west = dnsRecordsFor(VNETS.west, zone, VMS);
  assert.ok(west.some((r) => r.fqdn === "builderhub.flowproxy.internal"));
  assert.ok(west.some((r) => r.fqdn === "vm-westeurope.west.sandbox.internal.cloudapp.net" && r.ip === "10.20.1.4"));
  assert.ok(!west.some((r) => r.fqdn.startsWith("vm-eastus.")), "another VNet's NIC names are not resolvable");
  assert.ok(INTERNET.hostnames.every((h) => west.some((r) => r.fqdn === h && r.ip === VNETS.west.routerIp)));
});

test("the sandbox's fleet is the program's: eastus's two proxies and westeurope's one, where lib/fleet.ts places them", () => {
  assert.deepEqual(
    VMS.map((vm) => `${vm.name} ${vm.privateIp} ${vm.publicIp ?? "-"}`),
    [
      "vm-builderhub 10.10.1.5 -",
      "vm-eastus 10.10.1.4 198.18.0.10",
      "vm-eastus-2 10.10.1.6 198.18.0.11",
      "vm-westeurope 10.20.1.4 198.18.0.20",
    ],
  );
  const grown = fleetVms(SANDBOX_REGIONS.map((region) => ({ ...region, proxies: 2 })));
  assert.deepEqual(
    grown.filter((vm) => VMS.some((v) => v.name === vm.name)),
    [...VMS],
    "a grown region's VMs keep their wiring",
  );
  assert.equal(vmByName("vm-westeurope-2").publicIp, "198.18.0.21");
  assert.throws(
    () => fleetVms([{ name: "central", location: "centralus", vnetCidr: "10.30.0.0/16", subnetCidr: "10.30.1.0/24" }]),
    /the sandbox's networks are those of its own regions/,
  );
});

test("the topology's addresses are unique and inside their VNets", () => {
  const everyVm = fleetVms(SANDBOX_REGIONS.map((region) => ({ ...region, proxies: 9 })));
  const addresses = everyVm.flatMap((vm) => [vm.privateIp, vm.publicIp].filter(Boolean));
  assert.equal(new Set(addresses).size, addresses.length);
  for (const vm of everyVm) {
    const subnet = VNETS[vm.vnet].subnet.replace(/\.0\/24$/, ".");
    assert.ok(vm.privateIp.startsWith(subnet), `${vm.name} ${vm.privateIp} in ${VNETS[vm.vnet].subnet}`);
  }
  const names = everyVm.flatMap((vm) => [vm.hostVeth, vm.publicHostVeth].filter((n): n is string => n !== undefined));
  assert.ok(
    names.every((n) => n.length <= 15),
    "Linux interface names have at most 15 characters",
  );
  assert.equal(new Set(names).size, names.length);
});

test("the sandbox's stack configuration marks exactly the program's secret keys as secret", () => {
  const secrets = {
    githubToken: "ghp_x",
    sshPublicKey: "ssh-ed25519 AAAA",
    seed: "s",
    dockerHubUsername: "flowproxysandbox",
    dockerHubToken: "dckr_pat_x",
  };
  const stack = sandboxRequest(secrets, "3.0.11", { tailscaleAuthKey: "tskey-x" });
  const secret = new Set(CONFIG_KEYS.filter((k) => k.secret).map((k) => k.key));
  assert.deepEqual(
    stack.secretKeys!.sort(),
    Object.keys(stack.config)
      .filter((k) => secret.has(k))
      .sort(),
  );
  assert.ok(stack.secretKeys!.includes("tailscaleAuthKey"));
  assert.ok(
    stack.secretKeys!.includes("dockerHubToken") && stack.config.dockerHubUsername === "flowproxysandbox",
    "the sandbox's stack logs in to its Docker Hub",
  );
  assert.equal(stack.config.flowProxyArtifact, "https://github.com/flashbots/flowproxy/actions/runs/1/artifacts/2");
});
