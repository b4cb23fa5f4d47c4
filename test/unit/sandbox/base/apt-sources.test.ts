import assert from "node:assert/strict";
import { test } from "node:test";
import { debianArchive, debianMirror } from "../../../../sandbox/base/apt-sources";

const deb822 = (text: string) => ({ path: "/etc/apt/sources.list.d/debian.sources", text });
const oneLine = (text: string) => ({ path: "/etc/apt/sources.list", text });

test("a deb822 file gives the archive of the release, not its security or updates suites", () => {
  const file = deb822(
    [
      "Types: deb",
      "URIs: http://security.mirror.example/debian-security",
      "Suites: bookworm-security",
      "Components: main",
      "",
      "Types: deb deb-src",
      "# a comment inside the stanza",
      "URIs: http://mirror.example/debian/",
      "Suites: bookworm bookworm-updates",
      "Components: main",
    ].join("\n"),
  );
  assert.equal(debianArchive([file], "bookworm"), "http://mirror.example/debian");
});

test("a one-line source with options in brackets gives its URI", () => {
  const file = oneLine(
    "# deb http://old.example/debian bookworm main\ndeb [signed-by=/usr/share/keyrings/k.gpg arch=amd64] http://mirror.example/debian bookworm main\n",
  );
  assert.equal(debianArchive([file], "bookworm"), "http://mirror.example/debian");
});

test("a disabled stanza, a source-only stanza and another release's archive are passed over", () => {
  const file = deb822(
    [
      "Enabled: no",
      "Types: deb",
      "URIs: http://disabled.example/debian",
      "Suites: bookworm",
      "",
      "Types: deb-src",
      "URIs: http://sources.example/debian",
      "Suites: bookworm",
      "",
      "Types: deb",
      "URIs: http://other.example/debian",
      "Suites: trixie",
    ].join("\n"),
  );
  assert.equal(debianArchive([file], "bookworm"), undefined);
});

test("this machine's apt names a Debian archive the sandbox can fetch from", () => {
  const mirror = new URL(debianMirror());
  assert.ok(["http:", "https:"].includes(mirror.protocol), `${mirror.href} is no HTTP archive`);
});
