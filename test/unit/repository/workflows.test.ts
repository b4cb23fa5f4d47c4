// Lints .github/workflows with GitHub's own workflow parser (@actions/workflow-parser, from
// actions/languageservices: the schema and expression checks behind GitHub's editor support), then
// checks what this project needs from its two workflows.
import assert from "node:assert/strict";
import * as fs from "fs";
import { register } from "module";
import * as path from "path";
import { before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { PROJECT_DIR } from "../../../plan/evaluation";

const WORKFLOWS = path.join(PROJECT_DIR, ".github", "workflows");

type WorkflowParser = typeof import("@actions/workflow-parser");

// The parser is an ES module that imports its JSON schema without `with { type: "json" }`, which
// bundlers accept and Node does not; this loader hook adds the attribute for .json files.
register(
  "data:text/javascript," +
    encodeURIComponent(
      "export async function load(url, context, next) {" +
        ' return next(url, url.endsWith(".json") ? { ...context, importAttributes: { ...context.importAttributes, type: "json" } } : context); }',
    ),
);
// A real import(): TypeScript would turn `await import()` into require() under CommonJS.
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- the one way to keep import() as it is
const importModule = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<unknown>;

let parser: WorkflowParser;
before(async () => {
  parser = (await importModule("@actions/workflow-parser")) as WorkflowParser;
});

/** Every problem GitHub's parser finds in a workflow: schema, expressions, job graph. */
async function lint(name: string, content: string): Promise<string[]> {
  const parsed = parser.parseWorkflow({ name, content }, new parser.NoOperationTraceWriter());
  // errorPolicy 1 is ErrorPolicy.TryConversion: check the job graph even after a schema problem.
  if (parsed.value !== undefined)
    await parser.convertWorkflowTemplate(parsed.context, parsed.value, undefined, { errorPolicy: 1 });
  return parsed.context.errors.getErrors().map((e) => e.message);
}

const files = fs
  .readdirSync(WORKFLOWS)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, unknown> };
type Job = { if?: string; needs?: string | string[]; steps: Step[] };
type Workflow = { on: Record<string, unknown>; permissions?: Record<string, string>; jobs: Record<string, Job> };

function load(file: string): Workflow {
  return parseYaml(fs.readFileSync(path.join(WORKFLOWS, file), "utf8")) as Workflow;
}

/** Inputs of the third-party actions used here, from each action's documentation. */
const ACTION_INPUTS: Record<string, string[]> = {
  "pulumi/actions": [
    "command",
    "stack-name",
    "work-dir",
    "cloud-url",
    "comment-on-pr",
    "comment-on-pr-number",
    "comment-on-summary",
    "edit-pr-comment",
    "github-token",
    "refresh",
    "secrets-provider",
    "color",
    "log-verbosity",
    "log-flow",
    "debug",
    "config-map",
    "diff",
    "expect-no-changes",
    "message",
    "parallel",
    "policyPacks",
    "policyPackConfigs",
    "pulumi-version",
    "pulumi-version-file",
    "remove",
    "replace",
    "target",
    "target-dependents",
    "upsert",
    "exclude-protected",
    "suppress-outputs",
    "suppress-progress",
    "omit-stdout",
    "plan",
    "always-include-summary",
    "continue-on-error",
  ],
  "azure/login": [
    "client-id",
    "tenant-id",
    "subscription-id",
    "creds",
    "enable-AzPSSession",
    "environment",
    "allow-no-subscriptions",
    "audience",
    "auth-type",
    "mask-client-id",
  ],
  "actions/checkout": [
    "repository",
    "ref",
    "token",
    "ssh-key",
    "ssh-known-hosts",
    "ssh-strict",
    "ssh-user",
    "persist-credentials",
    "path",
    "clean",
    "filter",
    "sparse-checkout",
    "sparse-checkout-cone-mode",
    "fetch-depth",
    "fetch-tags",
    "show-progress",
    "lfs",
    "submodules",
    "set-safe-directory",
    "github-server-url",
  ],
  "actions/setup-node": [
    "node-version",
    "node-version-file",
    "architecture",
    "check-latest",
    "registry-url",
    "scope",
    "token",
    "cache",
    "package-manager-cache",
    "cache-dependency-path",
    "mirror",
    "mirror-token",
  ],
};

describe("workflow lint", () => {
  test("the workflows directory holds test.yml and preview.yml", () => {
    assert.deepEqual(files, ["preview.yml", "test.yml"]);
  });

  for (const file of files) {
    test(`${file} passes GitHub's workflow parser`, async () => {
      assert.deepEqual(await lint(file, fs.readFileSync(path.join(WORKFLOWS, file), "utf8")), []);
    });

    test(`${file} uses known actions at a major version, with inputs they accept`, () => {
      for (const [jobName, job] of Object.entries(load(file).jobs)) {
        for (const step of job.steps.filter((s) => s.uses !== undefined)) {
          const [action, ref] = step.uses!.split("@");
          assert.ok(action in ACTION_INPUTS, `${file} ${jobName}: ${action} is not an action this test knows`);
          assert.match(ref ?? "", /^v\d+$/, `${file} ${jobName}: ${step.uses} is pinned to a major version`);
          for (const input of Object.keys(step.with ?? {})) {
            assert.ok(ACTION_INPUTS[action].includes(input), `${file} ${jobName}: ${action} has no input "${input}"`);
          }
        }
      }
    });
  }

  test("the linter catches a broken workflow", async () => {
    const job = ["jobs:", "  a:", "    runs-on: ubuntu-latest", "    steps:", "      - run: echo hi"];
    const badSchema = ["on:", "  pull_requests:", ...job].join("\n");
    assert.match((await lint("schema.yml", badSchema)).join("\n"), /Unexpected value 'pull_requests'/);
    // Secrets may not decide whether a job runs, and needs must name a job.
    const badJob = [
      "on: pull_request",
      ...job.slice(0, 3),
      "    if: secrets.TOKEN != ''",
      ...job.slice(3),
      "  b:",
      "    needs: missing",
      ...job.slice(2),
    ].join("\n");
    const problems = (await lint("job.yml", badJob)).join("\n");
    assert.match(problems, /Unrecognized named-value: 'secrets'/);
    assert.match(problems, /depends on unknown job 'missing'/);
  });
});

describe("what the workflows do", () => {
  test("test.yml runs .ci/run, the CI entry point, as root on every pull request and push to main", () => {
    const workflow = load("test.yml");
    assert.ok("pull_request" in workflow.on);
    assert.deepEqual((workflow.on.push as { branches: string[] }).branches, ["main"]);
    const runs = Object.values(workflow.jobs).flatMap((j) => j.steps.map((s) => s.run ?? ""));
    assert.ok(
      runs.some((r) => /^sudo\b.*\bbash \.ci\/run$/.test(r.trim())),
      `a step runs sudo ... bash .ci/run: ${runs.join(" | ")}`,
    );
    const setupNode = Object.values(workflow.jobs)
      .flatMap((j) => j.steps)
      .find((s) => s.uses?.startsWith("actions/setup-node@"));
    assert.equal(setupNode?.with?.["node-version"], 20);
  });

  test("preview.yml runs pulumi preview with the policy pack on pull requests, and only when credentials exist", () => {
    const workflow = load("preview.yml");
    assert.deepEqual(Object.keys(workflow.on), ["pull_request"]);
    assert.equal(workflow.permissions?.["id-token"], "write");
    assert.equal(workflow.permissions?.["pull-requests"], "write");
    const [name, job] = Object.entries(workflow.jobs).find(([, j]) =>
      j.steps.some((s) => s.uses?.startsWith("pulumi/actions@")),
    )!;
    const pulumi = job.steps.find((s) => s.uses?.startsWith("pulumi/actions@"))!;
    assert.equal(pulumi.uses, "pulumi/actions@v6");
    assert.equal(pulumi.with?.command, "preview");
    assert.equal(pulumi.with?.policyPacks, "policy");
    assert.equal(pulumi.with?.["comment-on-pr"], true);
    assert.ok(pulumi.with?.["stack-name"], "a stack name");
    assert.ok(fs.existsSync(path.join(PROJECT_DIR, "policy", "PulumiPolicy.yaml")), "policy/ is a policy pack");
    // Gated on the credentials check, which reads every secret the preview uses.
    assert.match(job.if ?? "", /needs\.credentials\.outputs\.ready == 'true'/, `${name} runs only with credentials`);
    const checked = Object.keys(workflow.jobs.credentials.steps[0].env ?? {});
    const used = new Set(
      JSON.stringify(job)
        .match(/secrets\.[A-Z_]+/g)
        ?.map((s) => s.slice("secrets.".length)),
    );
    used.delete("GITHUB_TOKEN"); // always present
    for (const secret of used) assert.ok(checked.includes(secret), `the credentials check covers ${secret}`);
    assert.ok(
      job.steps.some((s) => s.uses === "azure/login@v2"),
      "logs in to Azure",
    );
  });
});
