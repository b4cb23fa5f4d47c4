// pnpm run plan: the program evaluated under mocks with a stack's config, printed by region, with
// secrets as [secret]; and the architecture diagram, which must match the committed one.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { before, describe, test } from "node:test";
import { COMMITTED_SVG, compareSvg, makePlan, parseArgs, Plan, runPlan } from "../../../plan/cli";
import { decodeScript, PROJECT_DIR } from "../../../plan/evaluation";
import { PlanError, StackConfig, loadStackConfig, parseStackFile } from "../../../plan/stack-file";
import { evaluateAgain, evaluated, everyOptionRequest } from "../../support/program";

function tempDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-plan-"));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

async function capture(argv: string[], configDir: string) {
  let stdout = "";
  let stderr = "";
  const code = await runPlan(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    configDir,
    evaluate: evaluateAgain,
  });
  return { code, stdout, stderr };
}

/** The lines of one "== title ==" section of the plan. */
function section(text: string, title: string): string {
  const start = text.indexOf(`== ${title}`);
  assert.ok(start >= 0, `the plan has a section ${title}`);
  const end = text.indexOf("\n== ", start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

describe("the plan of the default stack (example config)", () => {
  let plan: Plan;
  before(async () => {
    plan = await makePlan(loadStackConfig("dev", PROJECT_DIR, { example: true }), evaluated);
  });

  test("the committed docs/architecture.svg matches the program", () => {
    const committedPath = path.join(PROJECT_DIR, COMMITTED_SVG);
    const committed = fs.existsSync(committedPath) ? fs.readFileSync(committedPath, "utf8") : undefined;
    const { ok, message } = compareSvg(committed, plan.svg, false);
    assert.ok(ok, message);
  });

  test("says which config it used and which secrets stand in as placeholders", () => {
    assert.match(plan.text, /config: +Pulumi\.dev\.example\.yaml \(example config: Pulumi\.dev\.yaml does not exist\)/);
    assert.match(plan.text, /secrets: +sshPublicKey, githubToken stand in as placeholders/);
  });

  test("lists every resource, grouped by region and then the shared ones, before the outputs and the cost", () => {
    const titles = [...plan.text.matchAll(/^== (.+?)(?: \(| ==$|,)/gm)].map((m) => m[1]);
    assert.deepEqual(titles, ["eastus", "westeurope", "shared", "stack outputs", "estimated monthly cost"]);
    for (const r of plan.evaluation.resources.filter((x) => x.type !== "pulumi:pulumi:Stack")) {
      assert.match(
        plan.text,
        new RegExp(`^  ${r.type.replace(/[/]/g, "\\/")} +${r.name}$`, "m"),
        `${r.type} ${r.name} is listed`,
      );
    }
    const east = section(plan.text, "eastus");
    for (const name of [
      "rg-eastus",
      "vnet-eastus",
      "subnet-eastus",
      "peer-eastus-to-westeurope",
      "nsg-eastus",
      "nsg-builderhub",
      "vm-builderhub",
      "provision-vm-builderhub",
      "signer-key-vm-eastus",
    ]) {
      assert.match(east, new RegExp(` ${name}$`, "m"), `${name} is in eastus`);
    }
    const shared = section(plan.text, "shared");
    for (const name of ["dns-zone", "dns-link-westeurope", "dns-builderhub", "dns-vm-westeurope"])
      assert.match(shared, new RegExp(` ${name}$`, "m"));
  });

  test("shows CIDRs, NSG rules, the resource groups' Azure names, VM size, image and boot diagnostics, DNS records, and each extension's VM and forceUpdateTag", () => {
    const east = section(plan.text, "eastus");
    assert.match(east, /address space 10\.10\.0\.0\/16/);
    assert.match(east, /10\.10\.1\.0\/24 in vnet-eastus/);
    assert.match(east, /100 +inbound allow +Tcp +port 22 +from 203\.0\.113\.0\/24 +\(ssh\)/);
    assert.match(east, /130 +inbound allow +Tcp +port 5544 +from \* \(any\) +\(system-orderflow\)/);
    assert.match(east, /size Standard_B2s\n +image Canonical 0001-com-ubuntu-server-jammy 22_04-lts-gen2 latest/);
    assert.match(east, /location eastus, named rg-flowproxy-staging-dev-eastus in Azure/);
    assert.match(east, /NIC nic-vm-eastus\n +boot diagnostics on, in Azure-managed storage/);
    assert.match(east, /password login disabled/);
    assert.match(section(plan.text, "shared"), /A vm-westeurope\.flowproxy\.internal -> 10\.20\.1\.4 \(TTL 300\)/);
    for (const ext of plan.evaluation.extensions) {
      assert.match(
        plan.text,
        new RegExp(
          `runs on ${ext.vmName}: Microsoft\\.Azure\\.Extensions CustomScript 2\\.1.*\\n +forceUpdateTag ${ext.forceUpdateTag}\\n`,
        ),
      );
    }
  });

  test("draws every region, VNet, VM endpoint, open port, peering and DNS record in the diagram", () => {
    for (const text of [
      "eastus · rg-flowproxy-staging-dev-eastus",
      "vnet-westeurope 10.20.0.0/16",
      "subnet-eastus 10.10.1.0/24",
      "public  203.0.113.10 (pip-eastus)",
      "private 10.10.1.5 (nic-vm-builderhub)",
      "public  none",
      "80, 443, 5544/tcp from any",
      "22/tcp from 203.0.113.0/24",
      "3000, 22/tcp from 10.20.0.0/16",
      "VNet peering",
      /builderhub\.flowproxy\.internal +A +10\.10\.1\.5/,
      "provisioned by provision-vm-westeurope (CustomScript)",
    ]) {
      if (typeof text === "string") assert.ok(plan.svg.includes(text), `the diagram shows "${text}"`);
      else assert.match(plan.svg, text);
    }
    assert.doesNotMatch(plan.svg, /\d{4}-\d{2}-\d{2}/, "no dates in the diagram");
  });
});

test("plan shows secrets only as [secret]", async () => {
  const request = everyOptionRequest();
  const config: StackConfig = {
    stack: "dev",
    file: "test config",
    example: false,
    request: { ...request, stack: "dev" },
    placeholders: [],
    regionOrder: ["eastus", "westeurope"],
  };
  const plan = await makePlan(config, evaluated);
  const secrets = [
    ...request.secretKeys!.map((k) => request.config[k]),
    request.config.sshPublicKey.split(" ")[1], // the key body alone
    ...plan.evaluation.resources
      .filter((r) => r.type === "random:index/randomBytes:RandomBytes")
      .map((r) => String(r.state.hex)),
    ...plan.evaluation.extensions.map((e) => e.script),
  ];
  assert.ok(secrets.every((s) => typeof s === "string" && s.length > 8));
  // The scripts do hold the secrets, so their absence from the plan means something.
  assert.ok(
    decodeScript(plan.evaluation.extensions.find((e) => e.vmName === "vm-eastus")!.script).includes(
      request.config.clickhousePassword,
    ),
  );
  for (const secret of secrets) {
    assert.ok(!plan.text.includes(secret), `the plan text does not contain the secret ${secret.slice(0, 12)}...`);
    assert.ok(!plan.svg.includes(secret), `the diagram does not contain the secret ${secret.slice(0, 12)}...`);
  }
  assert.match(plan.text, /protectedSettings \[secret\]/);
  assert.match(plan.text, /SSH keys \[secret\]/);
});

test("plan reads the stack's own Pulumi.<stack>.yaml: secure values as placeholder secrets, the region table as JSON", async () => {
  const dir = tempDir({
    "Pulumi.staging.yaml": [
      "encryptionsalt: v1:c2FsdA==:v1:AAAA",
      "config:",
      "  azure-native:location: eastus",
      "  flowproxy-staging:adminUsername: fpadmin",
      "  flowproxy-staging:sshPublicKey:",
      "    secure: v1:ciphertextnotforthetest",
      "  flowproxy-staging:githubToken:",
      "    secure: v1:moreciphertext",
      "  flowproxy-staging:flowProxyArtifact: https://github.com/ORG/REPO/actions/runs/1/artifacts/2",
      "  flowproxy-staging:haProxyVersion: 3.0.6",
      "  flowproxy-staging:regions:",
      "    - {name: east, location: eastus, vnetCidr: 10.10.0.0/16, subnetCidr: 10.10.1.0/24}",
      "    - {name: central, location: centralus, vnetCidr: 10.30.0.0/16, subnetCidr: 10.30.1.0/24}",
      "",
    ].join("\n"),
  });
  const svg = path.join(dir, "staging.svg");
  const { code, stdout, stderr } = await capture(["--stack", "staging", "--svg", svg], dir);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /config: +Pulumi\.staging\.yaml\n/);
  assert.match(stdout, /secrets: +sshPublicKey, githubToken stand in as placeholders/);
  assert.deepEqual(
    [...stdout.matchAll(/^== (\w+)/gm)].map((m) => m[1]),
    ["eastus", "centralus", "shared", "stack", "estimated"],
  );
  assert.match(stdout, /OS profile \(secret\): admin fpadmin/);
  assert.match(stdout, new RegExp(`diagram: .*staging\\.svg`));
  assert.match(fs.readFileSync(svg, "utf8"), /vnet-centralus 10\.30\.0\.0\/16/);
});

test("plan prints the program's config errors, as pulumi preview would, and exits 1 without a stack trace", async () => {
  const dir = tempDir({
    "Pulumi.broken.yaml": [
      "config:",
      "  flowproxy-staging:adminUsername: root",
      "  flowproxy-staging:githubToken: ghp_storedinplaintext0123456789abcdefghij",
      "  flowproxy-staging:flowProxyArtifact: https://github.com/ORG/REPO/actions/runs/1/artifacts/2",
      "  flowproxy-staging:haProxyVersion: 3.0.6",
      "",
    ].join("\n"),
  });
  const { code, stdout, stderr } = await capture(["--stack", "broken"], dir);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(stderr, /^The flowproxy-staging stack configuration has 3 problems:\n/);
  assert.match(stderr, /flowproxy-staging:adminUsername "root" is reserved by Azure/);
  assert.match(stderr, /flowproxy-staging:sshPublicKey is required but not set/);
  assert.match(stderr, /flowproxy-staging:githubToken is stored in plain text but must be a secret/);
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
});

test("plan reports an unreadable stack file in one line", async () => {
  const { code, stderr } = await capture(["--stack", "bad"], tempDir({ "Pulumi.bad.yaml": "config: [unclosed\n" }));
  assert.equal(code, 1);
  assert.match(stderr, /^plan: Pulumi\.bad\.yaml is not valid YAML: /);
  assert.equal(stderr.trim().split("\n").length, 1);
});

describe("plan's pieces", () => {
  test("a stack file's config: secure values become placeholders that pass validation, other namespaces are left out", () => {
    const parsed = parseStackFile(
      "Pulumi.x.yaml",
      [
        "config:",
        "  aws:region: us-east-1",
        "  flowproxy-staging:vmSize: Standard_B2s",
        "  flowproxy-staging:tailscaleAuthKey: {secure: 'v1:abc'}",
        "  flowproxy-staging:regions: [{name: east, location: eastus, vnetCidr: 10.10.0.0/16, subnetCidr: 10.10.1.0/24}]",
      ].join("\n"),
    );
    assert.deepEqual(Object.keys(parsed.config).sort(), ["regions", "tailscaleAuthKey", "vmSize"]);
    assert.equal(
      parsed.config.regions,
      '[{"name":"east","location":"eastus","vnetCidr":"10.10.0.0/16","subnetCidr":"10.10.1.0/24"}]',
    );
    assert.match(parsed.config.tailscaleAuthKey, /^tskey-/);
    assert.deepEqual(parsed.secretKeys, ["tailscaleAuthKey"]);
    assert.deepEqual(parsed.encrypted, ["tailscaleAuthKey"]);
  });

  test("the example config stands in for a stack without its own file, with placeholders for the secrets it asks for", () => {
    const config = loadStackConfig("nosuchstack", PROJECT_DIR);
    assert.equal(config.file, "Pulumi.dev.example.yaml");
    assert.ok(config.example);
    assert.deepEqual(config.placeholders, ["sshPublicKey", "githubToken"]);
    assert.deepEqual(config.request.secretKeys, ["sshPublicKey", "githubToken"]);
    assert.equal(config.request.config.allowedSshCidr, "203.0.113.0/24");
  });

  test("the stack comes from --stack, else PULUMI_STACK, else dev", () => {
    assert.equal(parseArgs([], {}).stack, "dev");
    assert.equal(parseArgs([], { PULUMI_STACK: "ci" }).stack, "ci");
    assert.equal(parseArgs(["--", "--stack", "prod"], { PULUMI_STACK: "ci" }).stack, "prod");
    assert.deepEqual(parseArgs(["--check", "--svg=out.svg"], {}), {
      stack: "dev",
      example: false,
      check: true,
      svg: "out.svg",
    });
    assert.throws(() => parseArgs(["--stak", "x"], {}), PlanError);
  });

  test("--check names the stale diagram and the command that redraws it", () => {
    assert.deepEqual(compareSvg("<svg/>", "<svg/>", false), {
      ok: true,
      message: "docs/architecture.svg matches the program",
    });
    assert.deepEqual(compareSvg("<svg>old</svg>", "<svg/>", false), {
      ok: false,
      message: "docs/architecture.svg is stale; run pnpm run plan and commit it",
    });
    assert.match(compareSvg(undefined, "<svg/>", true).message, /is missing; run pnpm run plan --example/);
  });
});
