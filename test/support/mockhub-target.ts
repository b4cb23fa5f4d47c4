// What the BuilderHub double's tests (test/unit/doubles/mockhub.test.ts) run against, so that
// the same tests can be played on upstream's mockhub and prove the double behaves as it does:
//   (default)                    our double (test/doubles/mockhub.ts), in this process;
//   MOCKHUB_BINARY=/path         a mockhub binary, run by the tests as a child process with the
//                                environment the VM's container gets (provision/builderhub.sh);
//   MOCKHUB_UNDER_TEST=http://…  a mockhub already running, which the tests can neither restart nor
//                                reach from a source address of their choice: the tests that need
//                                either are skipped, the others take it to run with the VM's
//                                environment.
// The double was compared so with mockhub v0.0.6 built from its source (BuilderNet/FlowProxy
// simulation/mockhub at b56e719); nothing here builds one.
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import type * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { BUILDERHUB, PORTS } from "../../lib/contract";
import { reverseLookup } from "../doubles/mockhub/registry";
import { startMockhub } from "../doubles/mockhub/server";
import { settingsFrom } from "../doubles/mockhub/startup";
import { scratchDir } from "./scratch";

/** The variables mockhub reads (main.rs), as `docker run -e` gives them. */
export interface MockhubEnvironment {
  SYSTEM_PORT?: string;
  ENABLE_TLS?: string;
}

/** provision/builderhub.sh MOCKHUB_ENV: what the BuilderHub VM starts mockhub with. */
export const VM_ENVIRONMENT: MockhubEnvironment = { ENABLE_TLS: "true", SYSTEM_PORT: String(PORTS.system) };

/** A source address's reverse name, as /etc/hosts would give it: "127.0.0.4" -> "vm-eastus.internal…". */
export type ReverseNames = Record<string, string>;

/** How a (re)start went: listening, or the program ended (a panic in main.rs: its status and stderr). */
type Startup = { listening: true } | { listening: false; status: number | null; stderr: string };

export interface MockhubTarget {
  /** For test output: what the tests ran against. */
  readonly description: string;
  /** http://host:port of the service (it may change on a restart). */
  readonly url: string;
  /** The environment it runs with. */
  readonly environment: MockhubEnvironment;
  /**
   * Whether it runs on this machine and sees a request's source address as the test chose it on
   * 127.0.0.0/8, so that it names the source by this machine's resolver.
   */
  readonly local: boolean;
  /**
   * Stops what runs and starts it afresh (an empty registry) with `environment` and, on top of the
   * system's resolver, `names` for source addresses. Undefined where the target cannot.
   */
  restart?(environment: MockhubEnvironment, names?: ReverseNames): Promise<Startup>;
  /** Stops whatever the tests started. */
  stop(): Promise<void>;
}

export type TargetKind = "double" | "binary" | "url";

/** Which target the environment asks for; tests decide from it what they can play. */
export function mockhubTargetKind(env: NodeJS.ProcessEnv = process.env): TargetKind {
  if (env.MOCKHUB_BINARY && env.MOCKHUB_UNDER_TEST) {
    throw new Error("set MOCKHUB_BINARY or MOCKHUB_UNDER_TEST, not both");
  }
  return env.MOCKHUB_BINARY ? "binary" : env.MOCKHUB_UNDER_TEST ? "url" : "double";
}

export function mockhubTarget(env: NodeJS.ProcessEnv = process.env): MockhubTarget {
  switch (mockhubTargetKind(env)) {
    case "binary":
      return new BinaryTarget(env.MOCKHUB_BINARY as string);
    case "url":
      return new UrlTarget(env.MOCKHUB_UNDER_TEST as string);
    default:
      return new DoubleTarget();
  }
}

/** The double, in this process, started as its main() would be with that environment. */
class DoubleTarget implements MockhubTarget {
  readonly description = "the double (test/doubles/mockhub.ts)";
  readonly local = true;
  url = "";
  environment: MockhubEnvironment = {};
  private server: http.Server | undefined;

  async restart(environment: MockhubEnvironment, names: ReverseNames = {}): Promise<Startup> {
    await this.stop();
    this.environment = environment;
    const settings = settingsFrom({ ...environment });
    if (!settings.ok) {
      return { listening: false, status: 101, stderr: settings.panic };
    }
    // Its own port on loopback, so that the suite's modules never compete for 3000.
    this.server = await startMockhub({
      ...settings,
      host: "127.0.0.1",
      port: 0,
      lookup: (ip) => (names[ip] !== undefined ? Promise.resolve(names[ip]) : reverseLookup(ip)),
      log: () => undefined,
    });
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    return { listening: true };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}

/**
 * A mockhub binary as the BuilderHub VM runs it: nothing in its environment but PATH and what
 * provision/builderhub.sh passes, listening where main.rs binds (0.0.0.0:3000, which must be free).
 * Reverse names are given by a private /etc/hosts in a mount namespace of its own (root only).
 */
class BinaryTarget implements MockhubTarget {
  readonly local = true;
  readonly url = `http://127.0.0.1:${BUILDERHUB.port}`;
  environment: MockhubEnvironment = {};
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly binary: string) {}

  get description(): string {
    return `the mockhub binary ${this.binary}`;
  }

  async restart(environment: MockhubEnvironment, names: ReverseNames = {}): Promise<Startup> {
    await this.stop();
    this.environment = environment;
    if (await accepts(BUILDERHUB.port)) {
      throw new Error(
        `port ${BUILDERHUB.port} is taken: mockhub binds 0.0.0.0:${BUILDERHUB.port} (main.rs); stop what listens there`,
      );
    }
    const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...environment };
    const [command, args] = Object.keys(names).length === 0 ? [this.binary, []] : withHosts(this.binary, names);
    const child = spawn(command, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    let status: number | null | undefined;
    this.exited = new Promise((resolve) => {
      child.on("error", () => resolve());
      child.on("close", (code) => {
        status = code;
        resolve();
      });
    });
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      if (status !== undefined) {
        this.child = undefined;
        return { listening: false, status, stderr: withoutThreadId(stderr) };
      }
      if (await accepts(BUILDERHUB.port)) {
        return { listening: true };
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.stop();
    throw new Error(`${this.binary} neither listened on ${BUILDERHUB.port} nor exited within 10 s: ${stderr}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      // mockhub handles no signal: SIGTERM ends it, as `docker stop` does.
      child.kill("SIGTERM");
    }
    await this.exited;
  }
}

/** A mockhub at a URL: no restart, and the tests take it to run with the VM's environment. */
class UrlTarget implements MockhubTarget {
  readonly local = false;
  readonly environment = VM_ENVIRONMENT;

  constructor(readonly url: string) {
    this.url = url.replace(/\/+$/, "");
  }

  get description(): string {
    return `the mockhub at ${this.url}`;
  }

  async stop(): Promise<void> {}
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The command line that runs `binary` with `names` in front of this machine's /etc/hosts. */
function withHosts(binary: string, names: ReverseNames): [string, string[]] {
  if (process.getuid?.() !== 0) {
    throw new Error("naming source addresses for a mockhub binary needs root (a private /etc/hosts)");
  }
  const hosts = path.join(scratchDir("mockhub-hosts-"), "hosts");
  const lines = Object.entries(names).map(([ip, name]) => `${ip} ${name}\n`);
  fs.writeFileSync(hosts, lines.join("") + fs.readFileSync("/etc/hosts", "utf8"), { mode: 0o644 });
  return [
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount --bind "$1" /etc/hosts && exec "$2"',
      "sh",
      hosts,
      binary,
    ],
  ];
}

/**
 * Rust's panic message as the image's toolchain (rust:1.89, simulation/mockhub/Dockerfile) writes it:
 * later toolchains put the thread's id after its name ("thread 'main' (1234) panicked at").
 */
function withoutThreadId(stderr: string): string {
  return stderr.replace(/^thread '([^']*)' \(\d+\) panicked at /gm, "thread '$1' panicked at ");
}
