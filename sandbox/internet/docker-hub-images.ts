// The images the sandbox's Docker Hub (sandbox/internet/docker-hub.ts) serves, built from Debian packages: this
// machine reaches a Debian mirror but not Docker Hub, and the VMs' real dockerd must pull images
// whose programs really run. Each image's layers are root filesystems: the dependency closure of a
// few Debian packages, extracted, plus the files that make it behave like the image it stands for.
//
// Debian's own tools do the work: mmdebstrap resolves, downloads and extracts the packages (apt's
// resolver, in a directory of its own, apart from the host's apt state) and writes each layer as a
// reproducible tarball; umoci makes the OCI image of those layers and its config; skopeo copies it
// to a registry as a Docker image (sandbox/internet/docker-hub.ts). bootstrap/bootstrap.sh installs them.
import * as fs from "fs";
import * as path from "path";
import { BUILDERHUB } from "../../lib/contract";
import { debianMirror } from "../base/apt-sources";
import { bundle } from "./bundle";
import { PROJECT_DIR } from "../../plan/evaluation";
import { check, run, SandboxError } from "../base/proc";

export type DebianSuite = "trixie" | "bookworm";

const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
const ARCHITECTURE = "amd64";
const MMDEBSTRAP_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * The versions of the tools that build and copy the images (the sandbox checks the host has them,
 * sandbox/sandbox.ts HOST_TOOLS): they decide the images' bytes as much as the recipes do.
 */
export function toolVersions(): Promise<string[]> {
  return Promise.all(["mmdebstrap", "umoci", "skopeo"].map(async (tool) => (await check(tool, ["--version"])).trim()));
}

// ---------------------------------------------------------------------------------------------
// Debian packages, by mmdebstrap

/** apt's source line for a suite of the machine's Debian archive (sandbox/base/apt-sources.ts). */
export type AptSource = (suite: DebianSuite) => string;

export const machineAptSource: AptSource = (suite) => `deb [signed-by=${KEYRING}] ${debianMirror()} ${suite} main`;

/**
 * Extracts `packages` of Debian `suite` with their dependency closure, as apt resolves it, into
 * `target` (a directory, or an uncompressed tarball when it ends in .tar), without installing them:
 * no maintainer script runs. Every time stamp is clamped to 0, so the same packages and files give
 * the same tarball. `environment` is for the hooks among `options`.
 */
export async function extractPackages(
  suite: DebianSuite,
  packages: readonly string[],
  target: string,
  source: AptSource,
  options: readonly string[] = [],
  environment: Record<string, string> = {},
): Promise<void> {
  const args = [
    // The build runs as root already; the other modes need subordinate ids or fakechroot.
    "--mode=root",
    "--variant=extract",
    `--architectures=${ARCHITECTURE}`,
    `--include=${packages.join(",")}`,
    // Device nodes: Docker gives every container its own /dev, and the VMs' dockerd may not make them.
    "--skip=output/dev,output/mknod",
    ...options,
    suite,
    target,
    source(suite),
  ];
  const result = await run("mmdebstrap", args, {
    env: { ...process.env, ...environment, SOURCE_DATE_EPOCH: "0", LC_ALL: "C" },
    timeoutMs: MMDEBSTRAP_TIMEOUT_MS,
  });
  if (result.code !== 0) {
    // mmdebstrap's first error names the cause; its last only says that it failed.
    const output = `${result.stderr}\n${result.stdout}`.split("\n");
    const reason = result.timedOut
      ? "timed out"
      : (output.find((line) => line.startsWith("E: ")) ?? `status ${result.code}`);
    throw new SandboxError(
      `mmdebstrap of ${packages.join(", ")} from Debian ${suite} failed: ${reason}; is the archive in "${source(suite)}" reachable?`,
    );
  }
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

/** The part of an image's config that `docker run` uses (the OCI image config's `config`). */
interface ContainerConfig {
  Env: string[];
  Entrypoint: string[];
  Cmd?: string[];
  User?: string;
  WorkingDir: string;
  StopSignal?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
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

// ---------------------------------------------------------------------------------------------
// Building: a layer per recipe layer, then the image

/** The image as umoci wrote it: an OCI layout and the reference of the image in it. */
export interface BuiltImage {
  repository: string;
  tag: string;
  /** What it is built from, as its label says. */
  source: string;
  /** skopeo's name of it, `oci:<layout>:<reference>`. */
  oci: string;
}

/** Where an image's build puts its parts. */
function buildPaths(work: string, recipe: ImageRecipe) {
  const dir = path.join(work, `${recipe.repository.replace(/\W/g, "-")}-${recipe.suite}`);
  return {
    dir,
    layout: path.join(dir, "oci"),
    /** The files a recipe layer adds, written here with their owners and modes before they are archived. */
    files: (index: number) => path.join(dir, `files-${index}`),
    layer: (index: number) => path.join(dir, `layer-${index}.tar`),
    /** The extracted packages and their versions, a "name version" line each. */
    versions: path.join(dir, "versions"),
  };
}

/** Where the extract hooks find their inputs: the environment, so that no path needs shell quoting. */
const FILES_VARIABLE = "FLOWPROXY_LAYER_FILES";
const VERSIONS_VARIABLE = "FLOWPROXY_PACKAGE_VERSIONS";

/**
 * What mmdebstrap does besides extracting, for an image's layer. A merged /usr like every Debian
 * image since bookworm (the recipe's packages include usr-is-merged, which says so: otherwise
 * bookworm's init-system-helpers would take usrmerge, and perl with it); no documentation, as
 * Docker's Debian images; none of the apt state mmdebstrap keeps for a system to install into: an
 * image holds its packages' files (and the empty directories mmdebstrap makes for apt and dpkg).
 */
const LAYER_OPTIONS = [
  `--setup-hook=for dir in bin sbin lib lib64; do mkdir -p "$1/usr/$dir" && ln -s "usr/$dir" "$1/$dir"; done`,
  ...["doc", "man", "info"].map((dir) => `--dpkgopt=path-exclude=/usr/share/${dir}/*`),
  // The downloads are what was extracted: their versions name the image's tag.
  `--extract-hook=for deb in "$1"/var/cache/apt/archives/*.deb; do dpkg-deb --show --showformat='\${Package} \${Version}\\n' "$deb"; done >"$${VERSIONS_VARIABLE}"`,
  // The next hook removes apt's state whole; mmdebstrap's cleanup of it would find nothing to clean.
  "--skip=cleanup/apt",
  // What mmdebstrap writes for apt and dpkg, and the host's names and resolver; Docker gives each
  // container its own /etc/hostname and /etc/resolv.conf.
  `--extract-hook=cd "$1" && rm -r etc/apt/sources.list etc/dpkg/dpkg.cfg.d/99mmdebstrap etc/fstab etc/hostname etc/resolv.conf var/cache/apt var/lib/apt var/lib/dpkg/arch var/lib/dpkg/status var/log/apt`,
  // The recipe's files over the packages' (/etc/passwd, say), with their owners and modes.
  `--extract-hook=cp -a "$${FILES_VARIABLE}"/. "$1"/`,
];

/** Declares the merged /usr that LAYER_OPTIONS' setup hook makes. */
const MERGED_USR = "usr-is-merged";

function writeFiles(root: string, files: readonly ImageFile[]): void {
  for (const file of files) {
    const target = path.join(root, file.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (file.content === undefined) {
      fs.mkdirSync(target, { recursive: true });
    } else {
      fs.writeFileSync(target, file.content);
    }
    // After creation: the umask must not take the sticky or write bits away.
    fs.chmodSync(target, file.mode);
    fs.chownSync(target, file.uid ?? 0, file.gid ?? 0);
  }
}

/** The packages mmdebstrap extracted, by name, with their versions. */
function readVersions(file: string): Map<string, string> {
  return new Map(
    fs
      .readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => line.split(" ") as [string, string]),
  );
}

/**
 * A layer of files alone, archived like mmdebstrap's: sorted, owned by numbers, every time stamp 0,
 * so the same files give the same layer (GNU's format: pax's would record access and change times).
 * umoci's insert would keep the files' time stamps and give the root directory an entry named "/".
 */
function archiveFiles(root: string, file: string): Promise<string> {
  return check("tar", [
    "--create",
    `--file=${file}`,
    "--format=gnu",
    `--directory=${root}`,
    "--sort=name",
    "--numeric-owner",
    "--mtime=@0",
    ".",
  ]);
}

/** The options of `umoci config` that give the image its config (`umoci new` starts it empty). */
function umociConfig(config: ContainerConfig, labels: Record<string, string>): string[] {
  const option = (name: string, values: readonly string[] | undefined) =>
    (values ?? []).map((value) => `--config.${name}=${value}`);
  return [
    // A fixed time, like the layers': a rebuild of the same files changes no digest.
    `--created=${new Date(0).toISOString()}`,
    `--architecture=${ARCHITECTURE}`,
    "--os=linux",
    ...option("env", config.Env),
    ...option("entrypoint", config.Entrypoint),
    ...option("cmd", config.Cmd),
    ...option("user", config.User === undefined ? [] : [config.User]),
    ...option("workingdir", [config.WorkingDir]),
    ...option("stopsignal", config.StopSignal === undefined ? [] : [config.StopSignal]),
    ...option("exposedports", Object.keys(config.ExposedPorts ?? {})),
    ...option(
      "label",
      Object.entries(labels).map(([key, value]) => `${key}=${value}`),
    ),
  ];
}

/** The reference of the image in its layout. */
const REFERENCE = "image";

async function buildImage(
  recipe: ImageRecipe,
  work: string,
  source: AptSource,
  log: (line: string) => void,
): Promise<BuiltImage> {
  const paths = buildPaths(work, recipe);
  fs.rmSync(paths.dir, { recursive: true, force: true });
  fs.mkdirSync(paths.dir, { recursive: true });
  const image = `${paths.layout}:${REFERENCE}`;
  await check("umoci", ["init", `--layout=${paths.layout}`]);
  await check("umoci", ["new", `--image=${image}`]);
  let versions: Map<string, string> | undefined;
  for (const [index, layer] of recipe.layers.entries()) {
    const files = paths.files(index);
    fs.mkdirSync(files);
    writeFiles(files, layer.files);
    const tarball = paths.layer(index);
    if (layer.packages.length > 0) {
      await extractPackages(recipe.suite, [...layer.packages, MERGED_USR], tarball, source, LAYER_OPTIONS, {
        [FILES_VARIABLE]: files,
        [VERSIONS_VARIABLE]: paths.versions,
      });
      versions ??= readVersions(paths.versions);
    } else {
      await archiveFiles(files, tarball);
    }
    // The image's history would carry the build's time: every umoci step leaves it out.
    await check("umoci", ["raw", "add-layer", "--no-history", `--image=${image}`, tarball]);
    fs.rmSync(tarball);
    fs.rmSync(files, { recursive: true });
  }
  const version = versions?.get(recipe.namedAfter);
  if (version === undefined) {
    throw new SandboxError(
      `the ${recipe.repository} image of Debian ${recipe.suite} holds no ${recipe.namedAfter} package`,
    );
  }
  const tag = recipe.tag ?? `${recipe.tagPrefix ?? ""}${upstreamTag(version)}`;
  const debian = `Debian ${recipe.suite} ${recipe.namedAfter} ${version}`;
  const label = recipe.payload ? `${recipe.payload} on ${debian}` : debian;
  await check("umoci", [
    "config",
    "--no-history",
    `--image=${image}`,
    ...umociConfig(recipe.config, { "org.opencontainers.image.source": label }),
  ]);
  // umoci keeps the blobs of every step's image; only the last is wanted.
  await check("umoci", ["gc", `--layout=${paths.layout}`]);
  log(`built ${recipe.repository}:${tag} from ${label}`);
  return { repository: recipe.repository, tag, source: label, oci: `oci:${image}` };
}

/** Builds every recipe in `work`, side by side: each mmdebstrap has an apt of its own. */
export function buildImages(
  recipes: readonly ImageRecipe[],
  work: string,
  log: (line: string) => void,
  source: AptSource = machineAptSource,
): Promise<BuiltImage[]> {
  fs.mkdirSync(work, { recursive: true });
  return Promise.all(recipes.map((recipe) => buildImage(recipe, work, source, log)));
}

/** skopeo's trust policy for the copies: the images are our own, unsigned, never from elsewhere. */
const ACCEPT_ANY = `${JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] })}\n`;

/**
 * Copies a built image to `destination` (skopeo's name: a registry's `docker://...`, or `dir:...`)
 * as a Docker image (schema 2), the manifest Docker Hub serves its images with; returns its
 * manifest's digest. The build registry answers plain HTTP, on loopback, to anyone.
 */
export async function copyImage(image: BuiltImage, destination: string, work: string): Promise<string> {
  const policy = path.join(work, "policy.json");
  const digestFile = path.join(work, `${image.repository.replace(/\W/g, "-")}-${image.tag}.digest`);
  fs.writeFileSync(policy, ACCEPT_ANY);
  await check("skopeo", [
    `--policy=${policy}`,
    "copy",
    "--quiet",
    "--format=v2s2",
    "--dest-tls-verify=false",
    "--dest-no-creds",
    `--digestfile=${digestFile}`,
    image.oci,
    destination,
  ]);
  return fs.readFileSync(digestFile, "utf8").trim();
}
