// The images the sandbox's Docker Hub (sandbox/internet/docker-hub.ts) serves, built from Debian packages: this
// machine reaches a Debian mirror but not Docker Hub, and the VMs' real dockerd must pull images
// whose programs really run. Each image is a Docker image (schema 2) whose layers are GNU tar
// archives of a root filesystem: the dependency closure of a few Debian packages, unpacked, plus
// the files that make it behave like the image it stands for.
//
// apt runs on the host with every state, cache and configuration path pointed at the sandbox's
// cache (cachePaths.apt), so the host's own apt state and configuration play no part.
import { spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Transform } from "stream";
import { pipeline } from "stream/promises";
import { createGzip } from "zlib";
import { BUILDERHUB } from "../../lib/contract";
import { debianMirror } from "../base/apt-sources";
import { bundle } from "./bundle";
import { PROJECT_DIR } from "../../plan/evaluation";
import { cachePaths } from "../base/paths";
import { lastNonEmptyLine, run, SandboxError } from "../base/proc";

export type DebianSuite = "trixie" | "bookworm";

const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
const ARCHITECTURE = "amd64";
const APT_NETWORK_TIMEOUT_MS = 5 * 60 * 1000;

export const MEDIA_TYPES = {
  manifest: "application/vnd.docker.distribution.manifest.v2+json",
  config: "application/vnd.docker.container.image.v1+json",
  layer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

// ---------------------------------------------------------------------------------------------
// Debian packages, apart from the host's apt state

function aptFiles(suite: DebianSuite) {
  const dir = cachePaths.apt(suite);
  return {
    dir,
    config: path.join(dir, "apt.conf"),
    sources: path.join(dir, "sources.list"),
    /** Stands for every *.d directory of the host's /etc/apt. */
    emptyDir: path.join(dir, "empty.d"),
    status: path.join(dir, "status"),
    lists: path.join(dir, "lists"),
    cache: path.join(dir, "cache"),
    archives: path.join(dir, "archives"),
  };
}

/**
 * apt reads APT_CONFIG before /etc/apt/apt.conf.d and apt.conf, and this file points both away,
 * so nothing of the host's configuration (sources, pinning, hooks, extra index targets, foreign
 * architectures) reaches these runs.
 */
function aptConfig(files: ReturnType<typeof aptFiles>): string {
  const settings: [string, string][] = [
    ["Dir::Etc::main", "/dev/null"],
    ["Dir::Etc::parts", files.emptyDir],
    ["Dir::Etc::sourcelist", files.sources],
    ["Dir::Etc::sourceparts", files.emptyDir],
    ["Dir::Etc::preferences", "/dev/null"],
    ["Dir::Etc::preferencesparts", files.emptyDir],
    ["Dir::Etc::netrc", "/dev/null"],
    ["Dir::Etc::netrcparts", files.emptyDir],
    ["Dir::State", files.dir],
    ["Dir::State::lists", files.lists],
    // Empty: nothing counts as installed, so every dependency is resolved and downloaded.
    ["Dir::State::status", files.status],
    ["Dir::Cache", files.cache],
    ["Dir::Cache::archives", files.archives],
    // A second copy of the package cache, only for rebuilding it when the status changes: it never does.
    ["Dir::Cache::srcpkgcache", ""],
    // Otherwise apt asks the host's dpkg for foreign architectures.
    ["APT::Architecture", ARCHITECTURE],
    ["Acquire::Languages", "none"],
    // The cache directory is root's alone; apt's _apt user could not write the downloads there.
    ["APT::Sandbox::User", "root"],
  ];
  return [
    "// Written by sandbox/internet/docker-hub-images.ts: apt for the sandbox's images, apart from the host's apt.",
    ...settings.map(([key, value]) => `${key} "${value}";`),
    `APT::Architectures { "${ARCHITECTURE}"; };`,
    "",
  ].join("\n");
}

function prepareApt(suite: DebianSuite): void {
  const files = aptFiles(suite);
  for (const dir of [
    files.emptyDir,
    path.join(files.lists, "partial"),
    files.cache,
    path.join(files.archives, "partial"),
  ]) {
    fs.mkdirSync(dir, { recursive: true });
  }
  fs.writeFileSync(files.config, aptConfig(files));
  fs.writeFileSync(files.sources, `deb [signed-by=${KEYRING}] ${debianMirror()} ${suite} main\n`);
  fs.writeFileSync(files.status, "");
}

async function apt(
  suite: DebianSuite,
  what: string,
  command: "apt-get" | "apt-cache",
  args: readonly string[],
  network: boolean,
): Promise<string> {
  const files = aptFiles(suite);
  const result = await run(command, args, {
    cwd: files.archives,
    // Untranslated: apt-cache's "Depends:" is read back, and errors are quoted.
    env: { ...process.env, APT_CONFIG: files.config, LC_ALL: "C" },
    timeoutMs: network ? APT_NETWORK_TIMEOUT_MS : undefined,
  });
  if (result.code !== 0) {
    // apt's first error names the cause; the last one often only sums up ("Some index files failed").
    const firstError = result.stderr.split("\n").find((line) => line.startsWith("E: "));
    const reason = result.timedOut
      ? "timed out"
      : (firstError ?? lastNonEmptyLine(result.stderr) ?? lastNonEmptyLine(result.stdout) ?? `status ${result.code}`);
    const hint = network ? `; is ${new URL(debianMirror()).host} reachable?` : "";
    throw new SandboxError(`${what} for Debian ${suite} failed: ${reason}${hint}`);
  }
  return result.stdout;
}

async function updateLists(suite: DebianSuite): Promise<void> {
  // Without --error-on=any, apt-get update succeeds when every download failed.
  await apt(suite, "apt-get update", "apt-get", ["update", "--quiet", "--error-on=any"], true);
}

function hasLists(suite: DebianSuite): boolean {
  const lists = aptFiles(suite).lists;
  return fs.existsSync(lists) && fs.readdirSync(lists).some((file) => file.endsWith("_Packages"));
}

/** One dependency as `apt-cache depends` lists it: a package, or a virtual one with its providers. */
interface Alternative {
  target: string;
  virtual: boolean;
  providers: string[];
}

/** Each package's dependencies: groups of alternatives, any one of which satisfies the group. */
export type DependsGraph = Map<string, Alternative[][]>;

const DEPENDS_LINE = /^ ([ |])(?:Depends|PreDepends): (<)?([^\s<>]+)>?$/;
const PROVIDER_LINE = /^ {4}(\S+)$/;

/** Parses `apt-cache depends --recurse --important` (a package per unindented line). */
export function parseAptCacheDepends(output: string): DependsGraph {
  const graph: DependsGraph = new Map();
  let groups: Alternative[][] | undefined;
  let openGroup: Alternative[] | undefined;
  let last: Alternative | undefined;
  for (const line of output.split("\n")) {
    if (line.trim() === "") {
      continue;
    }
    if (!line.startsWith(" ")) {
      groups = [];
      graph.set(line.trim(), groups);
      openGroup = undefined;
      last = undefined;
      continue;
    }
    const dependency = DEPENDS_LINE.exec(line);
    const provider = PROVIDER_LINE.exec(line);
    if (dependency && groups) {
      last = { target: dependency[3], virtual: dependency[2] === "<", providers: [] };
      if (openGroup) {
        openGroup.push(last);
      } else {
        openGroup = [last];
        groups.push(openGroup);
      }
      // "|Depends:" means the next line is another alternative of the same group.
      if (dependency[1] !== "|") {
        openGroup = undefined;
      }
    } else if (provider && last) {
      last.providers.push(provider[1]);
    } else {
      throw new SandboxError(`cannot read this line of apt-cache depends: "${line}"`);
    }
  }
  return graph;
}

/**
 * The packages to unpack for `roots`. A dependency group takes one package, as apt would: one
 * already taken (or asked for) if the group allows it, else the first that apt-cache lists, a
 * virtual package standing for its providers. Providers listed under a real package are not taken:
 * they replace it (bookworm's libelogind0 for libsystemd0 would overwrite libsystemd.so.0).
 */
export function dependencyClosure(graph: DependsGraph, roots: readonly string[]): string[] {
  const taken = new Set(roots);
  const queue = [...roots];
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    const groups = graph.get(name);
    if (groups === undefined) {
      throw new SandboxError(`apt-cache depends did not list ${name}`);
    }
    for (const group of groups) {
      const candidates = group.flatMap((alternative) =>
        alternative.virtual ? alternative.providers : [alternative.target],
      );
      const pick = candidates.find((candidate) => taken.has(candidate)) ?? candidates[0];
      if (pick === undefined) {
        throw new SandboxError(
          `no package provides ${group.map((a) => a.target).join(" | ")}, which ${name} depends on`,
        );
      }
      if (!taken.has(pick)) {
        taken.add(pick);
        queue.push(pick);
      }
    }
  }
  return [...taken].sort();
}

/** The fields of each stanza of `apt-cache show` (continuation lines left out). */
export function parseStanzas(output: string): Record<string, string>[] {
  return output
    .split(/\n\s*\n/)
    .filter((stanza) => stanza.trim() !== "")
    .map((stanza) => {
      const fields: Record<string, string> = {};
      for (const line of stanza.split("\n")) {
        const field = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
        if (field) {
          fields[field[1]] = field[2];
        }
      }
      return fields;
    });
}

export interface DebianPackage {
  name: string;
  version: string;
  file: string;
}

/** The file name `apt-get download` gives a package (it writes an epoch's colon as %3a). */
export function debFileName(name: string, version: string, architecture: string): string {
  return `${name}_${version.replace(/:/g, "%3a")}_${architecture}.deb`;
}

interface PackageVersion {
  name: string;
  version: string;
  architecture: string;
}

async function resolve(
  suite: DebianSuite,
  names: readonly string[],
  withDependencies: boolean,
): Promise<PackageVersion[]> {
  const wanted = withDependencies
    ? dependencyClosure(
        parseAptCacheDepends(
          await apt(
            suite,
            `apt-cache depends ${names.join(" ")}`,
            "apt-cache",
            ["depends", "--recurse", "--important", ...names],
            false,
          ),
        ),
        names,
      )
    : [...names];
  const stanzas = parseStanzas(
    await apt(suite, "apt-cache show", "apt-cache", ["show", "--no-all-versions", ...wanted], false),
  );
  return stanzas.map((stanza) => ({
    name: stanza.Package,
    version: stanza.Version,
    architecture: stanza.Architecture,
  }));
}

async function download(suite: DebianSuite, packages: readonly PackageVersion[]): Promise<DebianPackage[]> {
  // apt-get download skips the files it already has (checking their hashes).
  const names = packages.map((pkg) => pkg.name);
  await apt(suite, "apt-get download", "apt-get", ["download", "--quiet", ...names], true);
  return packages.map((pkg) => {
    const file = path.join(aptFiles(suite).archives, debFileName(pkg.name, pkg.version, pkg.architecture));
    if (!fs.existsSync(file)) {
      throw new SandboxError(`apt-get download for Debian ${suite} did not leave ${file}`);
    }
    return { name: pkg.name, version: pkg.version, file };
  });
}

/** apt runs for one suite hold apt's locks in its directory: one at a time. */
const aptQueues = new Map<DebianSuite, Promise<unknown>>();

/**
 * The .deb files of `names` in Debian `suite` (with their dependency closure when asked), from the
 * cache or downloaded. The package lists are fetched when missing, and again when a download fails:
 * the mirror drops superseded versions, so old lists eventually name files it no longer has.
 */
export function debianPackages(
  suite: DebianSuite,
  names: readonly string[],
  options: { withDependencies: boolean },
): Promise<DebianPackage[]> {
  const task = async () => {
    prepareApt(suite);
    const fresh = !hasLists(suite);
    if (fresh) {
      await updateLists(suite);
    }
    const packages = await resolve(suite, names, options.withDependencies);
    try {
      return await download(suite, packages);
    } catch (err) {
      if (fresh) {
        throw err;
      }
      await updateLists(suite);
      return download(suite, await resolve(suite, names, options.withDependencies));
    }
  };
  const result = (aptQueues.get(suite) ?? Promise.resolve()).then(task, task);
  aptQueues.set(
    suite,
    result.catch(() => undefined),
  );
  return result;
}

/** A Docker tag for a Debian version: the upstream version, without epoch, revision or repack suffix. */
export function upstreamTag(debianVersion: string): string {
  const withoutEpoch = debianVersion.replace(/^\d+:/, "");
  const hyphen = withoutEpoch.lastIndexOf("-");
  const upstream = (hyphen === -1 ? withoutEpoch : withoutEpoch.slice(0, hyphen)).split(/[+~]/)[0];
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(upstream)) {
    throw new SandboxError(`the Debian version "${debianVersion}" gives no valid Docker tag`);
  }
  return upstream;
}

// ---------------------------------------------------------------------------------------------
// Layers, configs and manifests

export interface Layer {
  /** sha256 of the gzip blob: its name in the registry. */
  digest: string;
  /** sha256 of the uncompressed tar: the config's rootfs.diff_ids. */
  diffId: string;
  size: number;
  file: string;
}

function hashing(hash: ReturnType<typeof createHash>, count?: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      count?.(chunk.length);
      done(null, chunk);
    },
  });
}

/**
 * Archives `root` as a layer: sorted, owned by numbers, every time stamp 0, so the same files give
 * the same digest. gzip level 1: the layers cross loopback only, and time matters more than bytes.
 */
export async function tarLayer(root: string, file: string): Promise<Layer> {
  const entries = fs.readdirSync(root).sort();
  const args = [
    "--create",
    "--file=-",
    "--format=gnu",
    `--directory=${root}`,
    "--sort=name",
    "--numeric-owner",
    "--mtime=@0",
    "--",
    ...entries,
  ];
  const tar = spawn("tar", args, { stdio: ["ignore", "pipe", "pipe"] });
  const stderr: Buffer[] = [];
  tar.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  const exited = new Promise<number | null>((resolve, reject) => {
    tar.on("error", (err) => reject(new SandboxError(`cannot run tar: ${err.message}`)));
    tar.on("close", resolve);
  });
  const diffId = createHash("sha256");
  const digest = createHash("sha256");
  let size = 0;
  const [, code] = await Promise.all([
    pipeline(
      tar.stdout,
      hashing(diffId),
      createGzip({ level: 1 }),
      hashing(digest, (bytes) => (size += bytes)),
      fs.createWriteStream(file),
    ),
    exited,
  ]);
  if (code !== 0) {
    throw new SandboxError(
      `tar of ${root} failed: ${lastNonEmptyLine(Buffer.concat(stderr).toString()) ?? `status ${code}`}`,
    );
  }
  return { digest: `sha256:${digest.digest("hex")}`, diffId: `sha256:${diffId.digest("hex")}`, size, file };
}

/** The part of an image's config that `docker run` uses (Docker's Image JSON `config`). */
export interface ContainerConfig {
  Env: string[];
  Entrypoint: string[];
  Cmd?: string[];
  User?: string;
  WorkingDir: string;
  StopSignal?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
}

/** The image config blob. Its time stamp is fixed, like the layers', so a rebuild changes no digest. */
export function imageConfig(
  container: ContainerConfig,
  labels: Record<string, string>,
  layers: readonly Pick<Layer, "diffId">[],
): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: ARCHITECTURE,
      os: "linux",
      created: new Date(0).toISOString(),
      config: { ...container, Labels: labels },
      rootfs: { type: "layers", diff_ids: layers.map((layer) => layer.diffId) },
    }),
  );
}

/** The manifest, indented as Docker indents its own (any bytes would do: its digest is of these). */
export function imageManifest(config: Buffer, layers: readonly Pick<Layer, "digest" | "size">[]): Buffer {
  return Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.manifest,
        config: { mediaType: MEDIA_TYPES.config, size: config.length, digest: sha256Digest(config) },
        layers: layers.map((layer) => ({ mediaType: MEDIA_TYPES.layer, size: layer.size, digest: layer.digest })),
      },
      null,
      3,
    ),
  );
}

export function sha256Digest(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

// ---------------------------------------------------------------------------------------------
// The images

/** A file or (without content) a directory of a layer. Owned by root unless told. */
interface ImageFile {
  path: string;
  mode: number;
  content?: string;
  uid?: number;
  gid?: number;
}

interface LayerRecipe {
  /** Unpacked with everything they depend on; none for a layer of files only. */
  packages: string[];
  files: ImageFile[];
}

export interface ImageRecipe {
  /** As the registry names it: "library/haproxy" is what `docker pull haproxy` asks for. */
  repository: string;
  /** A fixed tag, or none: the upstream version of `namedAfter`, after `tagPrefix`. */
  tag?: string;
  /** What the upstream project's tags put before the version ("v" for prom/prometheus:v2.42.0). */
  tagPrefix?: string;
  suite: DebianSuite;
  /** The Debian package whose version the image carries (its tag, its source label). */
  namedAfter: string;
  /** What the image runs besides Debian's packages, for its source label. */
  payload?: string;
  layers: LayerRecipe[];
  config: ContainerConfig;
}

const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const HAPROXY_ID = 99;
const ENTRYPOINT_FILE = path.join(__dirname, "docker-hub", "haproxy-entrypoint.sh");
const MOCKHUB_SOURCE = path.join(PROJECT_DIR, "test", "doubles", "mockhub.ts");
const MOCKHUB_SCRIPT = "/usr/local/lib/mockhub/mockhub.js";

interface ImageUser {
  name: string;
  id: number;
  home: string;
}

/** What every image has: its users, a resolver order like Debian's, a sticky /tmp. */
function baseFiles(users: readonly ImageUser[]): ImageFile[] {
  const all: ImageUser[] = [{ name: "root", id: 0, home: "/root" }, ...users];
  const passwd = [
    ...all.map(
      (u) => `${u.name}:x:${u.id}:${u.id}:${u.name}:${u.home}:${u.id === 0 ? "/bin/sh" : "/usr/sbin/nologin"}`,
    ),
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
  ];
  const group = [...all.map((u) => `${u.name}:x:${u.id}:`), "nogroup:x:65534:"];
  return [
    { path: "/etc/passwd", mode: 0o644, content: `${passwd.join("\n")}\n` },
    { path: "/etc/group", mode: 0o644, content: `${group.join("\n")}\n` },
    // Without it glibc asks DNS before /etc/hosts, unlike the Debian images the real ones start from.
    {
      path: "/etc/nsswitch.conf",
      mode: 0o644,
      content: "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
    },
    { path: "/root", mode: 0o700 },
    { path: "/tmp", mode: 0o1777 },
  ];
}

/**
 * Docker Hub's official haproxy image, as far as the stack sees it: HAProxy as user haproxy
 * (99:99) in /var/lib/haproxy, the config at /usr/local/etc/haproxy/haproxy.cfg, stopped by
 * SIGUSR1, started through an entrypoint that behaves like the official one. The HAProxy itself
 * is Debian's build of that suite.
 */
function haproxyRecipe(suite: DebianSuite, entrypoint: string): ImageRecipe {
  return {
    repository: "library/haproxy",
    suite,
    namedAfter: "haproxy",
    layers: [
      {
        packages: ["haproxy", "dash"],
        files: [
          ...baseFiles([{ name: "haproxy", id: HAPROXY_ID, home: "/var/lib/haproxy" }]),
          { path: "/var/lib/haproxy", mode: 0o755, uid: HAPROXY_ID, gid: HAPROXY_ID },
          { path: "/usr/local/etc/haproxy", mode: 0o755 },
          { path: "/usr/local/bin/docker-entrypoint.sh", mode: 0o755, content: entrypoint },
        ],
      },
    ],
    config: {
      Env: [PATH_ENV],
      Entrypoint: ["/usr/local/bin/docker-entrypoint.sh"],
      Cmd: ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
      User: "haproxy",
      WorkingDir: "/var/lib/haproxy",
      StopSignal: "SIGUSR1",
    },
  };
}

/** The image's user: the official prometheus image runs as nobody. */
const NOBODY_ID = 65534;

/**
 * Docker Hub's `prom/prometheus`, as far as the stack sees it: Prometheus as user nobody with its
 * database in /prometheus and its configuration in /etc/prometheus, started by /bin/prometheus with
 * the arguments it is given, /bin/promtool beside it. Prometheus itself is Debian bookworm's build
 * (2.42.0, the version the stack pins, lib/contract.ts MONITORING), whose web pages are the
 * classic ones under /classic.
 */
function prometheusRecipe(): ImageRecipe {
  return {
    repository: "prom/prometheus",
    tagPrefix: "v",
    suite: "bookworm",
    namedAfter: "prometheus",
    layers: [
      {
        packages: ["prometheus"],
        files: [
          ...baseFiles([]),
          { path: "/prometheus", mode: 0o755, uid: NOBODY_ID, gid: NOBODY_ID },
          { path: "/etc/prometheus", mode: 0o755 },
        ],
      },
    ],
    config: {
      Env: [PATH_ENV],
      Entrypoint: ["/bin/prometheus"],
      Cmd: ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
      User: "nobody",
      WorkingDir: "/prometheus",
      ExposedPorts: { "9090/tcp": {} },
    },
  };
}

/**
 * BuilderHub's mock `mempirate/mockhub:v0.0.6`: the double of it (test/doubles/mockhub.ts) under
 * Debian's nodejs, as PID 1 without a signal handler, like upstream's binary.
 */
function mockhubRecipe(): ImageRecipe {
  return {
    repository: "mempirate/mockhub",
    tag: "v0.0.6",
    suite: "trixie",
    namedAfter: "nodejs",
    payload: `${path.relative(PROJECT_DIR, MOCKHUB_SOURCE)} (the sandbox's double of mockhub v0.0.6)`,
    layers: [
      {
        packages: ["nodejs"],
        files: [
          ...baseFiles([]),
          // Debian's node loads this bundle at start and warns on every start without it (ca-certificates
          // writes it in its postinst). Empty is enough: mockhub opens no TLS connection.
          { path: "/etc/ssl/certs/ca-certificates.crt", mode: 0o644, content: "" },
        ],
      },
      { packages: [], files: [{ path: MOCKHUB_SCRIPT, mode: 0o644, content: bundle(MOCKHUB_SOURCE, {}) }] },
    ],
    config: {
      // simulation/mockhub/Dockerfile@b56e719 sets `ENV SYSTEM_PORT=5544`: the image starts without
      // one given (the VM gives its own, provision/builderhub.sh).
      Env: [PATH_ENV, "SYSTEM_PORT=5544"],
      Entrypoint: ["/usr/bin/node", MOCKHUB_SCRIPT],
      WorkingDir: "/",
      ExposedPorts: { [`${BUILDERHUB.port}/tcp`]: {} },
    },
  };
}

/**
 * Every image the Docker Hub serves. The stack's tests switch HAProxy between two genuinely
 * different builds: trixie's and bookworm's.
 */
export function dockerHubImageRecipes(): ImageRecipe[] {
  const entrypoint = fs.readFileSync(ENTRYPOINT_FILE, "utf8");
  return [
    haproxyRecipe("trixie", entrypoint),
    haproxyRecipe("bookworm", entrypoint),
    mockhubRecipe(),
    prometheusRecipe(),
  ];
}

export interface BuiltImage {
  repository: string;
  tag: string;
  /** What it is built from, as its label says. */
  source: string;
  manifest: Buffer;
  config: Buffer;
  layers: Layer[];
}

/**
 * Declares the merged /usr that unpackPackages makes. Without it bookworm's init-system-helpers
 * (Depends: usrmerge | usr-is-merged) would take usrmerge, and perl with it.
 */
const MERGED_USR = "usr-is-merged";

/** Runs `producer | consumer`, failing if either does. */
async function pipe(producer: readonly string[], consumer: readonly string[], what: string): Promise<void> {
  const first = spawn(producer[0], producer.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  const second = spawn(consumer[0], consumer.slice(1), { stdio: ["pipe", "ignore", "pipe"] });
  const stderr: Buffer[] = [];
  const exits = [first, second].map(
    (child) =>
      new Promise<number | null>((resolve, reject) => {
        child.on("error", (err) => reject(new SandboxError(`${what}: ${err.message}`)));
        child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
        child.on("close", resolve);
      }),
  );
  // A consumer that dies early reports its own failure; the producer's EPIPE adds nothing.
  second.stdin.on("error", () => undefined);
  first.stdout.pipe(second.stdin);
  const codes = await Promise.all(exits);
  if (codes.some((code) => code !== 0)) {
    throw new SandboxError(
      `${what} failed: ${lastNonEmptyLine(Buffer.concat(stderr).toString()) ?? `status ${codes.join(", ")}`}`,
    );
  }
}

/**
 * Unpacks packages as `dpkg -x` does, into a merged /usr like every Debian image since bookworm:
 * dpkg -x would replace the /lib symlink with a directory, so the data goes through GNU tar with
 * --keep-directory-symlink instead.
 */
async function unpackPackages(packages: readonly DebianPackage[], root: string): Promise<void> {
  for (const dir of ["bin", "sbin", "lib", "lib64"]) {
    fs.mkdirSync(path.join(root, "usr", dir), { recursive: true });
    fs.symlinkSync(`usr/${dir}`, path.join(root, dir));
  }
  for (const pkg of packages) {
    await pipe(
      ["dpkg-deb", "--fsys-tarfile", pkg.file],
      ["tar", "--extract", "--file=-", "--keep-directory-symlink", `--directory=${root}`],
      `unpacking ${path.basename(pkg.file)}`,
    );
  }
  // Documentation only; Docker's Debian images leave it out as well.
  for (const dir of ["doc", "man", "info"]) {
    fs.rmSync(path.join(root, "usr", "share", dir), { recursive: true, force: true });
  }
}

function writeFiles(root: string, files: readonly ImageFile[]): void {
  for (const file of files) {
    const target = path.join(root, file.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (file.content === undefined) {
      fs.mkdirSync(target, { recursive: true });
    } else {
      fs.rmSync(target, { force: true });
      fs.writeFileSync(target, file.content);
    }
    // After creation: the umask must not take the sticky or write bits away.
    fs.chmodSync(target, file.mode);
    fs.chownSync(target, file.uid ?? 0, file.gid ?? 0);
  }
}

async function buildImage(recipe: ImageRecipe, work: string, log: (line: string) => void): Promise<BuiltImage> {
  const name = recipe.repository.replace(/\W/g, "-");
  const layers: Layer[] = [];
  let namedAfter: DebianPackage | undefined;
  for (const [index, layer] of recipe.layers.entries()) {
    const root = path.join(work, `${name}-${recipe.suite}-${index}`);
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root, { recursive: true });
    if (layer.packages.length > 0) {
      const packages = await debianPackages(recipe.suite, [...layer.packages, MERGED_USR], { withDependencies: true });
      namedAfter ??= packages.find((pkg) => pkg.name === recipe.namedAfter);
      await unpackPackages(packages, root);
    }
    writeFiles(root, layer.files);
    layers.push(await tarLayer(root, `${root}.tar.gz`));
    fs.rmSync(root, { recursive: true, force: true });
  }
  if (namedAfter === undefined) {
    throw new SandboxError(
      `the ${recipe.repository} image of Debian ${recipe.suite} holds no ${recipe.namedAfter} package`,
    );
  }
  const tag = recipe.tag ?? `${recipe.tagPrefix ?? ""}${upstreamTag(namedAfter.version)}`;
  const debian = `Debian ${recipe.suite} ${namedAfter.name} ${namedAfter.version}`;
  const source = recipe.payload ? `${recipe.payload} on ${debian}` : debian;
  const config = imageConfig(recipe.config, { "org.opencontainers.image.source": source }, layers);
  const manifest = imageManifest(config, layers);
  const megabytes = (layers.reduce((sum, layer) => sum + layer.size, 0) / 1e6).toFixed(1);
  log(`built ${recipe.repository}:${tag} (${megabytes} MB compressed) from ${source}`);
  return { repository: recipe.repository, tag, source, manifest, config, layers };
}

/** Builds every recipe, their layers in `work`; the images of different suites build side by side. */
export function buildImages(
  recipes: readonly ImageRecipe[],
  work: string,
  log: (line: string) => void,
): Promise<BuiltImage[]> {
  fs.mkdirSync(work, { recursive: true });
  return Promise.all(recipes.map((recipe) => buildImage(recipe, work, log)));
}
