// Section 1 of the reliability report: every bad input of the shared catalogue
// (test/support/bad-configs.ts) is refused with one clear message and a non-zero exit before the
// program renders anything, and hostile but legal file content reaches the rendered script only
// as a single-quoted word that bash reads literally.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { shellQuote } from "../lib/provision";
import { decodeScript } from "../sandbox/extension";
import { BAD_CONFIGS, BadConfig, judgeRefusal, tryBadConfig } from "../test/support/bad-configs";
import type { RenderResult } from "../test/support/render-stack";
import { runRenderAsync, validRequest, withEditedProject } from "../test/support/stack";
import { Section } from "./reliability-checks";

/** Program evaluations side by side: one per core of the 2-core machines this runs on. */
const CONCURRENCY = 2;

/** The message's problem lines ("  - key ..."); the line above them only says how many there are. */
function problemLines(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((line) => line.startsWith("  - "))
    .map((line) => line.slice(4));
}

async function checkBadConfig(bad: BadConfig): Promise<{ passed: boolean; evidence: string[] }> {
  const outcome = await tryBadConfig(bad);
  const wrong = judgeRefusal(bad, outcome);
  const problems = problemLines(outcome.stderr);
  const first = problems[0] ?? outcome.stderr.split("\n").find((line) => line.trim() !== "") ?? "(no message)";
  const count = problems.length > 1 ? ` (${problems.length} problems)` : "";
  // The copy of the project has a random name; the report shows where it was, not which one.
  const shown = first.split(os.tmpdir()).join("$TMPDIR");
  return {
    passed: wrong === undefined,
    evidence: [`exit ${outcome.status}, stdout ${outcome.stdout === "" ? "empty" : "NOT empty"}: ${shown}${count}${wrong ? `; WRONG: ${wrong.split("\n")[0]}` : ""}`],
  };
}

/** Runs the catalogue CONCURRENCY at a time, reporting in catalogue order. */
async function badConfigs(section: Section): Promise<void> {
  let active = 0;
  const waiting: (() => void)[] = [];
  const slot = () =>
    new Promise<void>((resolve) => {
      const take = () => {
        active++;
        resolve();
      };
      if (active < CONCURRENCY) take();
      else waiting.push(take);
    });
  const outcomes = BAD_CONFIGS.map(async (bad) => {
    await slot();
    try {
      return await checkBadConfig(bad);
    } finally {
      active--;
      waiting.shift()?.();
    }
  });
  for (const [i, bad] of BAD_CONFIGS.entries()) {
    await section.run(bad.title, () => outcomes[i]);
  }
}

/**
 * A haproxy.cfg comment full of shell syntax is legal (HAProxy ignores it). It must reach the
 * script as one single-quoted assignment, and bash, reading the rendered script, must get the
 * text back byte for byte without running any of it.
 */
async function hostileFileContent(): Promise<{ passed: boolean; evidence: string[] }> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-hostile-"));
  try {
    const marker = path.join(scratch, "executed");
    let content = "";
    const rendered = await withEditedProject(
      "haproxy.cfg",
      (committed) => (content = `${committed}# it's "quoted", $(touch ${marker}), \`touch ${marker}\`, \${HOME} and a backslash \\n\n`),
      (projectDir) => runRenderAsync({ ...validRequest(), projectDir }),
    );
    if (rendered.status !== 0) {
      return { passed: false, evidence: [`the program refused legal content: ${rendered.stderr.split("\n")[0]}`] };
    }
    const extension = (JSON.parse(rendered.stdout) as RenderResult).extensions.find((e) => e.vmName === "vm-eastus");
    const script = decodeScript(extension?.script ?? "").toString("utf8");
    const quoted = script.includes(`\nreadonly HAPROXY_CFG=${shellQuote(content)}\n`);
    // Everything but the last line (`main "$@"`) only assigns variables and defines functions.
    const definitions = script.replace(/\nmain "\$@"\n$/, "\n");
    const scriptFile = path.join(scratch, "definitions.sh");
    fs.writeFileSync(scriptFile, definitions, { mode: 0o600 });
    const bash = spawnSync("bash", ["-c", 'source "$1" && printf %s "$HAPROXY_CFG"', "bash", scriptFile], { cwd: scratch, encoding: "utf8" });
    const literal = bash.status === 0 && bash.stdout === content;
    const ran = fs.existsSync(marker);
    const passed = quoted && definitions !== script && literal && !ran;
    return {
      passed,
      evidence: [
        `HAPROXY_CFG is ${quoted ? "one single-quoted word" : "NOT single-quoted"}; bash read it back ${literal ? "byte for byte" : "CHANGED"}; ` +
          `$(…) and backticks ${ran ? "RAN" : "did not run"}`,
      ],
    };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

export async function configSection(): Promise<Section> {
  const section = new Section(
    "1. Bad configuration",
    `Each input of the shared catalogue \`test/support/bad-configs.ts\` (${BAD_CONFIGS.length} inputs: missing keys, ` +
      "malformed and wrong-type values, secrets in plain text, overlapping CIDRs, hostile strings with quotes, `$(…)`, " +
      "backticks and newlines, broken local files) is given to the program under Pulumi's mocks. A pass means exit " +
      "status 1, nothing on stdout (no resource and no script was rendered), no stack trace, and the message the " +
      "catalogue expects; the evidence is the message's first problem line.",
    ["evidence"],
  );
  await badConfigs(section);
  await section.run("hostile but legal haproxy.cfg content (quotes, $(…), backticks)", hostileFileContent);
  section.finish();
  return section;
}
