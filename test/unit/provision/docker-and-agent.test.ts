// The steps of provision/common.sh around Docker and the Azure agent, run in bash with the script's
// own definitions and stub commands (docker, systemctl, apt-mark, dpkg-query, sleep) that record
// how they were called: the agent held while a run lasts and released after it, an operator's hold
// left alone; dockerd's settings written once and applied without stopping containers; the Docker
// Hub login fed on standard input and kept current; Docker Hub's pull rate limit reported once.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { after, before, describe, test } from "node:test";
import { decodeScript, Evaluation } from "../../../plan/evaluation";
import { spawnAsync } from "../../support/processes";
import { EVERY_OPTION, evaluated, everyOptionRequest, validRequest } from "../../support/program";

const STUBS: Record<string, string> = {
  // Each stub appends "name args..." to calls.log (and its input to stdin.log when it reads one).
  "dpkg-query": `echo "dpkg-query $*" >>"$T/calls.log"; [[ -f $T/agent-installed ]] && printf 'install ok installed'; exit 0`,
  "apt-mark": `echo "apt-mark $*" >>"$T/calls.log"
case $1 in
  showhold) [[ -f $T/agent-held ]] && echo walinuxagent; exit 0 ;;
  hold) touch "$T/agent-held" ;;
  unhold) rm -f "$T/agent-held" ;;
esac`,
  systemctl: `echo "systemctl $*" >>"$T/calls.log"; if [[ $1 == is-active ]]; then [[ -f $T/docker-active ]]; fi`,
  sleep: `echo "sleep $*" >>"$T/calls.log"`,
  docker: `echo "docker $*" >>"$T/calls.log"
case $1 in
  login)
    token=$(cat); printf '%s' "$token" >>"$T/stdin.log"
    mkdir -p "$(dirname "$CLIENT_CONFIG")"
    auth=$(printf '%s:%s' "$3" "$token" | base64 -w 0)
    printf '{\\n\\t"auths": {\\n\\t\\t"https://index.docker.io/v1/": {\\n\\t\\t\\t"auth": "%s"\\n\\t\\t}\\n\\t}\\n}' "$auth" >"$CLIENT_CONFIG"
    echo "Login Succeeded" ;;
  logout) printf '{"auths": {}}' >"$CLIENT_CONFIG" ;;
  image) exit 1 ;;
  pull) echo "$(cat "$T/pull-error")" >&2; exit 1 ;;
esac`,
};

function scriptOf(evaluation: Evaluation, vm: string): string {
  return decodeScript(evaluation.extensions.find((e) => e.vmName === vm)!.script);
}

interface Sandbox {
  dir: string;
  run(steps: string): Promise<{
    status: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
    calls: string[];
    stdin: string;
  }>;
}

/** The script's definitions with its paths moved into a directory of its own and the stubs first on PATH. */
function sandboxOf(script: string): Sandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-docker-agent-"));
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  for (const [name, body] of Object.entries(STUBS))
    fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  const definitions = script
    .replace(/^main "\$@"\n$/m, "")
    .replace(
      /^readonly (STATE_DIR|LAST_RUN_FILE|WORK_DIR)='\/var\/lib\/flowproxy-provision(.*)'$/gm,
      (_, name: string, rest: string) => `readonly ${name}=${dir}/state${rest}`,
    )
    .replace(/^readonly DOCKER_DAEMON_JSON=.*$/m, `readonly DOCKER_DAEMON_JSON=${dir}/etc/docker/daemon.json`)
    .replace(/^readonly DOCKER_CLIENT_CONFIG=.*$/m, `readonly DOCKER_CLIENT_CONFIG=${dir}/root/.docker/config.json`);
  assert.ok(
    definitions.includes(`${dir}/etc/docker/daemon.json`) && definitions.includes(`${dir}/root/.docker/config.json`),
  );
  fs.mkdirSync(path.join(dir, "state"));
  return {
    dir,
    async run(steps) {
      fs.rmSync(path.join(dir, "calls.log"), { force: true });
      fs.rmSync(path.join(dir, "stdin.log"), { force: true });
      const child = await spawnAsync("bash", ["-c", `${definitions}\n${steps}`], {
        cwd: dir,
        env: { PATH: `${bin}:/usr/bin:/bin`, T: dir, CLIENT_CONFIG: `${dir}/root/.docker/config.json` },
      });
      const read = (file: string) =>
        fs.existsSync(path.join(dir, file)) ? fs.readFileSync(path.join(dir, file), "utf8") : "";
      return { ...child, calls: read("calls.log").split("\n").filter(Boolean), stdin: read("stdin.log") };
    },
  };
}

const lastLine = (text: string) => text.trimEnd().split("\n").pop();

describe("provisioning around Docker and the Azure agent", { concurrency: true }, () => {
  let withLogin: Evaluation;
  let anonymous: Evaluation;
  const made: string[] = [];
  const sandbox = (evaluation: () => Evaluation, vm = "vm-eastus") => {
    const box = sandboxOf(scriptOf(evaluation(), vm));
    made.push(box.dir);
    return box;
  };
  before(async () => {
    [withLogin, anonymous] = await Promise.all([evaluated(everyOptionRequest()), evaluated(validRequest())]);
  });
  after(() => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

  test("holds walinuxagent while a run lasts and releases it after a failure, the failure staying the last line", async () => {
    const box = sandbox(() => anonymous);
    fs.writeFileSync(path.join(box.dir, "agent-installed"), "");
    const failed = await box.run('ensure_fail() { die "boom"; }\nprovision ensure_fail');
    assert.equal(failed.status, 1);
    const apt = failed.calls.filter((c) => c.startsWith("apt-mark"));
    assert.deepEqual(apt, [
      "apt-mark showhold walinuxagent",
      "apt-mark hold walinuxagent",
      "apt-mark unhold walinuxagent",
    ]);
    assert.match(failed.stdout, /held walinuxagent while provisioning runs \(Azure\/WALinuxAgent#582\)/);
    assert.equal(lastLine(failed.stdout), "FAILED: vm-eastus, step 1/1 (ensure fail): boom");
    assert.ok(
      !fs.existsSync(path.join(box.dir, "agent-held")) &&
        !fs.existsSync(path.join(box.dir, "state", "walinuxagent-held")),
    );
  });

  test("leaves an operator's hold on walinuxagent in place, and does nothing where the agent is not installed", async () => {
    const box = sandbox(() => anonymous);
    fs.writeFileSync(path.join(box.dir, "agent-installed"), "");
    fs.writeFileSync(path.join(box.dir, "agent-held"), "");
    const held = await box.run("ensure_nothing() { :; }\nprovision ensure_nothing");
    assert.equal(held.status, 0, held.stderr);
    assert.deepEqual(
      held.calls.filter((c) => c.startsWith("apt-mark")),
      ["apt-mark showhold walinuxagent"],
    );
    assert.ok(fs.existsSync(path.join(box.dir, "agent-held")), "the operator's hold stays");

    fs.rmSync(path.join(box.dir, "agent-installed"));
    const absent = await box.run("ensure_nothing() { :; }\nprovision ensure_nothing");
    assert.equal(absent.status, 0, absent.stderr);
    assert.deepEqual(
      absent.calls.filter((c) => c.startsWith("apt-mark")),
      [],
    );
  });

  test("releases the hold a killed run left behind", async () => {
    const box = sandbox(() => anonymous);
    fs.writeFileSync(path.join(box.dir, "agent-installed"), "");
    const killed = await box.run("ensure_power_loss() { kill -KILL $$; }\nprovision ensure_power_loss");
    assert.equal(killed.signal, "SIGKILL");
    assert.ok(fs.existsSync(path.join(box.dir, "agent-held")), "the killed run could not release its hold");
    const next = await box.run("ensure_nothing() { :; }\nprovision ensure_nothing");
    assert.equal(next.status, 0, next.stderr);
    assert.ok(next.calls.includes("apt-mark unhold walinuxagent"), next.calls.join("\n"));
    assert.ok(!fs.existsSync(path.join(box.dir, "agent-held")));
  });

  test("writes dockerd's settings once: tini as --init, live-restore and bounded logs, reload before restart when dockerd runs", async () => {
    const box = sandbox(() => anonymous);
    const first = await box.run("ensure_docker_configured");
    assert.equal(first.status, 0, first.stderr);
    const file = path.join(box.dir, "etc", "docker", "daemon.json");
    const config = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
    assert.deepEqual(config, {
      "init-path": "/usr/bin/tini-static",
      "live-restore": true,
      "log-driver": "json-file",
      "log-opts": { "max-size": "10m", "max-file": "3" },
    });
    assert.equal(fs.statSync(file).mode & 0o777, 0o644);
    assert.deepEqual(
      first.calls,
      ["systemctl is-active --quiet docker"],
      "a stopped dockerd starts with the file later",
    );

    fs.writeFileSync(path.join(box.dir, "docker-active"), "");
    const unchanged = await box.run("ensure_docker_configured");
    assert.deepEqual(unchanged.calls, [], "an unchanged file touches nothing");

    fs.writeFileSync(file, '{"log-driver": "json-file"}\n');
    const changed = await box.run("ensure_docker_configured");
    assert.equal(changed.status, 0, changed.stderr);
    assert.deepEqual(changed.calls, [
      "systemctl is-active --quiet docker",
      "systemctl reload docker",
      "systemctl restart docker",
    ]);
  });

  test("mockhub runs behind --init, so a stop's SIGTERM reaches it rather than a PID 1 without a handler", () => {
    const script = scriptOf(anonymous, "vm-builderhub");
    assert.match(script, /docker run -d --name "\$MOCKHUB_CONTAINER" [^\n]*--init/);
    assert.match(
      script,
      /ensure_container "\$MOCKHUB_CONTAINER" "[^"]* init /,
      "--init is part of the spec, so existing containers are recreated with it",
    );
  });

  test("every container's spec carries the log settings, so a change of them recreates it", () => {
    for (const [vm, evaluation] of [
      ["vm-eastus", anonymous],
      ["vm-builderhub", anonymous],
    ] as const) {
      const script = scriptOf(evaluation, vm);
      // The specs ensure_container compares: HAProxy's assignment, mockhub's argument.
      const specs = [...script.matchAll(/^\s*spec=.*$|ensure_container "\$MOCKHUB_CONTAINER" .*$/gm)].map((m) => m[0]);
      assert.ok(
        specs.length > 0 && specs.every((line) => line.includes("$DOCKER_LOG_SPEC")),
        `${vm}: ${specs.join(" | ")}`,
      );
    }
  });

  test("logs in to Docker Hub with the token on standard input only, once, and logs out when the keys are unset", async () => {
    const box = sandbox(() => withLogin);
    const first = await box.run("ensure_docker_hub_login");
    assert.equal(first.status, 0, first.stderr);
    assert.deepEqual(first.calls, [`docker login --username ${EVERY_OPTION.dockerHubUsername} --password-stdin`]);
    assert.equal(first.stdin, EVERY_OPTION.dockerHubToken);
    assert.ok(!`${first.stdout}${first.stderr}`.includes(EVERY_OPTION.dockerHubToken));
    assert.equal(fs.statSync(path.join(box.dir, "root", ".docker", "config.json")).mode & 0o777, 0o600);

    const again = await box.run("ensure_docker_hub_login");
    assert.deepEqual(again.calls, [], "a current login is kept");
    assert.match(again.stdout, /logged in to Docker Hub as flowproxyops/);

    const anonymousBox = sandbox(() => anonymous);
    fs.mkdirSync(path.join(anonymousBox.dir, "root", ".docker"), { recursive: true });
    fs.copyFileSync(
      path.join(box.dir, "root", ".docker", "config.json"),
      path.join(anonymousBox.dir, "root", ".docker", "config.json"),
    );
    const out = await anonymousBox.run("ensure_docker_hub_login");
    assert.equal(out.status, 0, out.stderr);
    assert.deepEqual(out.calls, ["docker logout"]);
    const after = await anonymousBox.run("ensure_docker_hub_login");
    assert.deepEqual(after.calls, []);
  });

  test("a pull refused by Docker Hub's pull rate limit fails at once, naming the limit and both keys", async () => {
    const box = sandbox(() => anonymous);
    const refusal =
      "Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit";
    fs.writeFileSync(path.join(box.dir, "pull-error"), refusal);
    const limited = await box.run("provision ensure_haproxy_image");
    assert.equal(limited.status, 1);
    assert.equal(
      limited.calls.filter((c) => c.startsWith("docker pull")).length,
      1,
      "no retry against a limit counted in hours",
    );
    assert.ok(!limited.calls.some((c) => c.startsWith("sleep")));
    const line = lastLine(limited.stdout)!;
    assert.match(
      line,
      /^FAILED: vm-eastus, step 1\/1 \(ensure haproxy image\): docker pull haproxy:3\.0\.6 was refused by Docker Hub's pull rate limit \(HTTP 429, pulls anonymous;/,
    );
    assert.ok(line.includes(refusal), "Docker's own words stay in the line");
    assert.match(
      line,
      /pulumi config set flowproxy-staging:dockerHubUsername NAME and pulumi config set --secret flowproxy-staging:dockerHubToken TOKEN/,
    );

    fs.writeFileSync(
      path.join(box.dir, "pull-error"),
      'Error response from daemon: Get "https://registry-1.docker.io/v2/": net/http: TLS handshake timeout',
    );
    const other = await box.run("provision ensure_haproxy_image");
    assert.equal(other.calls.filter((c) => c.startsWith("docker pull")).length, 5, "other failures are retried");
    assert.match(
      lastLine(other.stdout)!,
      /docker pull haproxy:3\.0\.6 failed: Error response from daemon: Get "https:\/\/registry-1\.docker\.io\/v2\/": net\/http: TLS handshake timeout; set a tag/,
    );
  });
});
