// The keys the program reads: a key of its namespace it does not know is refused (a typo would
// otherwise be ignored in silence), naming the key meant; other namespaces belong to providers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, loadSettings } from "../../../lib/config";
import { PROJECT } from "../../../lib/contract";
import { PROJECT_DIR } from "../../../plan/evaluation";
import { configSource, validRequest } from "../../support/program";

/** The problems loadSettings finds in the valid configuration with `otherKeys` (whole keys) set beside it. */
function problemsWith(otherKeys: Record<string, string>): string[] {
  try {
    loadSettings(configSource(validRequest().config, otherKeys), PROJECT_DIR);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

test("keys of other namespaces are left to their providers", () => {
  assert.deepEqual(
    problemsWith({ "azure-native:location": "eastus", "azure-native:subscriptionId": "x", "random:seed": "1" }),
    [],
  );
});

test("an unknown key of the program's namespace is refused with the known key it nearly is, whatever its case", () => {
  assert.deepEqual(problemsWith({ [`${PROJECT}:VMSIZE`]: "Standard_B2s", [`${PROJECT}:githubTokn`]: "ghp_x" }), [
    `${PROJECT}:VMSIZE is not a key of this program; did you mean vmSize? Move its value there: pulumi config rm ${PROJECT}:VMSIZE, then pulumi config set ${PROJECT}:vmSize '<value>'`,
    `${PROJECT}:githubTokn is not a key of this program; did you mean githubToken? Move its value there: pulumi config rm ${PROJECT}:githubTokn, then pulumi config set --secret ${PROJECT}:githubToken '<value>'`,
  ]);
});

test("an unknown key close to no known key is refused with the program's keys listed", () => {
  const [problem, ...rest] = problemsWith({ [`${PROJECT}:foo`]: "1" });
  assert.deepEqual(rest, []);
  assert.match(
    problem,
    new RegExp(
      `^${PROJECT}:foo is not a key of this program \\(its keys: adminUsername, sshPublicKey, .*, provisioningRun\\); remove it: pulumi config rm ${PROJECT}:foo$`,
    ),
  );
});
