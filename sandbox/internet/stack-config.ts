// The stack configuration the sandbox deploys, in one place. Secrets are made once per sandbox and
// kept in the state directory (mode 0600), so reruns of `sandbox up` see the same configuration.
import { spawnSync } from "child_process";
import { randomBytes, randomInt } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { CONFIG_KEYS } from "../../lib/config";
import type { EvaluationRequest } from "../../plan/evaluation";
import { GENERATION_1_BUILD } from "./doubles";
import { statePaths } from "../base/paths";
import { SandboxError, writePrivateFile } from "../base/proc";
import { INTERNET, SANDBOX_REGIONS } from "../base/topology";

/** The artifact the GitHub double serves for the sandbox's flowProxyArtifact. */
export const SANDBOX_ARTIFACT = {
  owner: "flashbots",
  repo: "flowproxy",
  runId: "1",
  id: "2",
  build: GENERATION_1_BUILD,
} as const;

export function artifactUrl(artifact: { owner: string; repo: string; runId: string; id: string }): string {
  return `https://github.com/${artifact.owner}/${artifact.repo}/actions/runs/${artifact.runId}/artifacts/${artifact.id}`;
}

export interface SandboxSecrets {
  githubToken: string;
  sshPublicKey: string;
  /** Seeds the random values the program generates (signer keys): what Pulumi's state would keep. */
  seed: string;
  /** The sandbox's Docker Hub account (the Docker Hub double knows it) and its access token. */
  dockerHubUsername: string;
  dockerHubToken: string;
}

/** Docker Hub access tokens look like dckr_pat_ and 27 URL-safe characters. */
const randomDockerHubToken = (): string => `dckr_pat_${randomBytes(20).toString("base64url")}`;

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function randomGithubToken(): string {
  let body = "";
  for (let i = 0; i < 36; i++) {
    body += BASE62[randomInt(BASE62.length)];
  }
  return `ghp_${body}`;
}

/**
 * The sandbox's own SSH key pair, made by OpenSSH's ssh-keygen (no passphrase: it opens nothing but
 * the sandbox's VMs). The suite logs in with it through the stack's ssh outputs.
 */
function ensureSshKeyPair(): string {
  const files = statePaths.ssh;
  if (!fs.existsSync(files.key)) {
    fs.mkdirSync(path.dirname(files.key), { recursive: true, mode: 0o700 });
    const made = spawnSync(
      "ssh-keygen",
      ["-q", "-t", "ed25519", "-N", "", "-C", "flowproxy-sandbox", "-f", files.key],
      { encoding: "utf8" },
    );
    if (made.status !== 0) {
      throw new SandboxError(
        `ssh-keygen could not make the sandbox's key pair: ${made.stderr.trim() || made.error?.message}`,
      );
    }
  }
  return fs.readFileSync(files.publicKey, "utf8").trim();
}

export function loadOrCreateSecrets(): SandboxSecrets {
  if (fs.existsSync(statePaths.secrets)) {
    const kept = JSON.parse(fs.readFileSync(statePaths.secrets, "utf8")) as SandboxSecrets;
    if (kept.dockerHubToken !== undefined) return kept;
  }
  const secrets: SandboxSecrets = {
    githubToken: randomGithubToken(),
    sshPublicKey: ensureSshKeyPair(),
    seed: randomBytes(16).toString("hex"),
    dockerHubUsername: "flowproxysandbox",
    dockerHubToken: randomDockerHubToken(),
  };
  writePrivateFile(statePaths.secrets, JSON.stringify(secrets, null, 2));
  return secrets;
}

/**
 * The sandbox's stack configuration, deploying `haProxyVersion` (a tag the sandbox's Docker Hub
 * serves); `overrides` lets a test change or add values.
 */
export function sandboxRequest(
  secrets: SandboxSecrets,
  haProxyVersion: string,
  overrides: Record<string, string> = {},
): EvaluationRequest {
  const config: Record<string, string> = {
    adminUsername: "azureuser",
    sshPublicKey: secrets.sshPublicKey,
    flowProxyArtifact: artifactUrl(SANDBOX_ARTIFACT),
    githubToken: secrets.githubToken,
    haProxyVersion,
    allowedSshCidr: `${INTERNET.hostIp}/32`,
    dockerHubUsername: secrets.dockerHubUsername,
    dockerHubToken: secrets.dockerHubToken,
    regions: JSON.stringify(SANDBOX_REGIONS),
    ...overrides,
  };
  const secret = new Set(CONFIG_KEYS.filter((k) => k.secret).map((k) => k.key));
  return { config, secretKeys: Object.keys(config).filter((k) => secret.has(k)), seed: secrets.seed };
}
