// Section 5 of the reliability report: what Azure's control plane and a VM's first boot need from
// the stack, checked locally. The program runs under Pulumi's mocks (default regions and a third
// one) and its rendered script runs in bash on this machine; the rules are the ones the unit tests
// prove (test/support/vnet-writes.ts and azure-readiness.ts). What only Azure can show is listed
// in the README, "What the sandbox cannot prove".
import * as os from "os";
import type { RenderResult } from "../test/support/render-stack";
import {
  firstBootProblems,
  outboundProblems,
  provisioningRunProblems,
  replacementProblems,
  waitForHeldLock,
} from "../test/support/azure-readiness";
import { renderStack, validRequest } from "../test/support/stack";
import { extensionsAheadOfNetwork, networkPrerequisites, unorderedVnetWrites, vnetWriters } from "../test/support/vnet-writes";
import { Section } from "./reliability-checks";

const THIRD_REGION = { name: "central", location: "centralus", vnetCidr: "10.30.0.0/16", subnetCidr: "10.30.1.0/24" };
const DEFAULT_REGIONS = [
  { name: "east", location: "eastus", vnetCidr: "10.10.0.0/16", subnetCidr: "10.10.1.0/24" },
  { name: "west", location: "westeurope", vnetCidr: "10.20.0.0/16", subnetCidr: "10.20.1.0/24" },
];
const LOCK_WAIT_SECONDS = 3;

function verdict(problems: string[], fine: string): { passed: boolean; evidence: string[] } {
  return { passed: problems.length === 0, evidence: [problems.length === 0 ? fine : `WRONG: ${problems.join("; ")}`] };
}

function pairsChecked(result: RenderResult): number {
  return [...vnetWriters(result).values()].reduce((n, writers) => n + (writers.length * (writers.length - 1)) / 2, 0);
}

export async function azureSection(): Promise<Section> {
  const section = new Section(
    "7. Azure control plane and first boot (checked locally)",
    "The program is evaluated under Pulumi's mocks with the default regions and with a third region, and its " +
      "dependency graph, resource options and rendered script are held to what Azure needs: one write at a time per " +
      "VNet, FlowProxy extensions after the network they register over, a retry knob that reruns every extension, " +
      "replacement and destroy options, explicit outbound access, and a script ready for a VM's first boot. The lock " +
      "wait runs the script's own function in bash against a lock held by another process. What only Azure can show " +
      "is listed in the README under \"What the sandbox cannot prove\".",
    ["evidence"],
  );
  const tables: [string, RenderResult][] = [
    ["default regions", renderStack(validRequest())],
    ["three regions", renderStack(validRequest({ regions: JSON.stringify([...DEFAULT_REGIONS, THIRD_REGION]) }))],
  ];
  for (const [label, result] of tables) {
    await section.run(`no two writes to one VNet at once (${label})`, async () =>
      verdict(unorderedVnetWrites(result), `${pairsChecked(result)} pairs of writes over ${vnetWriters(result).size} VNets, each ordered by a dependency`),
    );
    await section.run(`FlowProxy extensions wait for every peering, DNS link and the builderhub record (${label})`, async () =>
      verdict(extensionsAheadOfNetwork(result), `each waits for all ${networkPrerequisites(result).length}`),
    );
  }
  const [, base] = tables[0];
  await section.run("raising provisioningRun reruns every extension with unchanged inputs", async () =>
    verdict(
      provisioningRunProblems(base, renderStack(validRequest({ provisioningRun: "1" }))),
      `all ${base.extensions.length} forceUpdateTags change from provisioningRun 0 to 1; the scripts stay the same`,
    ),
  );
  await section.run("replacement and destroy options (VM delete-first with its NIC kept, deletedWith, delete-first names)", async () =>
    verdict(replacementProblems(base), "VMs deleteBeforeReplace with NIC deleteOption Detach; extensions deletedWith their VM; group contents deletedWith their group; fixed names deleteBeforeReplace"),
  );
  await section.run("every subnet states its outbound access", async () => verdict(outboundProblems(base), "defaultOutboundAccess: true on every subnet"));
  await section.run("the rendered scripts set HOME, bound tailscale up and keep the VM's DNS, and wait for apt's locks", async () =>
    verdict(
      base.extensions.flatMap((e) => firstBootProblems(e.script).map((p) => `${e.vmName}: ${p}`)),
      `all ${base.extensions.length} scripts`,
    ),
  );
  const east = base.extensions.find((e) => e.vmName === "vm-eastus")!.script;
  await section.run(`a held apt lock fails the step, naming the lock, after the wait (${LOCK_WAIT_SECONDS} s here, 600 s on a VM)`, async () => {
    const wait = await waitForHeldLock(east, 60, LOCK_WAIT_SECONDS);
    const last = wait.stdout.trimEnd().split("\n").pop() ?? "";
    const named = last.startsWith("FAILED: vm-eastus") && last.includes(`${wait.lockFile} was still locked`);
    // The lock file has a random name; the report shows where it was, not which one.
    const shown = last.split(os.tmpdir()).join("$TMPDIR");
    return { passed: wait.status === 1 && named, evidence: [`exit ${wait.status} after ${wait.seconds.toFixed(1)} s: ${shown}`] };
  });
  await section.run("a freed apt lock lets the step go on", async () => {
    const wait = await waitForHeldLock(east, 1, 60);
    const freed = /apt's locks are free after [\d.]+ s/.exec(wait.stdout)?.[0] ?? wait.stdout.trim();
    return { passed: wait.status === 0, evidence: [`exit ${wait.status} after ${wait.seconds.toFixed(1)} s: ${freed}`] };
  });
  section.finish();
  return section;
}
