// Each bad configuration stops the program before any resource exists, with one clear message that
// names the key, says what is wrong and shows a good value; never a stack trace. The catalogue is
// in test/support/bad-configs.ts; the reliability report shows these checks as its first section.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { shellQuote } from "../../../lib/provision";
import { decodeScript, PROJECT_DIR, withEditedProject } from "../../../plan/evaluation";
import {
  BAD_CONFIGS,
  judgeRefusal,
  problemLines,
  tryBadConfig,
  withoutExpectedProblems,
} from "../../support/bad-configs";
import { counterparts } from "../../support/counterparts";
import { reportSection } from "../../support/evidence";
import { spawnAsync } from "../../support/processes";
import { evaluated, outcomeOf, validRequest } from "../../support/program";
import { BAD_CONFIGURATION, BAD_CONFIGURATION_CHECKS } from "../../support/report-sections";

/** A haproxy.cfg comment that HAProxy ignores and that runs commands creating `marker` if bash evaluates it. */
const hostileComment = (marker: string) =>
  `# it's "quoted", $(touch ${marker}), \`touch ${marker}\`, \${HOME}, '\\'' and a backslash \\n\n`;

async function inScratch<T>(use: (scratch: string) => Promise<T>): Promise<T> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-hostile-"));
  try {
    return await use(scratch);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * What is wrong with how `script` carries haproxy.cfg's `content`: HAPROXY_CFG must be one
 * single-quoted word, and bash, sourcing the script's definitions, must read `content` back byte
 * for byte without running any of it (no `marker` file).
 */
async function readHostileContent(
  script: string,
  content: string,
  marker: string,
  scratch: string,
): Promise<{ problems: string[]; readBack: string }> {
  const problems: string[] = [];
  if (!script.includes(`\nreadonly HAPROXY_CFG=${shellQuote(content)}\n`))
    problems.push("HAPROXY_CFG is not one single-quoted word");
  // Everything but the last line (`main "$@"`) only assigns variables and defines functions.
  const definitions = script.replace(/\nmain "\$@"\n$/, "\n");
  if (definitions === script) problems.push("the script does not end by calling main");
  const scriptFile = path.join(scratch, "definitions.sh");
  fs.writeFileSync(scriptFile, definitions, { mode: 0o600 });
  const bash = await spawnAsync("bash", ["-c", 'source "$1" && printf %s "$HAPROXY_CFG"', "bash", scriptFile], {
    cwd: scratch,
  });
  if (bash.status !== 0) problems.push(`bash could not read the script (exit ${bash.status}): ${bash.stderr}`);
  else if (bash.stdout !== content) {
    problems.push(
      `bash read HAPROXY_CFG back changed: ${Buffer.byteLength(bash.stdout)} bytes for ${Buffer.byteLength(content)}, ending ${JSON.stringify(bash.stdout.slice(-80))}`,
    );
  }
  if (fs.existsSync(marker)) problems.push(`a command substitution in haproxy.cfg ran (it created ${marker})`);
  return { problems, readBack: bash.stdout };
}

reportSection(BAD_CONFIGURATION, (check) => {
  for (const bad of BAD_CONFIGS) {
    check(BAD_CONFIGURATION_CHECKS.refused(bad), async () => {
      const outcome = await tryBadConfig(bad);
      const verdict = judgeRefusal(bad, outcome);
      assert.equal(verdict, undefined, verdict);
      const message = outcome.kind === "refused" ? outcome.refusal.message : "";
      const problems = problemLines(message);
      // A copy of the project has a random name; the report shows where it was, not which one.
      const first = (problems[0] ?? message.split("\n")[0]).split(os.tmpdir()).join("$TMPDIR");
      return [
        `refused before any resource was declared: ${first}${problems.length > 1 ? ` (${problems.length} problems)` : ""}`,
      ];
    });
  }

  // A haproxy.cfg comment full of shell syntax is legal (HAProxy ignores it). It must reach the
  // script as one single-quoted assignment, and bash, reading the rendered script, must get the
  // text back byte for byte without running any of it.
  check(BAD_CONFIGURATION_CHECKS.hostileFileContent, () =>
    inScratch(async (scratch) => {
      const marker = path.join(scratch, "executed");
      let content = "";
      const result = await withEditedProject(
        "haproxy.cfg",
        (committed) => (content = `${committed}${hostileComment(marker)}`),
        (projectDir) => evaluated({ ...validRequest(), projectDir }),
      );
      const script = decodeScript(result.extensions.find((e) => e.vmName === "vm-eastus")!.script);
      const reading = await readHostileContent(script, content, marker, scratch);
      assert.deepEqual(reading.problems, []);
      const substitutions = (content.match(/\$\(/g) ?? []).length + (content.match(/`/g) ?? []).length / 2;
      return [
        `HAPROXY_CFG is one single-quoted word; bash read back ${Buffer.byteLength(reading.readBack)} of ` +
          `${Buffer.byteLength(content)} bytes unchanged; none of its ${substitutions} command substitutions ran (no marker file)`,
      ];
    }),
  );
});

counterparts(BAD_CONFIGURATION, (counterpart) => {
  for (const bad of BAD_CONFIGS) {
    counterpart(BAD_CONFIGURATION_CHECKS.refused(bad), async () => {
      // The good default configuration is the input with every key corrected: the program declares.
      const accepted = await outcomeOf(validRequest());
      const naming = bad.expected.map(String);
      const verdicts = [
        { broke: "the input corrected", outcome: accepted },
        {
          broke: "the problem it expects left out of the program's refusal",
          outcome: withoutExpectedProblems(bad, await tryBadConfig(bad), accepted),
        },
      ];
      return verdicts.map(({ broke, outcome }) => ({
        broke,
        failure: [judgeRefusal(bad, outcome) ?? []].flat(),
        naming,
      }));
    });
  }

  // The rendered script with haproxy.cfg double-quoted instead, as a naive template would, so bash
  // expands $(…), backticks and ${HOME} in it. No new evaluation: the default script's HAPROXY_CFG
  // line is swapped for the broken one, holding only the hostile comment (the committed file's
  // ${…} references would stop bash under set -u before the comment is reached).
  counterpart(BAD_CONFIGURATION_CHECKS.hostileFileContent, () =>
    inScratch(async (scratch) => {
      const marker = path.join(scratch, "executed");
      const content = hostileComment(marker);
      const committed = fs.readFileSync(path.join(PROJECT_DIR, "haproxy.cfg"), "utf8");
      const script = decodeScript(
        (await evaluated(validRequest())).extensions.find((e) => e.vmName === "vm-eastus")!.script,
      );
      const quoted = `\nreadonly HAPROXY_CFG=${shellQuote(committed)}\n`;
      assert.ok(script.includes(quoted), "the default script carries the committed haproxy.cfg single-quoted");
      const broken = script.replace(quoted, () => `\nreadonly HAPROXY_CFG="${content.replace(/["\\]/g, "\\$&")}"\n`);
      const { problems } = await readHostileContent(broken, content, marker, scratch);
      return [
        {
          broke: "haproxy.cfg double-quoted into the script",
          failure: problems,
          naming: [
            "HAPROXY_CFG is not one single-quoted word",
            "bash read HAPROXY_CFG back changed",
            `it created ${marker}`,
          ],
        },
      ];
    }),
  );
});
