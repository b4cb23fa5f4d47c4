// Stand-in for the Docker CLI and engine inside the sandbox VMs (there is no Docker engine on the
// sandbox's machines). Test code: it never ships to Azure. It accepts the invocations the
// provisioning scripts use, in any option order, with real docker's exit codes and messages;
// anything else exits 125 naming what is unsupported.
//
// A "container" is a systemd unit, docker-<name>.service, running the image's program from the VM's
// own packages: haproxy:<tag> runs Debian's /usr/sbin/haproxy the way the official image's entrypoint
// does (master-worker, -W -db; SIGHUP reloads, SIGUSR1 stops), mempirate/mockhub:v0.0.6 (the tag the
// stack pins) runs the BuilderHub double. A container's environment is its image's ENV and the -e
// values, nothing of the docker CLI's own environment. Pulled images and containers are recorded in
// /var/lib/docker-double.
import { createHash, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunSpec {
  detach: boolean;
  remove: boolean;
  name?: string;
  restart?: string;
  network?: string;
  user?: string;
  volumes: string[];
  ports: string[];
  env: string[];
  /** --label KEY[=VALUE], later ones winning, as docker's ConvertKVStringsToMap keeps them. */
  labels: Record<string, string>;
  image: string;
  command: string[];
}

export type DockerCommand =
  | { kind: "image-inspect"; image: string }
  | { kind: "pull"; image: string; quiet: boolean }
  | { kind: "inspect"; field: "image" | "running"; name: string }
  | { kind: "inspect-label"; label: string; name: string }
  | { kind: "run"; spec: RunSpec }
  | { kind: "kill"; signal: string; name: string }
  | { kind: "rm"; force: boolean; name: string }
  | { kind: "start"; name: string }
  | { kind: "stop"; name: string }
  | { kind: "ps"; all: boolean; namesOnly: boolean }
  | { kind: "logs"; name: string; tail?: string; follow: boolean };

export class UsageError extends Error {}

interface FlagSpec {
  /** Option names, e.g. ["-v", "--volume"]. */
  names: string[];
  takesValue: boolean;
}

/**
 * Splits options from positionals the way docker's CLI does: options may follow positionals,
 * except for `docker run`, where everything after the image is the container's command.
 */
export function parseOptions(
  args: string[],
  flags: FlagSpec[],
  command: string,
): { options: Map<string, string[]>; positionals: string[] } {
  const options = new Map<string, string[]>();
  const positionals: string[] = [];
  const stopAtPositional = command === "run";
  let i = 0;
  while (i < args.length) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (stopAtPositional) {
        positionals.push(...args.slice(i));
        break;
      }
      positionals.push(arg);
      i++;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const flag = flags.find((f) => f.names.includes(name));
    if (!flag) {
      throw new UsageError(`unknown flag: ${name}\nSee 'docker ${command} --help'.`);
    }
    let value = "true";
    if (flag.takesValue) {
      if (eq > 0) {
        value = arg.slice(eq + 1);
      } else if (i + 1 < args.length) {
        value = args[++i];
      } else {
        throw new UsageError(`flag needs an argument: ${name}\nSee 'docker ${command} --help'.`);
      }
    } else if (eq > 0) {
      throw new UsageError(`the docker double does not take a value for ${name}`);
    }
    const key = flag.names[flag.names.length - 1];
    options.set(key, [...(options.get(key) ?? []), value]);
    i++;
  }
  return { options, positionals };
}

const flag = (takesValue: boolean, ...names: string[]): FlagSpec => ({ names, takesValue });

const RUN_FLAGS = [
  flag(false, "-d", "--detach"),
  flag(false, "--rm"),
  flag(true, "--name"),
  flag(true, "--restart"),
  flag(true, "--net", "--network"),
  flag(true, "-u", "--user"),
  flag(true, "-v", "--volume"),
  flag(true, "-p", "--publish"),
  flag(true, "-e", "--env"),
  flag(true, "-l", "--label"),
];

const FORMAT_ID = "{{.Id}}";
const FORMAT_IMAGE = "{{.Config.Image}}";
const FORMAT_RUNNING = "{{.State.Running}}";
const FORMAT_NAMES = "{{.Names}}";
/** `{{index .Config.Labels "KEY"}}`: Go's template index of the label map (a missing key is ""). */
const FORMAT_LABEL = /^\{\{\s*index\s+\.Config\.Labels\s+"([^"\\]*)"\s*\}\}$/;

/**
 * docker/cli opts/opts.go ValidateLabel (whiteSpaces is " \t", opts/file.go) and opts/parse.go
 * ConvertKVStringsToMap: KEY=VALUE or KEY alone (an empty value); the key, leading blanks aside,
 * must be non-empty and without blanks. A bad one fails as pflag reports an invalid flag value.
 */
export function parseLabels(values: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf("=");
    const key = eq < 0 ? value : value.slice(0, eq);
    const trimmed = key.replace(/^[ \t]+/, "");
    const problem =
      trimmed === "" ? `invalid label '${value}': empty name` : /[ \t]/.test(trimmed) ? `label '${trimmed}' contains whitespaces` : undefined;
    if (problem) {
      throw new UsageError(`invalid argument "${value}" for "-l, --label" flag: ${problem}\nSee 'docker run --help'.`);
    }
    labels[key] = eq < 0 ? "" : value.slice(eq + 1);
  }
  return labels;
}

function exactlyOne(positionals: string[], what: string, command: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(`the docker double supports \`docker ${command}\` with exactly one ${what}`);
  }
  return positionals[0];
}

function single(options: Map<string, string[]>, key: string): string | undefined {
  const values = options.get(key);
  return values ? values[values.length - 1] : undefined;
}

export function parseDockerArgs(argv: string[]): DockerCommand {
  const [command, ...rest] = argv;
  switch (command) {
    case "image": {
      const [sub, ...args] = rest;
      if (sub !== "inspect") {
        break;
      }
      const { options, positionals } = parseOptions(args, [flag(true, "-f", "--format")], "image inspect");
      if (single(options, "--format") !== FORMAT_ID) {
        throw new UsageError(`the docker double supports \`docker image inspect\` only with --format '${FORMAT_ID}'`);
      }
      return { kind: "image-inspect", image: exactlyOne(positionals, "image", "image inspect") };
    }
    case "pull": {
      const { options, positionals } = parseOptions(rest, [flag(false, "-q", "--quiet")], "pull");
      return { kind: "pull", image: exactlyOne(positionals, "image", "pull"), quiet: options.has("--quiet") };
    }
    case "inspect": {
      const { options, positionals } = parseOptions(rest, [flag(true, "-f", "--format")], "inspect");
      const format = single(options, "--format");
      const label = format === undefined ? undefined : FORMAT_LABEL.exec(format);
      if (label) {
        return { kind: "inspect-label", label: label[1], name: exactlyOne(positionals, "container", "inspect") };
      }
      const field = format === FORMAT_IMAGE ? "image" : format === FORMAT_RUNNING ? "running" : undefined;
      if (!field) {
        throw new UsageError(
          `the docker double supports \`docker inspect\` only with --format '${FORMAT_IMAGE}', '${FORMAT_RUNNING}' ` +
            `or '{{index .Config.Labels "KEY"}}'`,
        );
      }
      return { kind: "inspect", field, name: exactlyOne(positionals, "container", "inspect") };
    }
    case "run": {
      const { options, positionals } = parseOptions(rest, RUN_FLAGS, "run");
      if (positionals.length === 0) {
        throw new UsageError('"docker run" requires at least 1 argument.\nSee \'docker run --help\'.');
      }
      const [image, ...cmd] = positionals;
      return {
        kind: "run",
        spec: {
          detach: options.has("--detach"),
          remove: options.has("--rm"),
          name: single(options, "--name"),
          restart: single(options, "--restart"),
          network: single(options, "--network"),
          user: single(options, "--user"),
          volumes: options.get("--volume") ?? [],
          ports: options.get("--publish") ?? [],
          env: options.get("--env") ?? [],
          labels: parseLabels(options.get("--label") ?? []),
          image,
          command: cmd,
        },
      };
    }
    case "kill": {
      const { options, positionals } = parseOptions(rest, [flag(true, "-s", "--signal")], "kill");
      const signal = (single(options, "--signal") ?? "KILL").toUpperCase().replace(/^SIG/, "");
      return { kind: "kill", signal, name: exactlyOne(positionals, "container", "kill") };
    }
    case "rm": {
      const { options, positionals } = parseOptions(rest, [flag(false, "-f", "--force")], "rm");
      return { kind: "rm", force: options.has("--force"), name: exactlyOne(positionals, "container", "rm") };
    }
    case "start":
    case "stop": {
      const { positionals } = parseOptions(rest, [], command);
      return { kind: command, name: exactlyOne(positionals, "container", command) };
    }
    case "ps": {
      const { options, positionals } = parseOptions(rest, [flag(false, "-a", "--all"), flag(true, "--format")], "ps");
      const format = single(options, "--format");
      if (positionals.length > 0 || (format !== undefined && format !== FORMAT_NAMES)) {
        throw new UsageError(`the docker double supports \`docker ps [-a] [--format '${FORMAT_NAMES}']\` only`);
      }
      return { kind: "ps", all: options.has("--all"), namesOnly: format === FORMAT_NAMES };
    }
    case "logs": {
      const { options, positionals } = parseOptions(
        rest,
        [flag(false, "-f", "--follow"), flag(true, "-n", "--tail")],
        "logs",
      );
      return {
        kind: "logs",
        name: exactlyOne(positionals, "container", "logs"),
        tail: single(options, "--tail"),
        follow: options.has("--follow"),
      };
    }
  }
  throw new UsageError(`the docker double does not support \`docker ${argv.join(" ")}\``);
}

// ---- images ----

const HAPROXY = /^(?:(?:docker\.io\/)?library\/)?haproxy(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@sha256:([a-f0-9]{64}))?$/;
const HAPROXY_TAG = /^(latest|lts|\d+(\.\d+){0,2}(-[a-z0-9]+)*)$/;
const MOCKHUB = /^(?:docker\.io\/)?mempirate\/mockhub(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$/;
/** The one mockhub tag the double serves: the one the stack pins (test/doubles/mockhub.ts follows its source). */
export const MOCKHUB_TAG = "v0.0.6";

export type ImageKind = "haproxy" | "mockhub";

/** Which image the ref names, or an error exactly like Docker Hub's for an image it would not serve. */
export function resolveImage(ref: string): { kind: ImageKind } | { error: string } {
  const haproxy = HAPROXY.exec(ref);
  if (haproxy) {
    const tag = haproxy[1] ?? "latest";
    if (!HAPROXY_TAG.test(tag)) {
      return { error: `Error response from daemon: manifest for haproxy:${tag} not found: manifest unknown: manifest unknown` };
    }
    return { kind: "haproxy" };
  }
  const mockhub = MOCKHUB.exec(ref);
  if (mockhub) {
    const tag = mockhub[1] ?? "latest";
    if (tag !== MOCKHUB_TAG) {
      return {
        error: `Error response from daemon: the docker double serves mempirate/mockhub only as ${MOCKHUB_TAG}, the tag the stack pins, not ${tag}`,
      };
    }
    return { kind: "mockhub" };
  }
  const repository = ref.split(/[:@]/)[0];
  return {
    error:
      `Error response from daemon: pull access denied for ${repository}, repository does not exist or may ` +
      "require 'docker login': denied: requested access to the resource is denied",
  };
}

export function imageId(ref: string): string {
  return `sha256:${createHash("sha256").update(`sandbox-image:${ref}`).digest("hex")}`;
}

const HAPROXY_CONFIG = "/usr/local/etc/haproxy/haproxy.cfg";

/** Docker's PATH for an image that sets none, and what both images' Debian bases set. */
const IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The environment an image's ENV gives every container, before -e. mockhub's comes from
 * BuilderNet/FlowProxy simulation/mockhub/Dockerfile at b56e719 (`ENV SYSTEM_PORT=5544`).
 */
export const IMAGE_ENV: Record<ImageKind, Record<string, string>> = {
  haproxy: { PATH: IMAGE_PATH },
  mockhub: { PATH: IMAGE_PATH, SYSTEM_PORT: "5544" },
};

/** The container's process environment: the image's ENV, then each -e NAME=VALUE in order. */
export function containerEnv(kind: ImageKind, env: string[]): Record<string, string> {
  const result = { ...IMAGE_ENV[kind] };
  for (const variable of env) {
    const eq = variable.indexOf("=");
    result[variable.slice(0, eq)] = variable.slice(eq + 1);
  }
  return result;
}

/**
 * The program a container of this image runs. For haproxy it mirrors the official image's
 * entrypoint: a command starting with an option or with `haproxy` gets `haproxy -W -db` in front.
 */
export function containerArgv(kind: ImageKind, command: string[], doublesDir: string): string[] {
  if (kind === "mockhub") {
    if (command.length > 0) {
      throw new UsageError("the docker double runs mempirate/mockhub only with its default command");
    }
    return ["/usr/bin/node", path.join(doublesDir, "mockhub.js")];
  }
  let args = command.length > 0 ? command : ["haproxy", "-f", HAPROXY_CONFIG];
  if (args[0].startsWith("-")) {
    args = ["haproxy", ...args];
  }
  if (args[0] !== "haproxy") {
    throw new UsageError(`the docker double runs only haproxy in the haproxy image, not ${args[0]}`);
  }
  return ["/usr/sbin/haproxy", "-W", "-db", ...args.slice(1)];
}

// ---- engine ----

export interface ContainerRecord {
  id: string;
  name: string;
  image: string;
  restart: string;
  created: string;
  /** Absent in records an older double wrote: no labels. */
  labels?: Record<string, string>;
}

export interface Host {
  /** systemctl with captured output. */
  systemctl(args: string[]): Result;
  /** Runs a program in the foreground with inherited stdio and exactly `env`; returns its exit status. */
  exec(argv: string[], env: Record<string, string>): number;
  /** journalctl with inherited stdio. */
  journal(args: string[]): number;
}

export interface EngineOptions {
  stateDir: string;
  unitDir: string;
  doublesDir: string;
  host: Host;
}

const ok = (stdout = ""): Result => ({ code: 0, stdout, stderr: "" });
const fail = (stderr: string, code = 1): Result => ({ code, stdout: "", stderr: `${stderr}\n` });

const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Quotes one word for a unit file: systemd expands %, $ and backslashes inside quotes. */
export function unitQuote(word: string): string {
  return `"${word.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%").replace(/\$/g, "$$$$")}"`;
}

export class DockerEngine {
  constructor(private readonly options: EngineOptions) {}

  private get imagesFile(): string {
    return path.join(this.options.stateDir, "images.json");
  }

  private containerFile(name: string): string {
    return path.join(this.options.stateDir, "containers", `${name}.json`);
  }

  unitName(name: string): string {
    return `docker-${name}.service`;
  }

  private images(): Record<string, string> {
    try {
      return JSON.parse(fs.readFileSync(this.imagesFile, "utf8")) as Record<string, string>;
    } catch {
      return {};
    }
  }

  private container(name: string): ContainerRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.containerFile(name), "utf8")) as ContainerRecord;
    } catch {
      return undefined;
    }
  }

  private containers(): ContainerRecord[] {
    const dir = path.join(this.options.stateDir, "containers");
    if (!fs.existsSync(dir)) {
      return [];
    }
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => this.container(f.slice(0, -5)))
      .filter((c): c is ContainerRecord => c !== undefined);
  }

  private writeJson(file: string, value: unknown): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(value, null, 2));
    fs.renameSync(`${file}.tmp`, file);
  }

  private running(name: string): boolean {
    return this.options.host.systemctl(["is-active", "--quiet", this.unitName(name)]).code === 0;
  }

  private systemctlOrFail(args: string[]): void {
    const result = this.options.host.systemctl(args);
    if (result.code !== 0) {
      throw new Error(`systemctl ${args.join(" ")} failed: ${result.stderr.trim() || result.stdout.trim()}`);
    }
  }

  private daemonRunning(): boolean {
    return this.options.host.systemctl(["is-active", "--quiet", "docker.service"]).code === 0;
  }

  execute(command: DockerCommand): Result {
    if (!this.daemonRunning()) {
      return fail(
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
      );
    }
    switch (command.kind) {
      case "image-inspect": {
        const id = this.images()[command.image];
        return id ? ok(`${id}\n`) : fail(`Error: No such image: ${command.image}`);
      }
      case "pull":
        return this.pull(command.image, command.quiet);
      case "inspect": {
        const record = this.container(command.name);
        if (!record) {
          return fail(`Error: No such object: ${command.name}`);
        }
        return ok(command.field === "image" ? `${record.image}\n` : `${this.running(command.name)}\n`);
      }
      case "inspect-label": {
        const record = this.container(command.name);
        if (!record) {
          return fail(`Error: No such object: ${command.name}`);
        }
        return ok(`${record.labels?.[command.label] ?? ""}\n`);
      }
      case "run":
        return this.run(command.spec);
      case "kill":
        return this.kill(command.name, command.signal);
      case "rm":
        return this.remove(command.name, command.force);
      case "start":
        return this.start(command.name);
      case "stop": {
        if (!this.container(command.name)) {
          return fail(`Error response from daemon: No such container: ${command.name}`);
        }
        // Like docker, a stopped unless-stopped container stays stopped across reboots.
        this.systemctlOrFail(["disable", "--now", "--quiet", this.unitName(command.name)]);
        return ok(`${command.name}\n`);
      }
      case "ps":
        return this.ps(command.all, command.namesOnly);
      case "logs": {
        if (!this.container(command.name)) {
          return fail(`Error response from daemon: No such container: ${command.name}`);
        }
        const args = ["-u", this.unitName(command.name), "-o", "cat", "--no-pager"];
        if (command.tail !== undefined) {
          args.push("-n", command.tail === "all" ? "all" : command.tail);
        }
        if (command.follow) {
          args.push("-f");
        }
        return { code: this.options.host.journal(args), stdout: "", stderr: "" };
      }
    }
  }

  private pull(ref: string, quiet: boolean): Result {
    const resolved = resolveImage(ref);
    if ("error" in resolved) {
      return fail(resolved.error);
    }
    const images = this.images();
    const present = images[ref] !== undefined;
    images[ref] = imageId(ref);
    this.writeJson(this.imagesFile, images);
    if (quiet) {
      return ok(`${ref}\n`);
    }
    const status = present ? `Image is up to date for ${ref}` : `Downloaded newer image for ${ref}`;
    return ok(`Pulling ${ref} (sandbox docker double)\nDigest: ${images[ref]}\nStatus: ${status}\n${ref}\n`);
  }

  private validateRun(spec: RunSpec): string | undefined {
    if (spec.detach && spec.remove) {
      return "the docker double does not support --rm together with -d";
    }
    if (!spec.detach && !spec.remove) {
      return "the docker double runs a container either detached (-d) or as a one-off (--rm)";
    }
    if (spec.detach && !spec.name) {
      return "the docker double needs --name for a detached container";
    }
    if (spec.name !== undefined && !CONTAINER_NAME.test(spec.name)) {
      return `Invalid container name (${spec.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`;
    }
    if (spec.user !== undefined && spec.user !== "root" && spec.user !== "0") {
      return "the docker double runs containers as root only (--user root)";
    }
    if (spec.restart !== undefined && !["no", "always", "unless-stopped", "on-failure"].includes(spec.restart)) {
      return `invalid restart policy '${spec.restart}'`;
    }
    if (spec.network !== undefined && !["host", "none", "bridge"].includes(spec.network)) {
      return `the docker double supports --network host, none or bridge, not ${spec.network}`;
    }
    for (const volume of spec.volumes) {
      const [source, target, mode] = volume.split(":");
      if (!source.startsWith("/") || source !== target || (mode !== undefined && mode !== "ro" && mode !== "rw")) {
        return `the docker double supports only bind mounts at the same path (SRC:SRC[:ro]), not ${volume}`;
      }
    }
    for (const port of spec.ports) {
      const [hostPort, containerPort, extra] = port.split(":");
      if (extra !== undefined || hostPort !== containerPort) {
        return `the docker double publishes a port only on the same number (N:N), not ${port}`;
      }
    }
    for (const variable of spec.env) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(variable)) {
        return `the docker double needs -e NAME=VALUE, not ${variable}`;
      }
    }
    return undefined;
  }

  private run(spec: RunSpec): Result {
    const problem = this.validateRun(spec);
    if (problem) {
      return fail(`docker: ${problem}.`, 125);
    }
    const resolved = resolveImage(spec.image);
    if ("error" in resolved) {
      return fail(`Unable to find image '${spec.image}' locally\ndocker: ${resolved.error}.`, 125);
    }
    // Like docker, a missing image is pulled first.
    if (this.images()[spec.image] === undefined) {
      this.pull(spec.image, true);
    }
    const argv = containerArgv(resolved.kind, spec.command, this.options.doublesDir);
    const env = containerEnv(resolved.kind, spec.env);
    if (spec.remove) {
      return { code: this.options.host.exec(argv, env), stdout: "", stderr: "" };
    }
    const name = spec.name as string;
    const existing = this.container(name);
    if (existing) {
      return fail(
        `docker: Error response from daemon: Conflict. The container name "/${name}" is already in use by container ` +
          `"${existing.id}". You have to remove (or rename) that container to be able to reuse that name.`,
        125,
      );
    }
    const record: ContainerRecord = {
      id: randomBytes(32).toString("hex"),
      name,
      image: spec.image,
      restart: spec.restart ?? "no",
      created: new Date().toISOString(),
      labels: spec.labels,
    };
    this.writeUnit(record, resolved.kind, argv, env);
    this.writeJson(this.containerFile(name), record);
    this.systemctlOrFail(["daemon-reload"]);
    this.startUnit(record);
    return ok(`${record.id}\n`);
  }

  private writeUnit(record: ContainerRecord, kind: ImageKind, argv: string[], env: Record<string, string>): void {
    const restart = { no: "no", "on-failure": "on-failure", always: "always", "unless-stopped": "always" }[
      record.restart
    ];
    const lines = [
      "# Written by the sandbox's docker double: the container's process as a systemd service.",
      "[Unit]",
      `Description=Container ${record.name} (${record.image}) of the docker double`,
      "After=docker.service",
      "",
      "[Service]",
      `ExecStart=${argv.map(unitQuote).join(" ")}`,
      ...Object.entries(env).map(([k, v]) => `Environment=${unitQuote(`${k}=${v}`)}`),
      `Restart=${restart}`,
      "RestartSec=1",
      // The official haproxy image stops with SIGUSR1 (soft stop), as its STOPSIGNAL says.
      ...(kind === "haproxy" ? ["KillSignal=SIGUSR1"] : []),
      "",
      "[Install]",
      "WantedBy=multi-user.target",
      "",
    ];
    fs.mkdirSync(this.options.unitDir, { recursive: true });
    fs.writeFileSync(path.join(this.options.unitDir, this.unitName(record.name)), lines.join("\n"));
  }

  private startUnit(record: ContainerRecord): void {
    const survivesReboot = record.restart === "always" || record.restart === "unless-stopped";
    this.systemctlOrFail(
      survivesReboot ? ["enable", "--now", "--quiet", this.unitName(record.name)] : ["start", this.unitName(record.name)],
    );
  }

  private kill(name: string, signal: string): Result {
    if (!this.container(name)) {
      return fail(`Error response from daemon: No such container: ${name}`);
    }
    if (!this.running(name)) {
      return fail(`Error response from daemon: cannot kill container: ${name}: container is not running`);
    }
    this.systemctlOrFail(["kill", "--kill-whom=main", `--signal=SIG${signal}`, this.unitName(name)]);
    return ok(`${name}\n`);
  }

  private remove(name: string, force: boolean): Result {
    const record = this.container(name);
    if (!record) {
      // docker rm -f ignores a container that does not exist.
      return force ? ok() : fail(`Error response from daemon: No such container: ${name}`);
    }
    if (this.running(name) && !force) {
      return fail(
        `Error response from daemon: cannot remove container "/${name}": container is running: stop the container ` +
          "before removing or force remove",
      );
    }
    const unit = this.unitName(name);
    // Forced removal kills like docker does (SIGKILL), not the image's graceful stop signal.
    this.options.host.systemctl(["kill", "--signal=SIGKILL", unit]);
    this.options.host.systemctl(["disable", "--now", "--quiet", unit]);
    fs.rmSync(path.join(this.options.unitDir, unit), { force: true });
    fs.rmSync(this.containerFile(name), { force: true });
    this.systemctlOrFail(["daemon-reload"]);
    this.options.host.systemctl(["reset-failed", unit]);
    return ok(`${name}\n`);
  }

  private start(name: string): Result {
    const record = this.container(name);
    if (!record) {
      return fail(`Error response from daemon: No such container: ${name}\nError: failed to start containers: ${name}`);
    }
    this.startUnit(record);
    return ok(`${name}\n`);
  }

  private ps(all: boolean, namesOnly: boolean): Result {
    const rows = this.containers()
      .map((c) => ({ record: c, running: this.running(c.name) }))
      .filter((row) => all || row.running);
    if (namesOnly) {
      return ok(rows.map((row) => `${row.record.name}\n`).join(""));
    }
    const table = [["CONTAINER ID", "IMAGE", "STATUS", "NAMES"]].concat(
      rows.map((row) => [row.record.id.slice(0, 12), row.record.image, row.running ? "Up" : "Exited", row.record.name]),
    );
    const widths = table[0].map((_, col) => Math.max(...table.map((r) => r[col].length)));
    return ok(table.map((r) => r.map((cell, col) => cell.padEnd(widths[col] + 3)).join("").trimEnd() + "\n").join(""));
  }
}

export const systemHost: Host = {
  systemctl(args) {
    const result = spawnSync("systemctl", args, { encoding: "utf8" });
    return { code: result.status ?? 1, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
  },
  exec(argv, env) {
    // Like a container, the program sees only its own environment, not the docker CLI's.
    const result = spawnSync(argv[0], argv.slice(1), { stdio: "inherit", env });
    return result.status ?? 1;
  },
  journal(args) {
    return spawnSync("journalctl", args, { stdio: "inherit" }).status ?? 1;
  },
};

function main(): void {
  let result: Result;
  try {
    const command = parseDockerArgs(process.argv.slice(2));
    const engine = new DockerEngine({
      stateDir: "/var/lib/docker-double",
      unitDir: "/etc/systemd/system",
      doublesDir: __dirname,
      host: systemHost,
    });
    result = engine.execute(command);
  } catch (err) {
    result = fail(`docker: ${(err as Error).message}`, 125);
  }
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  process.exitCode = result.code;
}

if (require.main === module) {
  main();
}
