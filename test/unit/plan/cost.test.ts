// The plan's monthly cost estimate (plan/cost.ts): every resource priced from its own inputs with
// the dated table of plan/prices.ts, so a change of count or size shows in the total, and a
// resource the table cannot price is named with what to add instead of counting as 0.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { makePlan, Plan } from "../../../plan/cli";
import { CostEstimate, estimateCost, formatCost } from "../../../plan/cost";
import { PROJECT_DIR } from "../../../plan/evaluation";
import type { Evaluation } from "../../../plan/evaluation";
import { PlanGraph } from "../../../plan/graph";
import { HOURS_PER_MONTH, VM_HOURLY } from "../../../plan/prices";
import { loadStackConfig } from "../../../plan/stack-file";
import { evaluated, grownRequest, threeRegionRequest, validRequest } from "../../support/program";

const estimateOf = async (request: Parameters<typeof evaluated>[0]): Promise<CostEstimate> =>
  estimateCost(new PlanGraph(await evaluated(request)));
const byResource = (a: { resource: string }, b: { resource: string }) => a.resource.localeCompare(b.resource);
const cents = (usd: number | undefined) => (usd === undefined ? undefined : Math.round(usd * 100));

describe("the cost estimate of the default example stack", () => {
  let plan: Plan;
  before(async () => {
    plan = await makePlan(loadStackConfig("dev", PROJECT_DIR, { example: true }), evaluated);
  });

  test("prices each VM's compute and OS disk, each public IP, each peering and each private zone, and totals them", () => {
    const lines = plan.cost.lines.map((l) => `${l.resource} ${l.usd.toFixed(2)}`);
    assert.deepEqual(lines.sort(), [
      "dns-reverse-eastus 0.50",
      "dns-reverse-westeurope 0.50",
      "dns-zone 0.50",
      "peer-eastus-to-westeurope 0.70",
      "peer-westeurope-to-eastus 0.70",
      "pip-eastus 3.65",
      "pip-eastus-2 3.65",
      "pip-westeurope 3.65",
      "vm-builderhub 2.40",
      "vm-builderhub 30.37",
      "vm-eastus 2.40",
      "vm-eastus 30.37",
      "vm-eastus-2 2.40",
      "vm-eastus-2 30.37",
      "vm-westeurope 2.64",
      "vm-westeurope 33.29",
    ]);
    assert.equal(plan.cost.total?.toFixed(2), "148.08");
    assert.deepEqual(plan.cost.unpriced, []);
  });

  test("reads each VM's size and region from its inputs: westeurope's own Standard_B2ls_v2", () => {
    assert.match(plan.text, /^ {2}vm-westeurope +compute: Standard_B2ls_v2 in westeurope, 730 h × \$0\.0456 +33\.29$/m);
    assert.match(plan.text, /^ {2}vm-eastus-2 +compute: Standard_B2s in eastus, 730 h × \$0\.0416 +30\.37$/m);
  });

  test("the plan prints the total, the table's date, the traffic assumption and every free resource", () => {
    assert.match(
      plan.text,
      /^== estimated monthly cost, USD \(pay-as-you-go list prices of plan\/prices\.ts, compiled \d{4}-\d{2}-\d{2}\) ==$/m,
    );
    assert.match(plan.text, /^ {2}total +148\.08$/m);
    assert.match(plan.text, /10 GB a month leave each VNet through each peering/);
    const free = plan.cost.free.length;
    assert.equal(
      free + new Set(plan.cost.lines.map((l) => l.resource)).size,
      plan.graph.nodes.length,
      "every resource is priced or free",
    );
    assert.match(plan.text, new RegExp(`^  no charge, ${free} resources:$`, "m"));
  });

  test("docs/COST.md, docs/SANDBOX.md and the README quote the total the plan prints", () => {
    const total = plan.cost.total!;
    assert.match(
      fs.readFileSync(path.join(PROJECT_DIR, "docs/COST.md"), "utf8"),
      new RegExp(`\\| \\*\\*total\\*\\* \\| \\*\\*${total.toFixed(2).replace(".", "\\.")}\\*\\* \\|`),
    );
    assert.match(
      fs.readFileSync(path.join(PROJECT_DIR, "docs/SANDBOX.md"), "utf8"),
      new RegExp(`about \\$${Math.round(total)} for the example\\s+config`),
    );
    assert.match(
      fs.readFileSync(path.join(PROJECT_DIR, "README.md"), "utf8"),
      new RegExp(`costs about \\$${Math.round(total)} a month`),
    );
  });
});

test("one more proxy in a region adds its VM, OS disk and public IP to the total", async () => {
  const [before, grown] = await Promise.all([estimateOf(validRequest()), estimateOf(grownRequest())]);
  const added = grown.lines.filter((l) => l.resource === "vm-eastus-2" || l.resource === "pip-eastus-2");
  assert.deepEqual(added.map((l) => l.usd.toFixed(2)).sort(), ["2.40", "3.65", "30.37"]);
  assert.equal(cents(grown.total), cents(before.total! + added.reduce((sum, l) => sum + l.usd, 0)));
});

test("a larger vmSize raises the compute of every VM of that size, at the table's price", async () => {
  const [b2s, b2ms] = await Promise.all([
    estimateOf(validRequest()),
    estimateOf(validRequest({ vmSize: "Standard_B2ms" })),
  ]);
  const raise = (region: string) =>
    (VM_HOURLY[region].Standard_B2ms.usd - VM_HOURLY[region].Standard_B2s.usd) * HOURS_PER_MONTH;
  // BuilderHub and vm-eastus in eastus, vm-westeurope in westeurope: no region sets a size of its own.
  assert.equal(cents(b2ms.total), cents(b2s.total! + 2 * raise("eastus") + raise("westeurope")));
  assert.ok(
    b2ms.lines.some((l) => l.resource === "vm-builderhub" && l.what.startsWith("compute: Standard_B2ms in eastus")),
  );
});

test("a VM size the table has no price for is named with the entry to add, and there is no total", async () => {
  const estimate = await estimateOf(threeRegionRequest());
  assert.deepEqual(
    [...estimate.unpriced].sort(byResource),
    [
      {
        resource: "vm-centralus",
        message:
          "no price in the table for Standard_B2ls_v2 in centralus; add it to plan/prices.ts (VM_HOURLY.centralus)",
      },
      {
        resource: "pip-centralus",
        message:
          "no price in the table for a Standard Static public IP in centralus; add it to plan/prices.ts (PUBLIC_IP_HOURLY.centralus)",
      },
      {
        resource: "peer-centralus-to-eastus",
        message:
          "no price in the table for global peering traffic leaving centralus; add it to plan/prices.ts (PEERING_PER_GB.zoneOf and .zones)",
      },
      {
        resource: "peer-centralus-to-westeurope",
        message:
          "no price in the table for global peering traffic leaving centralus; add it to plan/prices.ts (PEERING_PER_GB.zoneOf and .zones)",
      },
      {
        resource: "peer-eastus-to-centralus",
        message:
          "no price in the table for global peering traffic arriving in centralus; add it to plan/prices.ts (PEERING_PER_GB.zoneOf and .zones)",
      },
      {
        resource: "peer-westeurope-to-centralus",
        message:
          "no price in the table for global peering traffic arriving in centralus; add it to plan/prices.ts (PEERING_PER_GB.zoneOf and .zones)",
      },
    ].sort(byResource),
  );
  assert.equal(estimate.total, undefined);
  assert.match(formatCost(estimate).join("\n"), /^ {2}total +none: 6 resources have no price in the table \(above\)$/m);
});

test("a resource of a type the table does not know is unpriced, never free", () => {
  const stack: Evaluation = {
    resources: [
      {
        type: "azure-native:network:LoadBalancer",
        name: "lb-eastus",
        inputs: { location: "eastus" },
        state: {},
        options: {
          dependsOn: [],
          ignoreChanges: [],
          deleteBeforeReplace: false,
          deletedWith: "",
          replaceOnChanges: [],
        },
      },
    ],
    outputs: {},
    extensions: [],
    dnsRecords: [],
    reverseRecords: [],
  };
  const estimate = estimateCost(new PlanGraph(stack));
  assert.deepEqual(estimate.unpriced, [
    {
      resource: "lb-eastus",
      message:
        "no price in the table for azure-native:network:LoadBalancer; add it to plan/prices.ts (a price, or FREE)",
    },
  ]);
  assert.equal(estimate.total, undefined);
});
