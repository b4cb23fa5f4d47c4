import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { containerArgv, DockerEngine, Host, IMAGE_ENV, parseDockerArgs, resolveImage, Result, systemHost, unitQuote, UsageError } from "../doubles/docker";

const HAPROXY_DIR = "/usr/local/etc/haproxy";
const MOCKHUB_IMAGE = "mempirate/mockhub:v0.0.6";
const SPEC_LABEL = "flowproxy-staging.spec";

/** A systemd that remembers which units run; enough for the engine's bookkeeping. */
class FakeHost implements Host {
  readonly active = new Set<string>(["docker.service"]);
  readonly calls: string[][] = [];
  readonly execs: { argv: string[]; env: Record<string, string> }[] = [];
  execStatus = 0;

  systemctl(args: string[]): Result {
    this.calls.push(args);
    const unit = args[args.length - 1];
    if (args[0] === "is-active") {
      return { code: this.active.has(unit) ? 0 : 3, stdout: "", stderr: "" };
    }
    if ((args[0] === "enable" && args.includes("--now")) || args[0] === "start") {
      this.active.add(unit);
    }
    if (args[0] === "disable" || args[0] === "stop") {
      this.active.delete(unit);
    }
    return { code: 0, stdout: "", stderr: "" };
  }

  exec(argv: string[], env: Record<string, string>): number {
    this.execs.push({ argv, env });
    return this.execStatus;
  }

  journal(): number {
    return 0;
  }
}

function engine(): { docker: (...argv: string[]) => Result; host: FakeHost; unitDir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "docker-double-"));
  const host = new FakeHost();
  const unitDir = path.join(dir, "units");
  const e = new DockerEngine({ stateDir: path.join(dir, "state"), unitDir, doublesDir: "/opt/sandbox", host });
  return { docker: (...argv) => e.execute(parseDockerArgs(argv)), host, unitDir };
}

test("parses the provisioning script's invocations with options in any order", () => {
  const a = parseDockerArgs(["run", "-d", "--name", "haproxy", "--restart", "unless-stopped", "--network", "host", "--user", "root", "-v", `${HAPROXY_DIR}:${HAPROXY_DIR}:ro`, "haproxy:3.0.6"]);
  const b = parseDockerArgs(["run", `--volume=${HAPROXY_DIR}:${HAPROXY_DIR}:ro`, "--user=root", "--net=host", "--restart=unless-stopped", "--name=haproxy", "--detach", "haproxy:3.0.6"]);
  assert.deepEqual(a, b);
  assert.deepEqual(parseDockerArgs(["inspect", "--format", "{{.State.Running}}", "haproxy"]), { kind: "inspect", field: "running", name: "haproxy" });
  assert.deepEqual(parseDockerArgs(["inspect", "haproxy", "-f", "{{.Config.Image}}"]).kind, "inspect");
  assert.deepEqual(parseDockerArgs(["kill", "-s", "HUP", "haproxy"]), { kind: "kill", signal: "HUP", name: "haproxy" });
  assert.deepEqual(parseDockerArgs(["kill", "--signal=SIGHUP", "haproxy"]), { kind: "kill", signal: "HUP", name: "haproxy" });
  assert.deepEqual(parseDockerArgs(["pull", "--quiet", "haproxy:3.0.6"]), { kind: "pull", image: "haproxy:3.0.6", quiet: true });
  assert.deepEqual(parseDockerArgs(["image", "inspect", "--format", "{{.Id}}", "haproxy:3.0.6"]), { kind: "image-inspect", image: "haproxy:3.0.6" });
  const run = parseDockerArgs(["run", "--rm", "--network", "none", "-v", `${HAPROXY_DIR}:${HAPROXY_DIR}:ro`, "haproxy:3.0.6", "haproxy", "-c", "-f", `${HAPROXY_DIR}/haproxy.cfg`]);
  assert.ok(run.kind === "run");
  assert.deepEqual(run.spec.command, ["haproxy", "-c", "-f", `${HAPROXY_DIR}/haproxy.cfg`]);
});

test("options stop at the image: what follows is the container's command", () => {
  const run = parseDockerArgs(["run", "--rm", "haproxy:3.0.6", "-c", "--name", "x"]);
  assert.ok(run.kind === "run");
  assert.equal(run.spec.name, undefined);
  assert.deepEqual(run.spec.command, ["-c", "--name", "x"]);
});

test("refuses unknown flags and invocations like docker's usage errors", () => {
  assert.throws(() => parseDockerArgs(["run", "--privileged", "haproxy:3.0.6"]), (e: unknown) => e instanceof UsageError && /unknown flag: --privileged/.test(e.message));
  assert.throws(() => parseDockerArgs(["compose", "up"]), /does not support `docker compose up`/);
  assert.throws(() => parseDockerArgs(["inspect", "--format", "{{json .}}", "haproxy"]), /only with --format/);
  assert.throws(() => parseDockerArgs(["run", "-d"]), /requires at least 1 argument/);
});

test("the haproxy image runs Debian's haproxy as the official entrypoint would", () => {
  assert.deepEqual(containerArgv("haproxy", [], "/opt/sandbox"), ["/usr/sbin/haproxy", "-W", "-db", "-f", `${HAPROXY_DIR}/haproxy.cfg`]);
  assert.deepEqual(containerArgv("haproxy", ["haproxy", "-c", "-f", "x.cfg"], "/opt/sandbox"), ["/usr/sbin/haproxy", "-W", "-db", "-c", "-f", "x.cfg"]);
  assert.deepEqual(containerArgv("haproxy", ["-c", "-f", "x.cfg"], "/opt/sandbox"), ["/usr/sbin/haproxy", "-W", "-db", "-c", "-f", "x.cfg"]);
  assert.throws(() => containerArgv("haproxy", ["sh", "-c", "id"], "/opt/sandbox"), /only haproxy/);
  assert.deepEqual(containerArgv("mockhub", [], "/opt/sandbox"), ["/usr/bin/node", "/opt/sandbox/mockhub.js"]);
});

test("knows only the images the stack uses, refusing others as Docker Hub would", () => {
  assert.deepEqual(resolveImage("haproxy:3.0.6"), { kind: "haproxy" });
  assert.deepEqual(resolveImage(`haproxy:3.0.6@sha256:${"a".repeat(64)}`), { kind: "haproxy" });
  assert.deepEqual(resolveImage(MOCKHUB_IMAGE), { kind: "mockhub" });
  assert.match((resolveImage("haproxy:not-a-version") as { error: string }).error, /manifest unknown/);
  assert.match((resolveImage("nginx:latest") as { error: string }).error, /pull access denied for nginx/);
});

test("pull records the image; image inspect answers only for pulled images", () => {
  const { docker } = engine();
  assert.equal(docker("image", "inspect", "--format", "{{.Id}}", "haproxy:3.0.6").code, 1);
  const pulled = docker("pull", "-q", "haproxy:3.0.6");
  assert.deepEqual(pulled, { code: 0, stdout: "haproxy:3.0.6\n", stderr: "" });
  assert.match(docker("image", "inspect", "--format", "{{.Id}}", "haproxy:3.0.6").stdout, /^sha256:[0-9a-f]{64}\n$/);
  assert.equal(docker("pull", "nginx").code, 1);
});

test("every command fails like docker's CLI while the engine (docker.service) is stopped", () => {
  const { docker, host } = engine();
  host.active.delete("docker.service");
  const result = docker("ps", "--format", "{{.Names}}");
  assert.equal(result.code, 1);
  assert.match(result.stderr, /Cannot connect to the Docker daemon/);
});

test("a detached container becomes an enabled unit that restarts and stops like the image", () => {
  const { docker, host, unitDir } = engine();
  const run = docker("run", "-d", "--name", "haproxy", "--restart", "unless-stopped", "--network", "host", "--user", "root", "-v", `${HAPROXY_DIR}:${HAPROXY_DIR}:ro`, "haproxy:3.0.6");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^[0-9a-f]{64}\n$/);
  const unit = fs.readFileSync(path.join(unitDir, "docker-haproxy.service"), "utf8");
  assert.match(unit, /^ExecStart="\/usr\/sbin\/haproxy" "-W" "-db" "-f" "\/usr\/local\/etc\/haproxy\/haproxy.cfg"$/m);
  assert.match(unit, /^Restart=always$/m);
  assert.match(unit, /^KillSignal=SIGUSR1$/m);
  assert.ok(host.active.has("docker-haproxy.service"));
  assert.deepEqual(docker("inspect", "--format", "{{.Config.Image}}", "haproxy").stdout, "haproxy:3.0.6\n");
  assert.deepEqual(docker("inspect", "--format", "{{.State.Running}}", "haproxy").stdout, "true\n");
  assert.deepEqual(docker("ps", "--format", "{{.Names}}").stdout, "haproxy\n");

  const again = docker("run", "-d", "--name", "haproxy", "haproxy:3.0.6");
  assert.equal(again.code, 125);
  assert.match(again.stderr, /The container name "\/haproxy" is already in use/);
});

test("kill sends the signal to the main process; rm -f removes; start restarts", () => {
  const { docker, host, unitDir } = engine();
  docker("run", "-d", "--name", "haproxy", "--restart", "unless-stopped", "haproxy:3.0.6");
  assert.equal(docker("kill", "-s", "HUP", "haproxy").code, 0);
  assert.ok(host.calls.some((c) => c.join(" ") === "kill --kill-whom=main --signal=SIGHUP docker-haproxy.service"));

  assert.equal(docker("stop", "haproxy").code, 0);
  assert.equal(docker("inspect", "--format", "{{.State.Running}}", "haproxy").stdout, "false\n");
  assert.match(docker("kill", "-s", "HUP", "haproxy").stderr, /is not running/);
  assert.equal(docker("start", "haproxy").code, 0);
  assert.equal(docker("inspect", "--format", "{{.State.Running}}", "haproxy").stdout, "true\n");

  assert.match(docker("rm", "haproxy").stderr, /container is running/);
  assert.deepEqual(docker("rm", "-f", "haproxy"), { code: 0, stdout: "haproxy\n", stderr: "" });
  assert.equal(fs.existsSync(path.join(unitDir, "docker-haproxy.service")), false);
  assert.match(docker("inspect", "--format", "{{.Config.Image}}", "haproxy").stderr, /No such object: haproxy/);
  assert.equal(docker("rm", "-f", "haproxy").code, 0, "rm -f ignores a missing container");
  assert.match(docker("start", "haproxy").stderr, /No such container: haproxy/);
});

test("a one-off --rm container runs in the foreground and returns its status", () => {
  const { docker, host } = engine();
  host.execStatus = 1;
  const result = docker("run", "--rm", "--network", "none", "-v", `${HAPROXY_DIR}:${HAPROXY_DIR}:ro`, "haproxy:3.0.6", "haproxy", "-c", "-f", `${HAPROXY_DIR}/haproxy.cfg`);
  assert.equal(result.code, 1);
  assert.deepEqual(host.execs[0].argv, ["/usr/sbin/haproxy", "-W", "-db", "-c", "-f", `${HAPROXY_DIR}/haproxy.cfg`]);
});

test("mockhub gets its environment; unsupported run options exit 125", () => {
  const { docker, unitDir } = engine();
  const run = docker("run", "-d", "--name", "mockhub", "--restart", "unless-stopped", "-p", "3000:3000", "-e", "ENABLE_TLS=true", "-e", "SYSTEM_PORT=5544", MOCKHUB_IMAGE);
  assert.equal(run.code, 0, run.stderr);
  const unit = fs.readFileSync(path.join(unitDir, "docker-mockhub.service"), "utf8");
  assert.match(unit, /^Environment="ENABLE_TLS=true"$/m);
  assert.match(unit, /^Environment="SYSTEM_PORT=5544"$/m);
  assert.equal(docker("run", "-d", "--name", "x", "-p", "8080:3000", MOCKHUB_IMAGE).code, 125);
  assert.equal(docker("run", "-d", "--name", "y", "-v", "/a:/b", "haproxy:3.0.6").code, 125);
  assert.equal(docker("run", "-d", "haproxy:3.0.6").code, 125);
  assert.equal(docker("run", "-d", "--name", "z", "--user", "haproxy", "haproxy:3.0.6").code, 125);
  assert.equal(docker("run", "--rm", "nginx").code, 125);
});

test("unit file words are quoted against systemd's expansion", () => {
  assert.equal(unitQuote('a "b" $HOME 100% \\'), '"a \\"b\\" $$HOME 100%% \\\\"');
});

// ---- the pinned mockhub image ----

test("mempirate/mockhub is served only at the tag the stack pins, v0.0.6", () => {
  assert.deepEqual(resolveImage(`docker.io/${MOCKHUB_IMAGE}`), { kind: "mockhub" });
  for (const ref of ["mempirate/mockhub:latest", "mempirate/mockhub", "mempirate/mockhub:v0.0.3"]) {
    assert.match((resolveImage(ref) as { error: string }).error, /only as v0\.0\.6, the tag the stack pins/, ref);
  }
  const { docker } = engine();
  assert.equal(docker("pull", "mempirate/mockhub:latest").code, 1);
  assert.equal(docker("run", "-d", "--name", "mockhub", "mempirate/mockhub:latest").code, 125);
});

// The image's ENV (BuilderNet/FlowProxy simulation/mockhub/Dockerfile at b56e719: ENV SYSTEM_PORT=5544).
test("a mockhub container without -e SYSTEM_PORT gets the image's 5544", () => {
  const { docker, unitDir } = engine();
  assert.equal(docker("run", "-d", "--name", "mockhub", MOCKHUB_IMAGE).code, 0);
  assert.match(fs.readFileSync(path.join(unitDir, "docker-mockhub.service"), "utf8"), /^Environment="SYSTEM_PORT=5544"$/m);
});

// ---- labels: docker run --label and docker inspect --format '{{index .Config.Labels "KEY"}}' ----

test("run --label is repeatable and inspect prints each label's value", () => {
  const { docker } = engine();
  const run = docker("run", "-d", "--name", "mockhub", "--label", `${SPEC_LABEL}=image ENABLE_TLS=true`, "-l", "other=x=y", MOCKHUB_IMAGE);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(docker("inspect", "--format", `{{index .Config.Labels "${SPEC_LABEL}"}}`, "mockhub"), { code: 0, stdout: "image ENABLE_TLS=true\n", stderr: "" });
  assert.equal(docker("inspect", "-f", '{{index .Config.Labels "other"}}', "mockhub").stdout, "x=y\n");
});

// docker/cli opts/parse.go ConvertKVStringsToMap: the last value of a key wins; KEY alone is "".
test("a repeated label keeps its last value and a label without = is empty", () => {
  const run = parseDockerArgs(["run", "-d", "--name", "a", "--label", "k=1", "--label=k=2", "-l", "bare", MOCKHUB_IMAGE]);
  assert.ok(run.kind === "run");
  assert.deepEqual(run.spec.labels, { k: "2", bare: "" });
});

// Go's template `index` of a map answers the zero value for a missing key.
test("inspect prints an empty line for a label the container does not have", () => {
  const { docker } = engine();
  docker("run", "-d", "--name", "haproxy", "haproxy:3.0.6");
  assert.deepEqual(docker("inspect", "--format", `{{index .Config.Labels "${SPEC_LABEL}"}}`, "haproxy"), { code: 0, stdout: "\n", stderr: "" });
});

test("inspect of a label on a missing container fails like docker: No such object, exit 1", () => {
  const { docker } = engine();
  assert.deepEqual(docker("inspect", "--format", `{{index .Config.Labels "${SPEC_LABEL}"}}`, "mockhub"), { code: 1, stdout: "", stderr: "Error: No such object: mockhub\n" });
});

// docker/cli opts/opts.go ValidateLabel, reported as pflag reports a bad flag value.
test("a label without a name is refused as docker's flag parser refuses it", () => {
  assert.throws(
    () => parseDockerArgs(["run", "-d", "--name", "a", "--label", "=x", MOCKHUB_IMAGE]),
    (e: unknown) => e instanceof UsageError && e.message.startsWith(`invalid argument "=x" for "-l, --label" flag: invalid label '=x': empty name`),
  );
  assert.throws(() => parseDockerArgs(["run", "-d", "--name", "a", "-l", "a b=c", MOCKHUB_IMAGE]), /label 'a b' contains whitespaces/);
});

// ---- -e reaches the container's process ----

test("-e values reach a detached container's process through its unit's environment", () => {
  const { docker, unitDir } = engine();
  const run = docker("run", "-d", "--name", "haproxy", "-e", "FLOWPROXY_SYSTEM_API=tcp", "haproxy:3.0.6");
  assert.equal(run.code, 0, run.stderr);
  assert.match(fs.readFileSync(path.join(unitDir, "docker-haproxy.service"), "utf8"), /^Environment="FLOWPROXY_SYSTEM_API=tcp"$/m);
});

test("-e values reach a one-off --rm container's process, with the image's environment and nothing else", () => {
  const { docker, host } = engine();
  docker("run", "--rm", "--network", "none", "-e", "FLOWPROXY_SYSTEM_API=tcp", "haproxy:3.0.6", "haproxy", "-c", "-f", `${HAPROXY_DIR}/haproxy.cfg`);
  assert.deepEqual(host.execs[0].env, { ...IMAGE_ENV.haproxy, FLOWPROXY_SYSTEM_API: "tcp" });
});

test("the host runs a one-off container's program with exactly the container's environment", () => {
  const check = ["/bin/sh", "-c", 'test "$FLOWPROXY_SYSTEM_API" = tcp && test -z "${FROM_THE_CLI+set}"'];
  process.env.FROM_THE_CLI = "leaks";
  try {
    assert.equal(systemHost.exec(check, { PATH: "/usr/bin:/bin", FLOWPROXY_SYSTEM_API: "tcp" }), 0);
    assert.equal(systemHost.exec(check, { PATH: "/usr/bin:/bin", FLOWPROXY_SYSTEM_API: "http" }), 1);
  } finally {
    delete process.env.FROM_THE_CLI;
  }
});
