// Helpers for tests and tools: run the program under mocks in a child process (see render-stack.ts)
// and get back what it declared, or the error it stopped with.
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { RenderRequest, RenderResult } from "./render-stack";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const RENDER_STACK = path.join(__dirname, "render-stack.ts");

export const SECRET_KEYS = ["sshPublicKey", "githubToken", "tailscaleAuthKey", "clickhousePassword"];

/** A complete, valid configuration; secrets marked as secrets. */
export function validRequest(overrides: Record<string, string | undefined> = {}): RenderRequest {
  const config: Record<string, string> = {
    adminUsername: "azureuser",
    sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q tester@laptop",
    flowProxyArtifact: "https://github.com/flashbots/flowproxy/actions/runs/1234/artifacts/5678",
    githubToken: "ghp_TESTONLYtoken0123456789abcdefghijklmn",
    haProxyVersion: "3.0.6",
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete config[key];
    else config[key] = value;
  }
  return { config, secretKeys: SECRET_KEYS.filter((k) => k in config) };
}

export interface RenderOutcome {
  status: number;
  stdout: string;
  stderr: string;
}

export function runRender(request: RenderRequest, env: NodeJS.ProcessEnv = process.env): RenderOutcome {
  const child = spawnSync(process.execPath, ["--require", "ts-node/register/transpile-only", RENDER_STACK], {
    cwd: REPO_ROOT,
    input: JSON.stringify(request),
    encoding: "utf8",
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: child.status ?? -1, stdout: child.stdout, stderr: child.stderr };
}

/** The same as runRender without blocking, so several evaluations can run side by side. */
export function runRenderAsync(request: RenderRequest): Promise<RenderOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--require", "ts-node/register/transpile-only", RENDER_STACK], { cwd: REPO_ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status: status ?? -1, stdout, stderr }));
    child.stdin.end(JSON.stringify(request));
  });
}

export function renderStack(request: RenderRequest): RenderResult {
  const outcome = runRender(request);
  if (outcome.status !== 0) throw new Error(`the program failed (exit ${outcome.status}):\n${outcome.stderr}`);
  return JSON.parse(outcome.stdout) as RenderResult;
}

/** Copies the program's own files to a temporary directory, so a test can change one of them. */
export function copyProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowproxy-staging-"));
  for (const entry of ["index.ts", "lib", "provision", "haproxy.cfg", "flowproxy.env", "flowproxy@.service", "package.json", "tsconfig.json"]) {
    fs.cpSync(path.join(REPO_ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

/**
 * Runs `use` on a throwaway copy of the project in which `edit` rewrote `file` (returning null
 * removes it); the copy is removed afterwards.
 */
export async function withEditedProject<T>(
  file: string,
  edit: (text: string) => string | null,
  use: (projectDir: string) => T | Promise<T>,
): Promise<T> {
  const dir = copyProject();
  try {
    const target = path.join(dir, file);
    const content = edit(fs.readFileSync(target, "utf8"));
    if (content === null) fs.rmSync(target);
    else fs.writeFileSync(target, content);
    return await use(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function decodeScript(base64: string): string {
  return Buffer.from(base64, "base64").toString("utf8");
}
