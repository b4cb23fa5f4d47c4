// The sandbox's Docker Hub (sandbox/internet/docker-hub.ts, sandbox/internet/docker-hub-images.ts), the parts that need
// no network nor a registry: tags from Debian versions, an image built by mmdebstrap, umoci and
// skopeo from a Debian archive of our own (root and those tools), the registry's configuration, the
// haproxy images' entrypoint and the recipes.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { registryConfig } from "../../../../sandbox/internet/docker-hub";
import {
  buildImages,
  copyImage,
  dockerHubImageRecipes,
  ImageRecipe,
  upstreamTag,
} from "../../../../sandbox/internet/docker-hub-images";
import { findOnPath, SandboxError } from "../../../../sandbox/base/proc";
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

/** A Debian package of our own: its control fields and its files (path: content). */
interface FakePackage {
  name: string;
  version: string;
  depends?: string;
  files: Record<string, string>;
}

/**
 * A flat Debian archive of a few packages of our own, as apt reads one: the packages, their index,
 * and a Release naming the index's hash. No network, and packages small enough to build in a second.
 */
async function fakeArchive(dir: string, packages: readonly FakePackage[]): Promise<string> {
  const stanzas: string[] = [];
  for (const pkg of packages) {
    const root = path.join(dir, "src", pkg.name);
    fs.mkdirSync(path.join(root, "DEBIAN"), { recursive: true });
    const control = [
      `Package: ${pkg.name}`,
      `Version: ${pkg.version}`,
      "Architecture: amd64",
      "Maintainer: flowproxy-staging tests <tests@invalid>",
      ...(pkg.depends ? [`Depends: ${pkg.depends}`] : []),
      `Description: ${pkg.name} for the image build's tests`,
    ];
    fs.writeFileSync(path.join(root, "DEBIAN", "control"), `${control.join("\n")}\n`);
    for (const [file, content] of Object.entries(pkg.files)) {
      fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      fs.writeFileSync(path.join(root, file), content, { mode: 0o755 });
    }
    const deb = `${pkg.name}_amd64.deb`;
    await execFileAsync("dpkg-deb", ["--build", "--root-owner-group", root, path.join(dir, deb)]);
    const bytes = fs.readFileSync(path.join(dir, deb));
    stanzas.push(
      [...control, `Filename: ./${deb}`, `Size: ${bytes.length}`, `SHA256: ${sha256(bytes).slice(7)}`].join("\n"),
    );
  }
  const index = Buffer.from(`${stanzas.join("\n\n")}\n`);
  fs.writeFileSync(path.join(dir, "Packages"), index);
  fs.writeFileSync(
    path.join(dir, "Release"),
    `Architectures: amd64\nSHA256:\n ${sha256(index).slice(7)} ${index.length} Packages\n`,
  );
  // copy: rather than file:, which mmdebstrap would have to reach from inside the new root.
  return `deb [trusted=yes] copy://${dir} ./`;
}

const FAKE_PACKAGES: FakePackage[] = [
  {
    name: "fake-server",
    version: "1:2.4.1-3",
    depends: "fake-lib",
    files: { "usr/sbin/fake-server": "#!/bin/sh\n", "usr/share/doc/fake-server/README": "docs\n" },
  },
  // Into /lib, as bookworm's packages still ship: it must land in /usr/lib through the merged /usr.
  { name: "fake-lib", version: "1.0-1", files: { "./lib/x86_64-linux-gnu/libfake.so.1": "lib\n" } },
  { name: "usr-is-merged", version: "39", files: {} },
];

const FAKE_RECIPE: ImageRecipe = {
  repository: "example/fake-server",
  tagPrefix: "v",
  suite: "trixie",
  namedAfter: "fake-server",
  layers: [
    {
      packages: ["fake-server"],
      files: [
        {
          path: "/etc/passwd",
          mode: 0o644,
          content: "root:x:0:0:root:/root:/bin/sh\nfake:x:99:99:fake:/var/lib/fake:/usr/sbin/nologin\n",
        },
        { path: "/var/lib/fake", mode: 0o755, uid: 99, gid: 99 },
        { path: "/tmp", mode: 0o1777 },
      ],
    },
    { packages: [], files: [{ path: "/usr/local/lib/fake/app.js", mode: 0o644, content: "app\n" }] },
  ],
  config: {
    Env: ["PATH=/usr/bin", "PORT=1"],
    Entrypoint: ["/usr/sbin/fake-server", "--serve"],
    Cmd: ["-f", "/etc/fake.cfg"],
    User: "fake",
    WorkingDir: "/var/lib/fake",
    StopSignal: "SIGUSR1",
    ExposedPorts: { "9090/tcp": {} },
  },
};

const buildMissing =
  process.getuid?.() !== 0
    ? "needs root (mmdebstrap's root mode, files owned by other users)"
    : ["mmdebstrap", "umoci", "skopeo", "dpkg-deb"]
        .find((tool) => findOnPath(tool) === undefined)
        ?.replace(/^/, "needs ")
        .concat(" (bash bootstrap/bootstrap.sh)");

/** The image as a registry would hold it: skopeo's copy into a directory, the manifest and blobs by digest. */
interface CopiedImage {
  digest: string;
  manifest: Buffer;
  blob: (digest: string) => Buffer;
}

async function buildAndCopy(dir: string, source: string): Promise<{ tag: string; copied: CopiedImage }> {
  const work = path.join(dir, "work");
  const [image] = await buildImages(
    [FAKE_RECIPE],
    work,
    () => undefined,
    () => source,
  );
  const out = path.join(dir, "copied");
  const digest = await copyImage(image, `dir:${out}`, work);
  return {
    tag: image.tag,
    copied: {
      digest,
      manifest: fs.readFileSync(path.join(out, "manifest.json")),
      blob: (d) => fs.readFileSync(path.join(out, d.replace(/^sha256:/, ""))),
    },
  };
}

/** A layer's entries as `tar --list --verbose` shows them: mode, owner, time and name (a link's target too). */
async function layerListing(tarball: Buffer, dir: string, name: string): Promise<string[]> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, tarball);
  const listing = await execFileAsync("tar", ["--list", "--verbose", "--numeric-owner", "--utc", `--file=${file}`]);
  return listing
    .trim()
    .split("\n")
    .map((line) => line.replace(/\s+/g, " ").replace(/ \d+ (\d{4}-)/, " $1"));
}

test(
  "an image is its recipe's packages with their dependencies, extracted into a merged /usr without docs or apt's state, plus its files, as Docker's schema 2 with a fixed time",
  { skip: buildMissing },
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hub-build-"));
    try {
      const source = await fakeArchive(path.join(dir, "archive"), FAKE_PACKAGES);
      // Two builds side by side: the second only has to give the same image.
      const [{ tag, copied }, again] = await Promise.all(
        ["first", "again"].map((name) => buildAndCopy(path.join(dir, name), source)),
      );
      assert.equal(tag, "v2.4.1", "the tag prefix and the upstream version of namedAfter");
      assert.equal(copied.digest, sha256(copied.manifest));
      const manifest = JSON.parse(copied.manifest.toString()) as {
        mediaType: string;
        config: { mediaType: string; digest: string };
        layers: { mediaType: string; digest: string }[];
      };
      assert.equal(manifest.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
      assert.equal(manifest.config.mediaType, "application/vnd.docker.container.image.v1+json");
      assert.deepEqual(
        manifest.layers.map((layer) => layer.mediaType),
        ["application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip"],
      );
      const config = JSON.parse(copied.blob(manifest.config.digest).toString()) as Record<string, unknown>;
      const layers = manifest.layers.map((layer) => gunzipSync(copied.blob(layer.digest)));
      assert.deepEqual(config, {
        created: "1970-01-01T00:00:00Z",
        architecture: "amd64",
        os: "linux",
        config: {
          ...FAKE_RECIPE.config,
          Labels: { "org.opencontainers.image.source": "Debian trixie fake-server 1:2.4.1-3" },
        },
        rootfs: { type: "layers", diff_ids: layers.map(sha256) },
      });

      const packages = await layerListing(layers[0], dir, "packages.tar");
      const names = packages.map((line) => line.split(" ").slice(4).join(" "));
      for (const expected of [
        "drwxr-xr-x 0/0 1970-01-01 00:00 ./usr/sbin/",
        "-rwxr-xr-x 0/0 1970-01-01 00:00 ./usr/sbin/fake-server",
        "-rwxr-xr-x 0/0 1970-01-01 00:00 ./usr/lib/x86_64-linux-gnu/libfake.so.1",
        "lrwxrwxrwx 0/0 1970-01-01 00:00 ./lib -> usr/lib",
        "lrwxrwxrwx 0/0 1970-01-01 00:00 ./bin -> usr/bin",
        "-rw-r--r-- 0/0 1970-01-01 00:00 ./etc/passwd",
        "drwxr-xr-x 99/99 1970-01-01 00:00 ./var/lib/fake/",
        "drwxrwxrwt 0/0 1970-01-01 00:00 ./tmp/",
      ]) {
        assert.ok(packages.includes(expected), `${expected} in\n${packages.join("\n")}`);
      }
      for (const absent of [
        /^\.\/usr\/share\/doc\/./,
        /^\.\/etc\/apt\/sources\.list$/,
        /^\.\/var\/(lib|cache)\/apt\//,
        /^\.\/var\/lib\/dpkg\/(arch|status)$/,
        /^\.\/dev\//,
        /^\.\/etc\/(hostname|resolv\.conf|fstab)$/,
      ]) {
        assert.deepEqual(
          names.filter((name) => absent.test(name)),
          [],
          `nothing matches ${absent}`,
        );
      }
      assert.deepEqual(await layerListing(layers[1], dir, "files.tar"), [
        "drwxr-xr-x 0/0 1970-01-01 00:00 ./",
        "drwxr-xr-x 0/0 1970-01-01 00:00 ./usr/",
        "drwxr-xr-x 0/0 1970-01-01 00:00 ./usr/local/",
        "drwxr-xr-x 0/0 1970-01-01 00:00 ./usr/local/lib/",
        "drwxr-xr-x 0/0 1970-01-01 00:00 ./usr/local/lib/fake/",
        "-rw-r--r-- 0/0 1970-01-01 00:00 ./usr/local/lib/fake/app.js",
      ]);

      assert.equal(again.copied.digest, copied.digest, "the same packages and files give the same image");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

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
