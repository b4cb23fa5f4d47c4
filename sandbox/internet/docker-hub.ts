// Docker Hub in the sandbox: Debian's docker-registry (distribution 2.8) serving, read-only on
// loopback, the images of sandbox/internet/docker-hub-images.ts under Docker Hub's own names, behind the Docker Hub
// double (test/doubles/dockerhub.ts: Docker Hub's token service, its login and its pull rate limit)
// on DOCKER_HUB's address with TLS from the sandbox CA, so the VMs' dockerd logs in and pulls
// `haproxy:TAG` and `mempirate/mockhub:v0.0.6` as it does on Azure.
//
// The content is built once per recipe into the cache (cachePaths.dockerHub): skopeo pushes the
// images into a temporary registry of our own, so the storage is laid out by the registry itself
// (the hub's is read-only).
import { spawn } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as path from "path";
import { issueServerCertificate } from "../base/ca";
import type { DockerHubDoubleConfig, DockerHubPolicy, DockerHubRequest } from "./doubles-interface";
import {
  BuiltImage,
  buildImages,
  copyImage,
  dockerHubImageRecipes,
  extractPackages,
  ImageRecipe,
  machineAptSource,
  toolVersions,
} from "./docker-hub-images";
import { CACHE_DIR, cachePaths, statePaths } from "../base/paths";
import {
  lastNonEmptyLine,
  livePid,
  SandboxError,
  sleep,
  startDaemon,
  stopDaemon,
  writePrivateFile,
} from "../base/proc";
import type { SandboxSecrets } from "./stack-config";
import { DOCKER_HUB } from "../base/topology";

const INDEX_FILE = "index.json";
const START_TIMEOUT_MS = 10_000;

export interface DockerHubImage {
  /** As the registry names it, e.g. "library/haproxy". */
  repository: string;
  tag: string;
  /** As `docker pull` takes it, e.g. "haproxy:3.0.11" or "mempirate/mockhub:v0.0.6". */
  reference: string;
  /** The manifest's digest: what `docker pull NAME@DIGEST` pins. */
  digest: string;
  /** What the image is built from. */
  source: string;
}

/** Where a registry listens; Docker Hub's own is DOCKER_HUB's, which exists only with the sandbox network. */
export interface DockerHubAddress {
  host: string;
  port: number;
}

const registryBinary = () => path.join(cachePaths.registry, "usr", "bin", "docker-registry");

/**
 * Debian trixie's docker-registry, extracted into the cache with what it depends on: installing it
 * would start a service on the host.
 */
async function ensureRegistry(): Promise<string> {
  const binary = registryBinary();
  if (fs.existsSync(binary)) {
    return binary;
  }
  const staging = `${cachePaths.registry}.build`;
  fs.rmSync(staging, { recursive: true, force: true });
  await extractPackages("trixie", ["docker-registry"], staging, machineAptSource);
  fs.renameSync(staging, cachePaths.registry);
  return binary;
}

export interface RegistryConfigOptions {
  storage: string;
  address: DockerHubAddress;
  readOnly: boolean;
  tls?: { certificate: string; key: string };
}

/** The registry's configuration. JSON is YAML too, and needs no quoting rules of its own. */
export function registryConfig(options: RegistryConfigOptions): string {
  return `${JSON.stringify(
    {
      version: "0.1",
      log: { level: "info", formatter: "text", fields: { service: "sandbox-docker-hub" } },
      storage: {
        filesystem: { rootdirectory: options.storage },
        cache: { blobdescriptor: "inmemory" },
        // Read-only refuses every push; purging would write to the storage on a timer.
        maintenance: { uploadpurging: { enabled: false }, readonly: { enabled: options.readOnly } },
      },
      http: {
        addr: `${options.address.host}:${options.address.port}`,
        // Signs upload state; without one the registry makes one up and warns.
        secret: randomBytes(16).toString("hex"),
        headers: { "X-Content-Type-Options": ["nosniff"] },
        ...(options.tls ? { tls: options.tls } : {}),
      },
    },
    null,
    2,
  )}\n`;
}

/**
 * True once a registry answers /v2/ at `address`, over TLS with the sandbox CA if `tls`: a port
 * that merely accepts connections may belong to another program, the registry having failed to bind.
 * Behind the Docker Hub double, /v2/ without a token answers 401 with its challenge.
 */
function answers(address: DockerHubAddress, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const onResponse = (res: http.IncomingMessage) => {
      res.resume();
      const challenged = res.statusCode === 401 && /^Bearer realm=/.test(String(res.headers["www-authenticate"]));
      resolve(
        (res.statusCode === 200 || challenged) && res.headers["docker-distribution-api-version"] === "registry/2.0",
      );
    };
    const options = { host: address.host, port: address.port, path: "/v2/", timeout: 1000 };
    const req = tls
      ? https.get(
          {
            ...options,
            ca: fs.readFileSync(cachePaths.caCert),
            servername: DOCKER_HUB.hostnames[0],
            headers: { host: DOCKER_HUB.hostnames[0] },
          },
          onResponse,
        )
      : http.get(options, onResponse);
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** Waits until a registry answers, or says why it does not. */
async function waitForRegistry(
  address: DockerHubAddress,
  tls: boolean,
  alive: () => boolean,
  logFile: string,
  what: string,
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answers(address, tls))) {
    if (!alive() || Date.now() > deadline) {
      const last = fs.existsSync(logFile) ? lastNonEmptyLine(fs.readFileSync(logFile, "utf8")) : undefined;
      const state = alive() ? "does not answer" : "exited";
      throw new SandboxError(
        `${what} on ${address.host}:${address.port} ${state}${last ? `: ${last}` : ""} (log: ${logFile})`,
      );
    }
    await sleep(100);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function pushImage(address: DockerHubAddress, image: BuiltImage, work: string): Promise<DockerHubImage> {
  const destination = `docker://${address.host}:${address.port}/${image.repository}:${image.tag}`;
  return {
    repository: image.repository,
    tag: image.tag,
    reference: `${image.repository.replace(/^library\//, "")}:${image.tag}`,
    digest: await copyImage(image, destination, work),
    source: image.source,
  };
}

/**
 * Pushes the images into registry storage at `storage`, through a registry of our own on loopback
 * (its log in `logFile`, which outlives the staging directory for a failure's sake).
 */
async function pushImages(
  binary: string,
  images: readonly BuiltImage[],
  storage: string,
  work: string,
  logFile: string,
): Promise<DockerHubImage[]> {
  const address = { host: "127.0.0.1", port: await freePort() };
  const config = path.join(work, "registry.yml");
  writePrivateFile(config, registryConfig({ storage, address, readOnly: false }));
  const log = fs.openSync(logFile, "a", 0o600);
  const registry = spawn(binary, ["serve", config], { stdio: ["ignore", log, log] });
  fs.closeSync(log);
  let running = true;
  const exited = new Promise<void>((resolve) => {
    for (const event of ["close", "error"]) {
      registry.once(event, () => {
        running = false;
        resolve();
      });
    }
  });
  try {
    await waitForRegistry(address, false, () => running, logFile, "the build registry");
    const pushed: DockerHubImage[] = [];
    for (const image of images) {
      pushed.push(await pushImage(address, image, work));
    }
    return pushed;
  } finally {
    registry.kill("SIGTERM");
    await exited;
  }
}

/**
 * The recipes hold everything the content is made from (file contents included), and the builder
 * and the tools it runs decide how: a change in any builds new content.
 */
function contentHash(recipes: readonly ImageRecipe[], tools: readonly string[]): string {
  const builder = fs.readFileSync(path.join(__dirname, "docker-hub-images.ts"));
  return createHash("sha256").update(JSON.stringify({ recipes, tools })).update(builder).digest("hex").slice(0, 16);
}

function readIndex(dir: string): DockerHubImage[] {
  return (JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), "utf8")) as { images: DockerHubImage[] }).images;
}

/** The content directory Docker Hub serves, if any (what ensureDockerHubContent last made or reused). */
function contentDir(): string | undefined {
  try {
    return fs.readFileSync(statePaths.dockerHub.content, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Removes older content (and its build log), except what a running Docker Hub serves. */
function pruneContent(keep: string): void {
  const served = dockerHubPid() === undefined ? undefined : contentDir();
  const kept = new Set([keep, served].flatMap((dir) => (dir === undefined ? [] : [dir, `${dir}.log`])));
  for (const entry of fs.readdirSync(CACHE_DIR)) {
    const file = path.join(CACHE_DIR, entry);
    if (/^docker-hub-[0-9a-f]+(\.build|\.log)?$/.test(entry) && !kept.has(file)) {
      fs.rmSync(file, { recursive: true, force: true });
    }
  }
}

export interface DockerHubContent {
  dir: string;
  built: boolean;
  images: DockerHubImage[];
}

/**
 * The registry storage with every image, built when the recipes changed (in staging, renamed into
 * place when complete), and named in statePaths.dockerHub.content as what Docker Hub serves.
 */
export async function ensureDockerHubContent(log: (line: string) => void = () => undefined): Promise<DockerHubContent> {
  const recipes = dockerHubImageRecipes();
  const dir = cachePaths.dockerHub(contentHash(recipes, await toolVersions()));
  const built = !fs.existsSync(path.join(dir, INDEX_FILE));
  if (built) {
    const staging = `${dir}.build`;
    fs.rmSync(staging, { recursive: true, force: true });
    const content = path.join(staging, "content");
    const work = path.join(staging, "work");
    fs.mkdirSync(content, { recursive: true });
    fs.mkdirSync(work, { recursive: true });
    try {
      const [binary, builtImages] = await Promise.all([ensureRegistry(), buildImages(recipes, work, log)]);
      const images = await pushImages(binary, builtImages, content, work, `${dir}.log`);
      fs.writeFileSync(path.join(content, INDEX_FILE), `${JSON.stringify({ images }, null, 2)}\n`);
      fs.renameSync(content, dir);
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
    pruneContent(dir);
  }
  fs.mkdirSync(statePaths.dockerHub.dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(statePaths.dockerHub.content, `${dir}\n`);
  return { dir, built, images: readIndex(dir) };
}

function servedContent(): string {
  const dir = contentDir();
  if (dir === undefined) {
    throw new SandboxError(
      `the sandbox's Docker Hub has no content (${statePaths.dockerHub.content} is missing); run \`pnpm run sandbox up\``,
    );
  }
  if (!fs.existsSync(path.join(dir, INDEX_FILE))) {
    throw new SandboxError(`the Docker Hub content ${dir} is gone from the cache; run \`pnpm run sandbox up\``);
  }
  return dir;
}

/** The images the sandbox's Docker Hub serves. */
export function readDockerHubImages(): DockerHubImage[] {
  return readIndex(servedContent());
}

/** The registry's PID (behind the Docker Hub double). */
function dockerHubPid(): number | undefined {
  return livePid(statePaths.dockerHub.pid, statePaths.dockerHub.config);
}

const frontScript = () => path.join(statePaths.doubles, "dockerhub.js");

/** The Docker Hub double's PID. */
export function dockerHubFrontPid(): number | undefined {
  return livePid(statePaths.dockerHub.front.pid, frontScript());
}

export async function stopDockerHub(): Promise<void> {
  await stopDaemon(statePaths.dockerHub.front.pid, frontScript(), 5000);
  await stopDaemon(statePaths.dockerHub.pid, statePaths.dockerHub.config, 5000);
}

/**
 * The sandbox's Docker Hub as it starts: pulling needs a login (the sandbox's stack logs in with its
 * dockerHubUsername and dockerHubToken), with Docker Hub's limits per window.
 */
export const SANDBOX_DOCKER_HUB_POLICY: DockerHubPolicy = {
  requireLogin: true,
  limits: { anonymous: 10, authenticated: 100 },
};

/** Changes what the Docker Hub double enforces, from its next request on; a new policy starts a new window. */
export function setDockerHubPolicy(policy: DockerHubPolicy): void {
  writePrivateFile(statePaths.dockerHub.front.policy, `${JSON.stringify(policy)}\n`);
}

/** Every request the Docker Hub double answered, oldest first (no token or password is logged). */
export function dockerHubRequests(): DockerHubRequest[] {
  if (!fs.existsSync(statePaths.dockerHub.front.requests)) return [];
  return fs
    .readFileSync(statePaths.dockerHub.front.requests, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as DockerHubRequest);
}

/**
 * (Re)starts Docker Hub: the registry on a loopback port, serving the content ensureDockerHubContent named,
 * and the Docker Hub double on `address` (DOCKER_HUB's, which needs the sandbox network) in front of
 * it, with a certificate for Docker Hub's names and that address, the sandbox's Docker Hub account
 * and SANDBOX_DOCKER_HUB_POLICY.
 */
export async function startDockerHub(
  secrets: Pick<SandboxSecrets, "dockerHubUsername" | "dockerHubToken">,
  address: DockerHubAddress = { host: DOCKER_HUB.hostIp, port: DOCKER_HUB.port },
): Promise<void> {
  await stopDockerHub();
  const storage = servedContent();
  const binary = await ensureRegistry();
  const files = statePaths.dockerHub;
  fs.mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  const upstream = { host: "127.0.0.1", port: await freePort() };
  writePrivateFile(files.config, registryConfig({ storage, address: upstream, readOnly: true }));
  startDaemon(binary, ["serve", files.config], { logFile: files.log, pidFile: files.pid });
  try {
    await waitForRegistry(
      upstream,
      false,
      () => dockerHubPid() !== undefined,
      files.log,
      "the sandbox's Docker Hub registry",
    );
    await issueServerCertificate([...DOCKER_HUB.hostnames], [address.host], files.tlsCert, files.tlsKey);
    setDockerHubPolicy(SANDBOX_DOCKER_HUB_POLICY);
    fs.writeFileSync(files.front.requests, "", { mode: 0o600 });
    const config: DockerHubDoubleConfig = {
      host: address.host,
      port: address.port,
      upstream,
      accounts: { [secrets.dockerHubUsername]: secrets.dockerHubToken },
      policyFile: files.front.policy,
      requestLog: files.front.requests,
      tls: { certFile: files.tlsCert, keyFile: files.tlsKey },
    };
    writePrivateFile(files.front.config, JSON.stringify(config, null, 2));
    startDaemon(process.execPath, [frontScript(), files.front.config], {
      logFile: files.front.log,
      pidFile: files.front.pid,
    });
    await waitForRegistry(
      address,
      true,
      () => dockerHubFrontPid() !== undefined,
      files.front.log,
      "the sandbox's Docker Hub",
    );
  } catch (err) {
    await stopDockerHub();
    throw err;
  }
}
