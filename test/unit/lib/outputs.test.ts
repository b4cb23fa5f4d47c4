// The output names the program exports, verify reads and docs/STACK.md lists, from lib/outputs.ts.
import assert from "node:assert/strict";
import * as fs from "fs";
import { test } from "node:test";
import { DEFAULT_REGIONS } from "../../../lib/contract";
import { fleetPlan } from "../../../lib/fleet";
import { BUILDERHUB_OUTPUTS, proxyOutputName, proxyPrefixOf, vmOutputNames } from "../../../lib/outputs";

test("a region's first proxy takes the region's name and the next ones add their number", () => {
  assert.deepEqual(vmOutputNames(proxyOutputName("east")), {
    publicIp: "eastPublicIp",
    privateIp: "eastPrivateIp",
    ssh: "sshEast",
    privateFqdn: "eastPrivateFqdn",
    nicPrivateFqdn: "eastNicPrivateFqdn",
    signerAddress: "eastSignerAddress",
  });
  assert.equal(vmOutputNames(proxyOutputName("east", 2)).ssh, "sshEast2");
});

test("BuilderHub's ssh command is an output of its own beside the sentence about it", () => {
  assert.equal(BUILDERHUB_OUTPUTS.ssh, "sshBuilderhub");
  assert.equal(BUILDERHUB_OUTPUTS.sshNote, "builderhubSshNote");
  assert.equal(BUILDERHUB_OUTPUTS.privateIp, "builderhubPrivateIp");
});

test("a proxy's prefix is read back from its public IP output and from nothing else", () => {
  assert.equal(proxyPrefixOf(vmOutputNames("east2").publicIp), "east2");
  for (const other of ["sshEast", "eastPrivateIp", "builderhubPrivateIp", "PublicIp", "prometheusTunnel"]) {
    assert.equal(proxyPrefixOf(other), undefined, other);
  }
});

/** The backquoted names in the first column of docs/STACK.md's table of outputs. */
function documentedOutputs(markdown: string): Set<string> {
  const section = markdown.split(/^## Outputs$/m)[1]?.split(/^## /m)[0] ?? "";
  const firstColumns = section
    .split("\n")
    .filter((line) => /^\| `/.test(line))
    .map((line) => line.split("|")[1]);
  return new Set(firstColumns.flatMap((cell) => [...cell.matchAll(/`([A-Za-z0-9]+)`/g)].map((m) => m[1])));
}

test("docs/STACK.md lists every output of the default stack, monitoring on, and no other", () => {
  const proxies = fleetPlan(DEFAULT_REGIONS.map((r) => ({ ...r, proxies: 1 }))).filter((vm) => vm.role === "flowproxy");
  const expected = new Set([
    ...proxies.flatMap((vm) => Object.values(vmOutputNames(vm.outputName))),
    ...Object.values(BUILDERHUB_OUTPUTS),
  ]);
  assert.deepEqual([...documentedOutputs(fs.readFileSync("docs/STACK.md", "utf8"))].sort(), [...expected].sort());
});
