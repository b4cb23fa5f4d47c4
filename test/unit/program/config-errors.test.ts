// Each bad configuration stops the program before any resource exists, with one clear message that
// names the key, says what is wrong and shows a good value; never a stack trace. The catalogue is
// in test/support/bad-configs.ts; the reliability report shows these checks as its first section.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { shellQuote } from "../../../lib/provision";
import { decodeScript, withEditedProject } from "../../../plan/evaluation";
import { BAD_CONFIGS, judgeRefusal, tryBadConfig } from "../../support/bad-configs";
import { reportSection } from "../../support/evidence";
import { spawnAsync } from "../../support/processes";
import { evaluated, validRequest } from "../../support/program";
import { BAD_CONFIGURATION, BAD_CONFIGURATION_CHECKS } from "../../support/report-sections";

/** The message's problem lines ("  - key ..."); the line above them only says how many there are. */
function problemLines(message: string): string[] {
  return message
    .split("\n")
    .filter((line) => line.startsWith("  - "))
    .map((line) => line.slice(4));
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
      return [`refused before any resource was declared: ${first}${problems.length > 1 ? ` (${problems.length} problems)` : ""}`];
    });
  }

  // A haproxy.cfg comment full of shell syntax is legal (HAProxy ignores it). It must reach the
  // script as one single-quoted assignment, and bash, reading the rendered script, must get the
  // text back byte for byte without running any of it.
  check(BAD_CONFIGURATION_CHECKS.hostileFileContent, async () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-hostile-"));
    try {
      const marker = path.join(scratch, "executed");
      let content = "";
      const result = await withEditedProject(
        "haproxy.cfg",
        (committed) => (content = `${committed}# it's "quoted", $(touch ${marker}), \`touch ${marker}\`, \${HOME}, '\\'' and a backslash \\n\n`),
        (projectDir) => evaluated({ ...validRequest(), projectDir }),
      );
      const script = decodeScript(result.extensions.find((e) => e.vmName === "vm-eastus")!.script);
      assert.ok(script.includes(`\nreadonly HAPROXY_CFG=${shellQuote(content)}\n`), "HAPROXY_CFG is one single-quoted word");
      // Everything but the last line (`main "$@"`) only assigns variables and defines functions.
      const definitions = script.replace(/\nmain "\$@"\n$/, "\n");
      assert.notEqual(definitions, script, "the script ends by calling main");
      const scriptFile = path.join(scratch, "definitions.sh");
      fs.writeFileSync(scriptFile, definitions, { mode: 0o600 });
      const bash = await spawnAsync("bash", ["-c", 'source "$1" && printf %s "$HAPROXY_CFG"', "bash", scriptFile], { cwd: scratch });
      assert.equal(bash.status, 0, bash.stderr);
      assert.equal(bash.stdout, content, "bash reads the file back byte for byte");
      assert.ok(!fs.existsSync(marker), "$(…) and backticks did not run");
      const substitutions = (content.match(/\$\(/g) ?? []).length + (content.match(/`/g) ?? []).length / 2;
      return [
        `HAPROXY_CFG is one single-quoted word; bash read back ${Buffer.byteLength(bash.stdout)} of ` +
          `${Buffer.byteLength(content)} bytes unchanged; none of its ${substitutions} command substitutions ran (no marker file)`,
      ];
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });
});
