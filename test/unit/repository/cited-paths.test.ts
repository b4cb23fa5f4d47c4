// Docs and comments cite files of this repository by path; a file that moved leaves the citation
// pointing nowhere. Every path under one of the repository's own folders, and every relative link
// of a Markdown page, must name something that exists. Citations of an upstream repository's files
// name its revision on the same line (`distribution@0d6b721 (docs/...)`, "`src/main.rs` at 029b7c4"),
// and are left to that revision.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { PROJECT_DIR } from "../../../plan/evaluation";

const OWN_FOLDERS = [
  "lib",
  "sandbox",
  "test",
  "verify",
  "plan",
  "policy",
  "provision",
  "report",
  "docs",
  "bootstrap",
  ".ci",
  ".github",
];
const CITED_PATH = new RegExp(
  `(?<![\\w./-])((?:${OWN_FOLDERS.map((f) => f.replace(".", "\\.")).join("|")})/[\\w./*@-]*[\\w*])`,
  "g",
);
const MARKDOWN_LINK = /\]\(([^)\s]+)\)/g;
const UPSTREAM_REVISION = /\w@[0-9a-f]{7,40}\b|\bat [0-9a-f]{7,40}\b/;
// This file's own examples cite missing files on purpose.
const SKIPPED = new Set(["pnpm-lock.yaml", "test/unit/repository/cited-paths.test.ts"]);

const tracked = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
  cwd: PROJECT_DIR,
  encoding: "utf8",
})
  .split("\n")
  .filter((file) => file && !SKIPPED.has(file) && fs.existsSync(path.join(PROJECT_DIR, file)));
const trackedSet = new Set(tracked);
const folders = new Set(
  tracked.flatMap((file) =>
    file
      .split("/")
      .slice(0, -1)
      .map((_, i, parts) => parts.slice(0, i + 1).join("/")),
  ),
);

// Whether `cited` (relative to the repository; a star matches within a name, two stars and a slash any folders) names something here.
function exists(cited: string): boolean {
  const clean = cited.replace(/\/+$/, "");
  if (!clean.includes("*")) return trackedSet.has(clean) || folders.has(clean);
  const within = (part: string) =>
    part
      .split("*")
      .map((piece) => piece.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join("[^/]*");
  const pattern = new RegExp(`^${clean.split("**/").map(within).join("(?:.*/)?")}(/|$)`);
  return tracked.some((file) => pattern.test(file));
}

interface Miss {
  file: string;
  line: number;
  cited: string;
}

/** The paths `file` cites that name nothing in the repository. */
export function missingCitations(file: string, text: string): Miss[] {
  const misses: Miss[] = [];
  text.split("\n").forEach((line, index) => {
    const candidates = [...line.matchAll(CITED_PATH)].map((m) => m[1]);
    if (file.endsWith(".md")) {
      for (const [, target] of line.matchAll(MARKDOWN_LINK)) {
        if (/^[a-z]+:/.test(target) || target.startsWith("#")) continue;
        candidates.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), target.split("#")[0])));
      }
    }
    for (const cited of candidates) {
      if (exists(cited) || UPSTREAM_REVISION.test(line)) continue;
      misses.push({ file, line: index + 1, cited });
    }
  });
  return misses;
}

const TEXT = /\.(ts|md|sh|ya?ml|json|cfg|env|service|timer|txt)$|^\.ci\/run$/;

test("every path the docs and comments cite exists in the repository", () => {
  const misses = tracked
    .filter((file) => TEXT.test(file) || file.endsWith("CLAUDE.md"))
    .flatMap((file) => missingCitations(file, fs.readFileSync(path.join(PROJECT_DIR, file), "utf8")));
  assert.deepEqual(
    misses.map((m) => `${m.file}:${m.line} cites ${m.cited}`),
    [],
    "move the citation with the file it names",
  );
});

test("a citation of a moved file, in text or as a relative link, is found; an upstream file at its revision is not", () => {
  const text = [
    "checked by `test/unit/azure-control-plane.test.ts` (moved)",
    "see [the names](AZURE.md#names) and [gone](GONE.md)",
    "it follows distribution@0d6b721 (docs/content/spec/auth/token.md)",
  ].join("\n");
  assert.deepEqual(
    missingCitations("docs/EXAMPLE.md", text).map((m) => `${m.line} ${m.cited}`),
    ["1 test/unit/azure-control-plane.test.ts", "2 docs/GONE.md"],
  );
});
