// Stand-in for Tailscale's `tailscale` CLI and `tailscaled` daemon in the sandbox VMs, installed by
// the install.sh the GitHub double serves for tailscale.com. Test code: it never ships to Azure.
// One file, two programs, chosen by the name it is run as. It joins no network: `up` checks what
// the provisioning script hands it (the daemon runs, the auth key file exists and is private, the
// flags are ones the real CLI accepts) and records the outcome, which `status` reports and `set`
// changes.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

export interface TailscalePaths {
  socket: string;
  stateFile: string;
}

export const DEFAULT_PATHS: TailscalePaths = {
  socket: "/run/tailscale/tailscaled.sock",
  stateFile: "/var/lib/tailscale/sandbox-state.json",
};

export interface TailscaleState {
  hostname: string;
  ssh: boolean;
  /** --accept-dns, on unless turned off, as in the real CLI: whether the tailnet's DNS would replace the VM's. */
  acceptDns: boolean;
  /** "file" for --auth-key=file:PATH; "argument" when the key itself was on the command line. */
  authKeySource: "file" | "argument";
  joinedAt: string;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const TAILNET_IP = "100.101.102.103";

function daemonReachable(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const connection = net.connect(socket);
    connection.once("connect", () => {
      connection.destroy();
      resolve(true);
    });
    connection.once("error", () => resolve(false));
  });
}

const NO_DAEMON: CliResult = {
  code: 1,
  stdout: "",
  stderr:
    "failed to connect to local tailscaled; it doesn't appear to be running (sudo systemctl start tailscaled ?)\n",
};

const failure = (message: string, code = 1): CliResult => ({ code, stdout: "", stderr: `${message}\n` });

function readState(paths: TailscalePaths): TailscaleState | undefined {
  try {
    return JSON.parse(fs.readFileSync(paths.stateFile, "utf8")) as TailscaleState;
  } catch {
    return undefined;
  }
}

// The real CLI parses flags with Go's flag package: a boolean flag takes its value only after "="
// (`--accept-dns false` leaves "false" as a stray argument), a duration is Go's (120s, 2m, 1h30m).
const BOOLEAN_FLAGS = ["ssh", "accept-dns"];
const UP_FLAGS = ["auth-key", "hostname", "ssh", "accept-dns", "timeout"];
const SET_FLAGS = ["hostname", "ssh", "accept-dns"];
const GO_BOOLEAN = { true: ["1", "t", "T", "TRUE", "true", "True"], false: ["0", "f", "F", "FALSE", "false", "False"] };
const GO_DURATION = /^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$/;

function parseFlags(args: string[], known: string[]): Map<string, string> | CliResult {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const match = /^--?([a-z-]+)(?:=(.*))?$/.exec(args[i]);
    if (!match) {
      return failure(`too many non-flag arguments: ${JSON.stringify(args.slice(i))}`, 2);
    }
    const name = match[1] === "authkey" ? "auth-key" : match[1];
    if (!known.includes(name)) {
      return failure(`flag provided but not defined: -${match[1]}`, 2);
    }
    let value: string;
    if (BOOLEAN_FLAGS.includes(name)) {
      const text = match[2] ?? "true";
      if (!GO_BOOLEAN.true.includes(text) && !GO_BOOLEAN.false.includes(text)) {
        return failure(`invalid boolean value ${JSON.stringify(text)} for -${match[1]}: parse error`, 2);
      }
      value = String(GO_BOOLEAN.true.includes(text));
    } else if (match[2] !== undefined) {
      value = match[2];
    } else if (i + 1 < args.length) {
      value = args[++i];
    } else {
      return failure(`flag needs an argument: -${match[1]}`, 2);
    }
    if (name === "timeout" && !GO_DURATION.test(value)) {
      return failure(`invalid value ${JSON.stringify(value)} for flag -${match[1]}: parse error`, 2);
    }
    flags.set(name, value);
  }
  return flags;
}

async function up(args: string[], paths: TailscalePaths): Promise<CliResult> {
  const flags = parseFlags(args, UP_FLAGS);
  if (!(flags instanceof Map)) {
    return flags;
  }
  if (!(await daemonReachable(paths.socket))) {
    return NO_DAEMON;
  }
  const authKey = flags.get("auth-key");
  if (!authKey) {
    return failure("the sandbox's tailscale double needs --auth-key (interactive login is not possible here)");
  }
  let key = authKey;
  let authKeySource: TailscaleState["authKeySource"] = "argument";
  if (authKey.startsWith("file:")) {
    const file = authKey.slice("file:".length);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      return failure(`reading auth key file: open ${file}: no such file or directory`);
    }
    if ((stat.mode & 0o077) !== 0) {
      return failure(
        `auth key file ${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)}); it must be 0600`,
      );
    }
    key = fs.readFileSync(file, "utf8").trim();
    authKeySource = "file";
  }
  if (key === "") {
    return failure("invalid auth key: empty");
  }
  const state: TailscaleState = {
    hostname: flags.get("hostname") ?? "localhost",
    ssh: flags.get("ssh") === "true",
    acceptDns: flags.get("accept-dns") !== "false",
    authKeySource,
    joinedAt: new Date().toISOString(),
  };
  fs.mkdirSync(path.dirname(paths.stateFile), { recursive: true, mode: 0o700 });
  fs.writeFileSync(paths.stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
  return { code: 0, stdout: "", stderr: "" };
}

/** `tailscale set`: changes the preferences of a node that has joined, here the recorded ones. */
async function set(args: string[], paths: TailscalePaths): Promise<CliResult> {
  const flags = parseFlags(args, SET_FLAGS);
  if (!(flags instanceof Map)) {
    return flags;
  }
  if (!(await daemonReachable(paths.socket))) {
    return NO_DAEMON;
  }
  const state = readState(paths);
  if (state) {
    const changed: TailscaleState = {
      ...state,
      hostname: flags.get("hostname") ?? state.hostname,
      ssh: flags.has("ssh") ? flags.get("ssh") === "true" : state.ssh,
      acceptDns: flags.has("accept-dns") ? flags.get("accept-dns") === "true" : state.acceptDns,
    };
    fs.writeFileSync(paths.stateFile, JSON.stringify(changed, null, 2), { mode: 0o600 });
  }
  return { code: 0, stdout: "", stderr: "" };
}

export async function runTailscale(args: string[], paths: TailscalePaths = DEFAULT_PATHS): Promise<CliResult> {
  const [command, ...rest] = args;
  switch (command) {
    case "up":
      return up(rest, paths);
    case "set":
      return set(rest, paths);
    case "status": {
      if (!(await daemonReachable(paths.socket))) {
        return NO_DAEMON;
      }
      const state = readState(paths);
      return state
        ? { code: 0, stdout: `${TAILNET_IP}  ${state.hostname}  sandbox@  linux  -\n`, stderr: "" }
        : { code: 1, stdout: "Logged out.\n", stderr: "" };
    }
    case "version":
      return { code: 0, stdout: "1.80.0-sandbox\n", stderr: "" };
    default:
      return failure(`the sandbox's tailscale double does not support \`tailscale ${args.join(" ")}\``, 2);
  }
}

/**
 * The daemon only holds the socket the CLI checks for. Under systemd (Type=notify, like the real
 * tailscaled) it reports readiness once the socket exists, so `systemctl enable --now` returns
 * only when `tailscale up` can reach it.
 */
export function runDaemon(paths: TailscalePaths = DEFAULT_PATHS): net.Server {
  fs.mkdirSync(path.dirname(paths.socket), { recursive: true });
  fs.rmSync(paths.socket, { force: true });
  const server = net.createServer((connection) => connection.end());
  server.listen(paths.socket, () => {
    console.log(`tailscaled (sandbox double) listening on ${paths.socket}`);
    if (process.env.NOTIFY_SOCKET) {
      spawnSync("systemd-notify", ["--ready"]);
    }
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => server.close(() => process.exit(0)));
  }
  return server;
}

if (require.main === module) {
  if (path.basename(process.argv[1]) === "tailscaled") {
    runDaemon();
  } else {
    void runTailscale(process.argv.slice(2)).then((result) => {
      process.stdout.write(result.stdout);
      process.stderr.write(result.stderr);
      process.exitCode = result.code;
    });
  }
}
