// The sandbox's Docker Hub (sandbox/internet/docker-hub.ts, sandbox/internet/docker-hub-images.ts), the parts that need neither
// root, network nor a registry: tags from Debian versions, reading apt-cache, layers, configs and
// manifests, the registry's configuration, and the haproxy images' entrypoint.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { registryConfig } from "../../../../sandbox/internet/docker-hub";
import {
  debFileName,
  dependencyClosure,
  dockerHubImageRecipes,
  imageConfig,
  imageManifest,
  MEDIA_TYPES,
  parseAptCacheDepends,
  parseStanzas,
  tarLayer,
  upstreamTag,
} from "../../../../sandbox/internet/docker-hub-images";
import { SandboxError } from "../../../../sandbox/base/proc";
import { execFileAsync, shellcheck } from "../../../support/processes";

const ENTRYPOINT = path.join(
  __dirname,
  "..",
  "..",
  "..",
  "..",
  "sandbox",
  "internet",
  "docker-hub",
  "haproxy-entrypoint.sh",
);
const sha256 = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

test("an image's tag is the upstream version of its Debian package", () => {
  assert.equal(upstreamTag("3.0.11-1+deb13u4"), "3.0.11");
  assert.equal(upstreamTag("2.6.12-1+deb12u3"), "2.6.12");
  assert.equal(upstreamTag("20.19.2+dfsg-1+deb13u3"), "20.19.2");
  assert.equal(upstreamTag("1:4.4.38-1"), "4.4.38");
  assert.equal(upstreamTag("3.152"), "3.152");
  assert.throws(() => upstreamTag("-1"), SandboxError);
});

test("apt-get download names a package's file with the epoch's colon quoted", () => {
  assert.equal(
    debFileName("zlib1g", "1:1.3.dfsg+really1.3.1-1+deb13u1", "amd64"),
    "zlib1g_1%3a1.3.dfsg+really1.3.1-1+deb13u1_amd64.deb",
  );
  assert.equal(debFileName("dash", "0.5.12-12", "amd64"), "dash_0.5.12-12_amd64.deb");
});

// Trimmed from `apt-cache depends --recurse --important haproxy dash` on bookworm.
const BOOKWORM_DEPENDS = `haproxy
  PreDepends: init-system-helpers
  Depends: libc6
  Depends: libsystemd0
    libelogind0
  Depends: adduser
dash
  PreDepends: libc6
init-system-helpers
 |Depends: usrmerge
  Depends: usr-is-merged
    usrmerge
libc6
libsystemd0
  Depends: libc6
libelogind0
  Depends: libc6
adduser
  Depends: passwd
 |Depends: debconf
  Depends: <debconf-2.0>
    cdebconf
    debconf
usrmerge
  Depends: <perl:any>
    perl
usr-is-merged
passwd
  Depends: libc6
debconf
cdebconf
  Depends: libc6
perl
  Depends: libc6
<debconf-2.0>
<perl:any>
`;

test("the closure takes, per dependency, the first package apt-cache lists, and a virtual one's first provider", () => {
  const graph = parseAptCacheDepends(BOOKWORM_DEPENDS);
  assert.deepEqual(dependencyClosure(graph, ["haproxy", "dash"]), [
    "adduser",
    "dash",
    "debconf",
    "haproxy",
    "init-system-helpers",
    "libc6",
    "libsystemd0",
    "passwd",
    "perl",
    "usrmerge",
  ]);
});

test("the closure prefers an alternative already asked for, and never a provider that replaces a real package", () => {
  const closure = dependencyClosure(parseAptCacheDepends(BOOKWORM_DEPENDS), ["haproxy", "dash", "usr-is-merged"]);
  assert.ok(closure.includes("usr-is-merged"));
  assert.ok(!closure.includes("usrmerge"));
  assert.ok(!closure.includes("perl"));
  assert.ok(!closure.includes("libelogind0"), "libelogind0 would overwrite libsystemd0's library");
  assert.ok(!closure.includes("cdebconf"));
});

test("a dependency nothing provides fails, naming it and who needs it", () => {
  const graph = parseAptCacheDepends("foo\n  Depends: <bar>\n<bar>\n");
  assert.throws(() => dependencyClosure(graph, ["foo"]), {
    name: "SandboxError",
    message: /no package provides bar, which foo depends on/,
  });
  assert.throws(() => dependencyClosure(graph, ["baz"]), { name: "SandboxError", message: /did not list baz/ });
});

test("apt-cache depends output it cannot read is an error, not a silently smaller closure", () => {
  assert.throws(() => parseAptCacheDepends("foo\n  Recommends: bar\n"), {
    name: "SandboxError",
    message: /Recommends: bar/,
  });
});

test("apt-cache show stanzas are read field by field, continuation lines left out", () => {
  const text =
    "Package: dash\nVersion: 0.5.12-12\nArchitecture: amd64\nDescription: POSIX shell\n a continuation: line\n\nPackage: libc6\nVersion: 2.41-12\nArchitecture: amd64\n";
  assert.deepEqual(
    parseStanzas(text).map((s) => [s.Package, s.Version, s.Architecture, s.a]),
    [
      ["dash", "0.5.12-12", "amd64", undefined],
      ["libc6", "2.41-12", "amd64", undefined],
    ],
  );
});

test("a layer is a reproducible gzip tar: digest of the blob, diff_id of the tar, time stamps 0", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hub-layer-"));
  const root = path.join(dir, "root");
  fs.mkdirSync(path.join(root, "etc"), { recursive: true });
  fs.writeFileSync(path.join(root, "etc", "hello"), "hello\n");
  const layer = await tarLayer(root, path.join(dir, "layer.tar.gz"));
  const blob = fs.readFileSync(layer.file);
  assert.equal(layer.digest, sha256(blob));
  assert.equal(layer.size, blob.length);
  assert.equal(layer.diffId, sha256(gunzipSync(blob)));
  const listing = await execFileAsync("tar", ["--list", "--verbose", "--numeric-owner", "--utc", "--file", layer.file]);
  assert.match(listing, /1970-01-01 00:00 etc\/hello$/m);
  assert.deepEqual(
    listing
      .trim()
      .split("\n")
      .map((line) => line.split(/\s+/).pop()),
    ["etc/", "etc/hello"],
  );
  const again = await tarLayer(root, path.join(dir, "again.tar.gz"));
  assert.equal(again.digest, layer.digest);
  fs.rmSync(dir, { recursive: true, force: true });
});

const LAYERS = [
  { digest: "sha256:aa", diffId: "sha256:11", size: 10 },
  { digest: "sha256:bb", diffId: "sha256:22", size: 20 },
];

test("the image config is Docker's, for linux/amd64, with the layers' diff_ids in order and the source label", () => {
  const container = {
    Env: ["PATH=/usr/bin"],
    Entrypoint: ["/e"],
    Cmd: ["c"],
    User: "u",
    WorkingDir: "/w",
    StopSignal: "SIGUSR1",
  };
  const config = JSON.parse(
    imageConfig(container, { "org.opencontainers.image.source": "Debian trixie x 1-1" }, LAYERS).toString(),
  ) as Record<string, unknown>;
  assert.equal(config.architecture, "amd64");
  assert.equal(config.os, "linux");
  assert.deepEqual(config.rootfs, { type: "layers", diff_ids: ["sha256:11", "sha256:22"] });
  assert.deepEqual(config.config, {
    ...container,
    Labels: { "org.opencontainers.image.source": "Debian trixie x 1-1" },
  });
});

test("the manifest is schema 2, naming the config and the gzip layers by digest and size", () => {
  const config = Buffer.from('{"x":1}');
  const manifest = JSON.parse(imageManifest(config, LAYERS).toString()) as unknown;
  assert.deepEqual(manifest, {
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: {
      mediaType: "application/vnd.docker.container.image.v1+json",
      size: config.length,
      digest: sha256(config),
    },
    layers: LAYERS.map((l) => ({ mediaType: MEDIA_TYPES.layer, size: l.size, digest: l.digest })),
  });
  assert.equal(MEDIA_TYPES.layer, "application/vnd.docker.image.rootfs.diff.tar.gzip");
});

test("the hub serves read-only, never purges, and speaks TLS with the given certificate", () => {
  const text = registryConfig({
    storage: "/cache/hub-1",
    address: { host: "198.18.0.3", port: 443 },
    readOnly: true,
    tls: { certificate: "/state/tls.crt", key: "/state/tls.key" },
  });
  // The fields of distribution's configuration this test reads.
  const config = JSON.parse(text) as {
    version: string;
    storage: { filesystem: { rootdirectory: string }; maintenance: unknown };
    http: { addr: string; tls: unknown };
    auth?: unknown;
  };
  assert.equal(config.version, "0.1");
  assert.equal(config.storage.filesystem.rootdirectory, "/cache/hub-1");
  assert.deepEqual(config.storage.maintenance, { uploadpurging: { enabled: false }, readonly: { enabled: true } });
  assert.equal(config.http.addr, "198.18.0.3:443");
  assert.deepEqual(config.http.tls, { certificate: "/state/tls.crt", key: "/state/tls.key" });
  assert.equal(config.auth, undefined, "Docker pulls from it anonymously");
});

/** Commands that print how they were called, standing in for HAProxy and any other program. */
const fakeBin = fs.mkdtempSync(path.join(os.tmpdir(), "hub-entrypoint-"));
for (const name of ["haproxy", "other"]) {
  fs.writeFileSync(path.join(fakeBin, name), `#!/bin/sh\necho "${name} $*"\n`, { mode: 0o755 });
}
after(() => fs.rmSync(fakeBin, { recursive: true, force: true }));

function entrypoint(...args: string[]): Promise<string> {
  return execFileAsync("/bin/sh", [ENTRYPOINT, ...args], { env: { PATH: `${fakeBin}:/usr/bin:/bin` } });
}

test("the haproxy entrypoint runs haproxy in master-worker mode in the foreground, as the official one does", async () => {
  assert.equal(
    await entrypoint("haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"),
    "haproxy -W -db -f /usr/local/etc/haproxy/haproxy.cfg\n",
  );
  assert.equal(await entrypoint("haproxy", "-c", "-f", "x.cfg"), "haproxy -W -db -c -f x.cfg\n");
});

test("the haproxy entrypoint takes options alone as haproxy's, and runs any other command as given", async () => {
  assert.equal(await entrypoint("-f", "x.cfg"), "haproxy -W -db -f x.cfg\n");
  assert.equal(await entrypoint("--", "x"), "haproxy -W -db -- x\n");
  assert.equal(await entrypoint("other", "-f", "x"), "other -f x\n");
});

test("the haproxy entrypoint is POSIX sh and shellcheck-clean", async () => {
  const result = await shellcheck("sh", fs.readFileSync(ENTRYPOINT, "utf8"));
  assert.equal(result.status, 0, result.stdout + result.stderr);
});

test("the haproxy images behave like the official image: user haproxy 99:99 in /var/lib/haproxy, stopped by SIGUSR1", () => {
  const recipes = dockerHubImageRecipes();
  const haproxy = recipes.filter((r) => r.repository === "library/haproxy");
  assert.deepEqual(
    haproxy.map((r) => r.suite),
    ["trixie", "bookworm"],
  );
  for (const recipe of haproxy) {
    assert.equal(recipe.tag, undefined, "tagged with the upstream version of the suite's haproxy");
    assert.deepEqual(recipe.config.Cmd, ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]);
    assert.equal(recipe.config.User, "haproxy");
    assert.equal(recipe.config.WorkingDir, "/var/lib/haproxy");
    assert.equal(recipe.config.StopSignal, "SIGUSR1");
    const files = new Map(recipe.layers.flatMap((l) => l.files).map((f) => [f.path, f]));
    assert.match(files.get("/etc/passwd")?.content ?? "", /^haproxy:x:99:99:/m);
    assert.match(files.get("/etc/group")?.content ?? "", /^haproxy:x:99:$/m);
    assert.deepEqual(files.get("/var/lib/haproxy"), { path: "/var/lib/haproxy", mode: 0o755, uid: 99, gid: 99 });
    assert.equal(files.get("/tmp")?.mode, 0o1777);
    assert.equal(files.get(recipe.config.Entrypoint[0])?.content, fs.readFileSync(ENTRYPOINT, "utf8"));
  }
});

test("the mockhub image runs the bundled BuilderHub double with Debian's node on port 3000", () => {
  const mockhub = dockerHubImageRecipes().find((r) => r.repository === "mempirate/mockhub");
  assert.equal(mockhub?.tag, "v0.0.6");
  assert.deepEqual(mockhub?.config.ExposedPorts, { "3000/tcp": {} });
  // Upstream: simulation/mockhub/Dockerfile@b56e719, `ENV SYSTEM_PORT=5544`.
  assert.ok(mockhub?.config.Env.includes("SYSTEM_PORT=5544"));
  const [node, script] = mockhub?.config.Entrypoint ?? [];
  assert.equal(node, "/usr/bin/node");
  const file = mockhub?.layers.flatMap((l) => l.files).find((f) => f.path === script);
  assert.match(file?.content ?? "", /Bundled from mockhub\.ts/);
});
