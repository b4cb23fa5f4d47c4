// Each bad configuration stops the program before any resource exists, with one clear message that
// names the key, says what is wrong and shows a good value; never a stack trace. The catalogue is
// in test/support/bad-configs.ts, shared with the reliability report.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BAD_CONFIGS, judgeRefusal, tryBadConfig } from "../support/bad-configs";

describe("configuration errors", { concurrency: 2 }, () => {
  for (const bad of BAD_CONFIGS) {
    test(bad.title, async () => {
      const verdict = judgeRefusal(bad, await tryBadConfig(bad));
      assert.equal(verdict, undefined, verdict);
    });
  }
});
