// What Azure's control plane and a VM's first boot need and Pulumi's mocks never enforce: ordered
// writes to each VNet, FlowProxy extensions that wait for the network they register over, outbound
// access that does not depend on the API version, the options that let a VM be replaced and the
// stack be destroyed, a knob that reruns every extension, and a script that copes with a fresh
// Ubuntu VM. The ordering rules are stated over the dependency graph (test/support/vnet-writes.ts),
// so a resource added later is held to them too. The reliability report shows these checks.
import assert from "node:assert/strict";
import * as os from "node:os";
import { before, test } from "node:test";
import { BUILDERHUB } from "../../../lib/contract";
import { decodeScript, type EvaluatedResource, type Evaluation } from "../../../plan/evaluation";
import {
  firstBootProblems,
  freedLockProblems,
  heldLockProblems,
  type LockWait,
  outboundProblems,
  provisioningRunProblems,
  replacementProblems,
  replacementReview,
  subnetOutbound,
  waitForHeldLock,
} from "../../support/azure-readiness";
import { counterparts } from "../../support/counterparts";
import { reportSection } from "../../support/evidence";
import { evaluated, everyOptionRequest, threeRegionRequest, validRequest } from "../../support/program";
import { AZURE_READINESS, AZURE_READINESS_CHECKS, REGION_TABLES } from "../../support/report-sections";
import {
  extensionsAheadOfNetwork,
  networkPrerequisites,
  unorderedVnetWrites,
  vnetWriterProblems,
  vnetWriters,
} from "../../support/vnet-writes";

/** How long the script waits for a held apt lock in these checks; 600 s on a VM. */
const LOCK_WAIT_SECONDS = 2;

let base: Evaluation;
let threeRegions: Evaluation;
before(async () => {
  [base, threeRegions] = await Promise.all([evaluated(validRequest()), evaluated(threeRegionRequest())]);
});

const eastScript = () => base.extensions.find((e) => e.vmName === "vm-eastus")!.script;

// A lock held past the wait: played once, read by the held-lock check and by the freed-lock
// check's counterpart (a lock never released).
let held: Promise<LockWait> | undefined;
const heldPastTheWait = () => (held ??= waitForHeldLock(eastScript(), 30, LOCK_WAIT_SECONDS));

/** Each region table's evaluation and its number of regions. */
const tables: Record<(typeof REGION_TABLES)[number], [() => Evaluation, number]> = {
  "default regions": [() => base, 2],
  "three regions": [() => threeRegions, 3],
};

reportSection(AZURE_READINESS, (check) => {
  for (const label of REGION_TABLES) {
    const [result, regions] = tables[label];
    check(AZURE_READINESS_CHECKS.vnetWriters(label), () => {
      assert.deepEqual(vnetWriterProblems(result(), regions), []);
      const writers = vnetWriters(result());
      return [[...writers].map(([vnet, names]) => `${vnet}: ${names.length} writers`).join("; ")];
    });

    check(AZURE_READINESS_CHECKS.orderedVnetWrites(label), () => {
      assert.deepEqual(unorderedVnetWrites(result()), []);
      const pairs = [...vnetWriters(result()).values()].reduce(
        (n, writers) => n + (writers.length * (writers.length - 1)) / 2,
        0,
      );
      return [`${pairs} pairs of writes over ${regions} VNets, each ordered by a dependency`];
    });

    check(AZURE_READINESS_CHECKS.extensionsAfterNetwork(label), () => {
      // Peerings both ways, flowproxy.internal's link to each VNet, each reverse zone's link to each VNet, the builderhub record.
      assert.equal(networkPrerequisites(result()).length, regions * (regions - 1) + regions + regions * regions + 1);
      assert.deepEqual(extensionsAheadOfNetwork(result()), []);
      return [`each of ${regions} waits for all ${networkPrerequisites(result()).length}`];
    });

    check(AZURE_READINESS_CHECKS.outboundAccess(label), () => {
      const outbound = subnetOutbound(result());
      assert.equal(outbound.subnets.length, regions);
      assert.deepEqual(outboundProblems(result()), []);
      return [
        `${outbound.subnets.length} subnets: defaultOutboundAccess true on ${outbound.defaultOutboundAccess.length}, ` +
          `a NAT gateway on ${outbound.natGateway.length}`,
      ];
    });
  }

  check(AZURE_READINESS_CHECKS.replacement, () => {
    const { problems, reviewed } = replacementReview(base);
    assert.deepEqual(problems, []);
    return [
      `${reviewed.vms} VMs replaced on a new image with their ${reviewed.nics} NICs' deleteOption Detach; ${reviewed.extensions} extensions ` +
        `deletedWith their VM; ${reviewed.groupContents} group contents deletedWith their group; ${reviewed.acrossGroups} resources ` +
        `across groups left to Pulumi's own deletion; ${reviewed.deleteFirst} with a fixed name or once per VNet deleteBeforeReplace`,
    ];
  });

  check(AZURE_READINESS_CHECKS.provisioningRun, async () => {
    assert.deepEqual(provisioningRunProblems(base, await evaluated(validRequest({ provisioningRun: "1" }))), []);
    return [
      `all ${base.extensions.length} forceUpdateTags change from provisioningRun 0 to 1; the scripts stay the same`,
    ];
  });

  check(AZURE_READINESS_CHECKS.firstBoot, async () => {
    const configurations = await Promise.all([
      evaluated(everyOptionRequest()),
      evaluated(validRequest({ signerKeySource: "vm" })),
    ]);
    const scripts = [base, ...configurations].flatMap((e) => e.extensions);
    for (const extension of scripts) assert.deepEqual(firstBootProblems(extension.script), [], extension.vmName);
    return [`all ${scripts.length} scripts: the default configuration, every option set, keys made on the VMs`];
  });

  check(AZURE_READINESS_CHECKS.heldAptLock, async () => {
    const wait = await heldPastTheWait();
    assert.deepEqual(heldLockProblems(wait), [], wait.stdout);
    const last = wait.stdout.trimEnd().split("\n").pop() ?? "";
    // The lock file has a random name; the report shows where it was, not which one.
    return [
      `exit ${wait.status} after ${wait.seconds.toFixed(1)} s (${LOCK_WAIT_SECONDS} s here, 600 s on a VM): ${last.split(os.tmpdir()).join("$TMPDIR")}`,
    ];
  });

  check(AZURE_READINESS_CHECKS.freedAptLock, async () => {
    const wait = await waitForHeldLock(eastScript(), 1, 30);
    assert.deepEqual(freedLockProblems(wait), [], wait.stdout);
    const freed = /apt's locks are free after \d+\.\d{3} s/.exec(wait.stdout)?.[0];
    return [`exit 0 after ${wait.seconds.toFixed(1)} s: ${freed}`];
  });
});

/** `text` with `from` replaced by `to`, which must be there: a break that misses its target proves nothing. */
function edited(text: string, from: string | RegExp, to: string): string {
  const result = text.replace(from, to);
  assert.notEqual(result, text, `the subject holds ${from}`);
  return result;
}

/** A copy of `result` with `edit` applied to the resource named `name`. */
function withResource(result: Evaluation, name: string, edit: (resource: EvaluatedResource) => void): Evaluation {
  const broken: Evaluation = structuredClone(result);
  const resource = broken.resources.find((r) => r.name === name);
  assert.ok(resource, `the evaluation has ${name}`);
  edit(resource);
  return broken;
}

const SUBNET = "azure-native:network:Subnet";

counterparts(AZURE_READINESS, (counterpart) => {
  for (const label of REGION_TABLES) {
    const [result, regions] = tables[label];
    const firstLocation = () => String(result().resources.find((r) => r.type === SUBNET)!.name).replace(/^subnet-/, "");

    counterpart(AZURE_READINESS_CHECKS.vnetWriters(label), () => {
      const location = firstLocation();
      const broken: Evaluation = {
        ...result(),
        resources: result().resources.filter((r) => r.name !== `dns-link-${location}`),
      };
      assert.equal(broken.resources.length, result().resources.length - 1);
      return [
        {
          broke: `dns-link-${location} gone`,
          failure: vnetWriterProblems(broken, regions),
          naming: [`vnet-${location}: dns-link-${location} is not among its writers`],
        },
      ];
    });

    // The link's dependency on the write declared before it (afterLastVnetWrite) is what orders it
    // after its VNet's subnet; without it the two may run at once.
    counterpart(AZURE_READINESS_CHECKS.orderedVnetWrites(label), () => {
      const location = firstLocation();
      const link = `dns-link-${location}`;
      const writers = [...vnetWriters(result()).values()].flat();
      const dependsOn = result().resources.find((r) => r.name === link)!.options.dependsOn;
      const before = dependsOn.filter((dep) => writers.includes(dep) && dep !== `vnet-${location}`);
      assert.equal(before.length, 1, `${link} depends on one earlier write besides its VNet: ${dependsOn.join(", ")}`);
      const broken = withResource(
        result(),
        link,
        (r) => (r.options.dependsOn = r.options.dependsOn.filter((dep) => dep !== before[0])),
      );
      return [
        {
          broke: `${link}'s dependency on ${before[0]} removed`,
          failure: unorderedVnetWrites(broken),
          naming: [`subnet-${location} and ${link} both write vnet-${location} with no dependency between them`],
        },
      ];
    });

    counterpart(AZURE_READINESS_CHECKS.extensionsAfterNetwork(label), () => {
      const last = result()
        .extensions.filter((e) => e.role === "flowproxy")
        .pop()!.resource;
      const record = `dns-${BUILDERHUB.dnsLabel}`;
      assert.ok(networkPrerequisites(result()).includes(record), `${record} is a network prerequisite`);
      const broken = withResource(result(), last, (r) => {
        assert.ok(r.options.dependsOn.includes(record), `${last} depends on ${record}`);
        r.options.dependsOn = r.options.dependsOn.filter((dep) => dep !== record);
      });
      return [
        {
          broke: `${last}'s dependency on ${record} removed`,
          failure: extensionsAheadOfNetwork(broken),
          naming: [`${last} does not wait for ${record}`],
        },
      ];
    });

    counterpart(AZURE_READINESS_CHECKS.outboundAccess(label), () => {
      const subnet = `subnet-${firstLocation()}`;
      const broken = withResource(result(), subnet, (r) => {
        assert.equal(r.inputs.natGateway, undefined, `${subnet} has no NAT gateway to take away`);
        r.inputs = { ...r.inputs, defaultOutboundAccess: false };
      });
      return [
        {
          broke: `${subnet} without default outbound access or a NAT gateway`,
          failure: outboundProblems(broken),
          naming: [`${subnet} leaves its outbound access to the API version`],
        },
      ];
    });
  }

  counterpart(AZURE_READINESS_CHECKS.replacement, () => {
    const broken: Evaluation = structuredClone(base);
    const options = (name: string) => broken.resources.find((r) => r.name === name)!.options;
    options("vm-eastus").deleteBeforeReplace = false;
    options("provision-vm-eastus").deletedWith = "";
    options("nic-vm-westeurope").deletedWith = "";
    options("dns-link-eastus").deletedWith = "rg-eastus";
    const problems = replacementProblems(broken);
    // Exactly these: a rule that blamed an unbroken resource would be a check that cannot pass.
    assert.deepEqual([...problems].sort(), [
      "dns-link-eastus reaches across groups but is left to a deletion",
      "nic-vm-westeurope is not deleted with its resource group",
      "provision-vm-eastus is not deleted with its VM",
      "vm-eastus is not replaced delete-first",
    ]);
    return [
      {
        broke: "four options taken away",
        failure: problems,
        naming: ["vm-eastus", "provision-vm-eastus", "nic-vm-westeurope", "dns-link-eastus"],
      },
    ];
  });

  counterpart(AZURE_READINESS_CHECKS.provisioningRun, async () => {
    const raised = await evaluated(validRequest({ provisioningRun: "1" }));
    const tagIgnoresRun: Evaluation = structuredClone(raised);
    for (const ext of tagIgnoresRun.extensions)
      ext.forceUpdateTag = base.extensions.find((e) => e.vmName === ext.vmName)!.forceUpdateTag;
    const scriptChanges: Evaluation = structuredClone(raised);
    const east = scriptChanges.extensions.find((e) => e.vmName === "vm-eastus")!;
    east.script = Buffer.from(`${decodeScript(east.script)}# provisioningRun 1\n`).toString("base64");
    return [
      {
        broke: "forceUpdateTags that ignore provisioningRun",
        failure: provisioningRunProblems(base, tagIgnoresRun),
        naming: base.extensions.map((e) => `${e.vmName} keeps its forceUpdateTag`),
      },
      {
        broke: "vm-eastus's script changed with provisioningRun",
        failure: provisioningRunProblems(base, scriptChanges),
        naming: ["vm-eastus runs a different script"],
      },
    ];
  });

  // Each rule of the first-boot check, broken alone in the default script, is named alone.
  counterpart(AZURE_READINESS_CHECKS.firstBoot, () => {
    const script = decodeScript(eastScript());
    const breaks: [string, string | RegExp, string, string][] = [
      ["no HOME export", "  export HOME=${HOME:-/root}\n", "", "provision does not set HOME before the steps"],
      [
        "tailscale up with the tailnet's DNS",
        / --accept-dns=false (--timeout=)/,
        " $1",
        "tailscale up runs without --accept-dns=false or --timeout",
      ],
      [
        "tailscale up without a timeout",
        / --timeout="\$TAILSCALE_UP_TIMEOUT"/,
        "",
        "tailscale up runs without --accept-dns=false or --timeout",
      ],
      [
        "a join timeout that is not seconds",
        /^readonly TAILSCALE_UP_TIMEOUT=\S+$/m,
        "readonly TAILSCALE_UP_TIMEOUT=forever",
        "TAILSCALE_UP_TIMEOUT is not a number of seconds",
      ],
      [
        "no DNS reset for a VM that joined before",
        /^\s+tailscale set --accept-dns=false \|\| die .*\n/m,
        "",
        "a VM that joined before keeps the tailnet's DNS",
      ],
      ["one apt lock not waited for", "/var/lib/apt/lists/lock ", "", "/var/lib/apt/lists/lock is not waited for"],
      [
        "apt-get install without the wait",
        "apt_get_when_free install",
        "apt_get install",
        "an apt-get runs without waiting for apt's locks",
      ],
      [
        "Tailscale's installer without the wait",
        /wait_for_apt &&\n\s+(sh "\$STATE_DIR\/tailscale-install\.sh")/,
        "$1",
        "Tailscale's installer runs apt-get without waiting",
      ],
    ];
    return breaks.map(([broke, from, to, named]) => {
      const failure = firstBootProblems(Buffer.from(edited(script, from, to)).toString("base64"));
      assert.deepEqual(failure, [named], `only what was broken is named (${broke})`);
      return { broke, failure, naming: [named] };
    });
  });

  // wait_for_locks that never finds a lock held: the step goes on at once.
  counterpart(AZURE_READINESS_CHECKS.heldAptLock, async () => {
    const blind = edited(decodeScript(eastScript()), 'while held=$(held_lock "$@"); do', "while false; do");
    const wait = await waitForHeldLock(Buffer.from(blind).toString("base64"), 30, LOCK_WAIT_SECONDS);
    return [
      {
        broke: "wait_for_locks blind to held locks",
        failure: heldLockProblems(wait),
        naming: [`exit 0, not 1, while ${wait.lockFile} was held`],
      },
    ];
  });

  counterpart(AZURE_READINESS_CHECKS.freedAptLock, async () => {
    const wait = await heldPastTheWait();
    return [
      {
        broke: `a lock held for 30 s and a wait of ${LOCK_WAIT_SECONDS} s`,
        failure: freedLockProblems(wait),
        naming: [`exit 1, not 0, waiting for ${wait.lockFile}`, `${wait.lockFile} was still locked`],
      },
    ];
  });
});

test("the outbound check counts a subnet behind a NAT gateway apart from default outbound access", () => {
  const changed: Evaluation = structuredClone(base);
  const [first, second] = changed.resources.filter((r) => r.type === SUBNET);
  first.inputs = {
    ...first.inputs,
    defaultOutboundAccess: false,
    natGateway: { id: "/subscriptions/s/natGateways/nat-eastus" },
  };
  assert.deepEqual(subnetOutbound(changed), {
    subnets: [first.name, second.name],
    defaultOutboundAccess: [second.name],
    natGateway: [first.name],
  });
  assert.deepEqual(outboundProblems(changed), []);
});
