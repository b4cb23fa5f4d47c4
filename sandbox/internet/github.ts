// The internet side of the sandbox: the GitHub double (test/doubles/github.ts) on the host at
// 198.18.0.1:443, with a certificate from the sandbox CA for every hostname it stands in for.
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { GithubDoubleConfig, GithubFault } from "./doubles-interface";
import { issueServerCertificate } from "../base/ca";
import { publishArtifact } from "./doubles";
import { statePaths } from "../base/paths";
import { livePid, SandboxError, sleep, startDaemon, stopDaemon, writePrivateFile } from "../base/proc";
import { SANDBOX_ARTIFACT, SandboxSecrets } from "./stack-config";
import { INTERNET } from "../base/topology";

const HTTPS_PORT = 443;
const githubScript = () => path.join(statePaths.doubles, "github.js");

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000, () => socket.destroy());
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("close", () => resolve(false));
  });
}

export function githubPid(): number | undefined {
  return livePid(statePaths.github.pid, githubScript());
}

export async function stopInternet(): Promise<void> {
  await stopDaemon(statePaths.github.pid, githubScript(), 5000);
}

/** (Re)starts the GitHub double with the sandbox's token and artifact; needs the network up. */
export async function startInternet(secrets: SandboxSecrets): Promise<void> {
  await stopInternet();
  const files = statePaths.github;
  fs.mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  await issueServerCertificate(INTERNET.hostnames, [INTERNET.hostIp], files.tlsCert, files.tlsKey);
  publishArtifact(SANDBOX_ARTIFACT);
  const config: GithubDoubleConfig = {
    host: INTERNET.hostIp,
    port: HTTPS_PORT,
    token: secrets.githubToken,
    artifactsDir: files.artifacts,
    filesDir: statePaths.doubles,
    faultFile: files.fault,
    requestLog: files.requests,
    tls: { certFile: files.tlsCert, keyFile: files.tlsKey },
  };
  writePrivateFile(files.config, JSON.stringify(config, null, 2));
  startDaemon(process.execPath, [githubScript(), files.config], { logFile: files.log, pidFile: files.pid });
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(INTERNET.hostIp, HTTPS_PORT))) {
    if (githubPid() === undefined || Date.now() > deadline) {
      const log = fs.existsSync(files.log) ? fs.readFileSync(files.log, "utf8").trim().split("\n").pop() : undefined;
      throw new SandboxError(
        `the GitHub double did not start listening on ${INTERNET.hostIp}:${HTTPS_PORT}${log ? `: ${log}` : ""}`,
      );
    }
    await sleep(100);
  }
}

/** Makes the GitHub double misbehave (see test/doubles/github.ts), or behave again with undefined. */
export function setGithubFault(fault: GithubFault | undefined): void {
  if (fault === undefined) {
    fs.rmSync(statePaths.github.fault, { force: true });
  } else {
    fs.writeFileSync(statePaths.github.fault, `${fault}\n`);
  }
}

export interface GithubRequest {
  time: string;
  host: string;
  method: string;
  path: string;
  authorization: boolean;
  status: number | "hang";
}

/** Every request the GitHub double has seen, oldest first. */
export function githubRequests(): GithubRequest[] {
  if (!fs.existsSync(statePaths.github.requests)) {
    return [];
  }
  return fs
    .readFileSync(statePaths.github.requests, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as GithubRequest);
}
