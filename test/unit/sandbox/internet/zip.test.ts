import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { test } from "node:test";
import { corruptZip, faultyArtifact } from "../../../doubles/github";
import { createZip } from "../../../../sandbox/internet/zip";
import { execFileAsync } from "../../../support/processes";
import { scratchDir } from "../../../support/scratch";

const entries = [
  { name: "flowproxy", data: Buffer.from("#!/bin/sh\necho hi\n".repeat(100)), mode: 0o755 },
  { name: "README.txt", data: Buffer.from("hello\n"), mode: 0o644 },
];

test("each entry carries the standard CRC-32 of its data, as unzip lists it", async () => {
  const dir = scratchDir("zip-double-");
  const file = path.join(dir, "artifact.zip");
  fs.writeFileSync(file, createZip(entries));
  const listing = await execFileAsync("unzip", ["-v", file]);
  for (const entry of entries) {
    const crc = zlib.crc32(entry.data).toString(16).padStart(8, "0");
    assert.match(listing, new RegExp(`${crc}\\s+${entry.name}$`, "m"), `${entry.name}'s CRC`);
  }
});

test("Debian's unzip reads the zips, keeping the executable bit", async () => {
  const dir = scratchDir("zip-double-");
  const file = path.join(dir, "artifact.zip");
  fs.writeFileSync(file, createZip(entries));
  assert.match(await execFileAsync("unzip", ["-t", file]), /No errors detected/);
  await execFileAsync("unzip", ["-q", file, "-d", path.join(dir, "out")]);
  const binary = path.join(dir, "out", "flowproxy");
  assert.equal(fs.statSync(binary).mode & 0o777, 0o755);
  assert.deepEqual(fs.readFileSync(binary), entries[0].data);
  assert.deepEqual(createZip(entries), createZip(entries), "the same inputs give the same bytes");
});

test("damaged artifacts are damaged the way each fault promises", () => {
  const zip = createZip(entries);
  assert.equal(faultyArtifact(zip, "truncated").length, Math.floor(zip.length / 2));
  const corrupt = corruptZip(zip);
  assert.equal(corrupt.length, zip.length);
  assert.notDeepEqual(corrupt, zip);
  assert.deepEqual(corrupt.subarray(0, 30), zip.subarray(0, 30), "the headers stay intact");
  assert.ok(!faultyArtifact(zip, "no-binary").includes(Buffer.from("flowproxy")));
  assert.equal(faultyArtifact(zip, ""), zip);
});
