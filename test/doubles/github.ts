// Stand-in for the internet the provisioning scripts download from: GitHub's artifact API and its
// blob store, Foundry's installer and release, Tailscale's installer and packages. Test code: it
// never ships to Azure. It runs on the sandbox host at 198.18.0.1:443, one TLS certificate from the
// sandbox CA naming every host; requests are routed by their Host header.
//
// The artifact flow mirrors GitHub's: GET https://api.github.com/repos/O/R/actions/artifacts/ID/zip
// needs `Authorization: Bearer <token>` (or `token <token>`) and answers 302 to a short-lived URL on
// pipelines.actions.githubusercontent.com, which serves the zip without authentication and refuses a
// request that carries an Authorization header, as the real blob store does with a forwarded token.
//
// Faults for tests: the fault file holds one word, read on every request:
//   401        the API refuses every token          404     the API knows no artifact
//   flaky      every other API request answers 502  hang    the API never answers
//   slow       the zip trickles at 2 KiB/s          truncated  the zip is cut in half
//   corrupt    the zip's data is damaged (CRC)      no-binary  the zip holds no `flowproxy`
// Every request is logged as a JSON line (time, host, method, path, whether an Authorization
// header was present, status); a token is never logged.
import { randomBytes, timingSafeEqual } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { Socket } from "node:net";
import * as path from "node:path";
import { GithubDoubleConfig } from "../../sandbox/internet/doubles-interface";
import { createZip } from "../../sandbox/internet/zip";
import { serveFromConfigFile } from "./serve";

export const BLOB_HOST = "pipelines.actions.githubusercontent.com";
export const SLOW_BYTES_PER_SECOND = 2048;
const BLOB_TTL_MS = 5 * 60 * 1000;

/** What each host serves besides the artifact API: path pattern to a file in filesDir. */
const STATIC_ROUTES: { host: string; path: RegExp; file: string; type: string }[] = [
  {
    host: "raw.githubusercontent.com",
    path: /^\/foundry-rs\/foundry\/[^/]+\/foundryup\/install$/,
    file: "foundry-install.sh",
    type: "text/plain",
  },
  {
    host: "raw.githubusercontent.com",
    path: /^\/foundry-rs\/foundry\/[^/]+\/foundryup\/foundryup$/,
    file: "foundryup.sh",
    type: "text/plain",
  },
  {
    host: "github.com",
    path: /^\/foundry-rs\/foundry\/releases\/download\/[^/]+\/cast$/,
    file: "cast.js",
    type: "application/octet-stream",
  },
  { host: "tailscale.com", path: /^\/install\.sh$/, file: "tailscale-install.sh", type: "text/x-shellscript" },
  {
    host: "pkgs.tailscale.com",
    path: /^\/stable\/sandbox\/tailscaled?$/,
    file: "tailscale.js",
    type: "application/octet-stream",
  },
];

const ARTIFACT_ZIP = /^\/repos\/([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)\/actions\/artifacts\/(\d+)\/zip$/;

function githubError(status: number, message: string): string {
  return JSON.stringify({ message, documentation_url: "https://docs.github.com/rest", status: String(status) });
}

/** Flips bytes inside the first entry's compressed data, so unzip reports a CRC or inflate error. */
export function corruptZip(zip: Buffer): Buffer {
  const copy = Buffer.from(zip);
  const nameLength = copy.readUInt16LE(26);
  const extraLength = copy.readUInt16LE(28);
  const compressedSize = copy.readUInt32LE(18);
  const start = 30 + nameLength + extraLength;
  for (let i = start + Math.floor(compressedSize / 3); i < start + Math.floor(compressedSize / 2); i++) {
    copy[i] ^= 0x5a;
  }
  return copy;
}

export function faultyArtifact(zip: Buffer, fault: string): Buffer {
  switch (fault) {
    case "truncated":
      return zip.subarray(0, Math.floor(zip.length / 2));
    case "corrupt":
      return corruptZip(zip);
    case "no-binary":
      return createZip([{ name: "README.txt", data: Buffer.from("this artifact holds no binary\n"), mode: 0o644 }]);
    default:
      return zip;
  }
}

export function presentedToken(header: string | undefined): string | undefined {
  const match = /^(?:Bearer|token)\s+(\S+)$/i.exec(header ?? "");
  return match ? match[1] : undefined;
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export class GithubDouble {
  private readonly blobs = new Map<string, { file: string; expires: number }>();
  private readonly sockets = new Set<Socket>();
  private apiRequests = 0;
  readonly server: http.Server;

  constructor(private readonly config: GithubDoubleConfig) {
    const handler: http.RequestListener = (req, res) => this.handle(req, res);
    this.server = config.tls
      ? https.createServer(
          { cert: fs.readFileSync(config.tls.certFile), key: fs.readFileSync(config.tls.keyFile) },
          handler,
        )
      : http.createServer(handler);
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.config.port, this.config.host, () =>
        resolve((this.server.address() as { port: number }).port),
      );
    });
  }

  close(): Promise<void> {
    // Hanging requests (fault "hang") would otherwise keep the server open forever.
    for (const socket of this.sockets) {
      socket.destroy();
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private fault(): string {
    try {
      return fs.readFileSync(this.config.faultFile, "utf8").trim();
    } catch {
      return "";
    }
  }

  private logRequest(req: http.IncomingMessage, host: string, urlPath: string, status: number | "hang"): void {
    const entry = {
      time: new Date().toISOString(),
      host,
      method: req.method,
      path: urlPath,
      authorization: req.headers.authorization !== undefined,
      status,
    };
    fs.appendFileSync(this.config.requestLog, `${JSON.stringify(entry)}\n`);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
    const urlPath = (req.url ?? "/").split("?")[0];
    const reply = (status: number, body: string | Buffer, headers: http.OutgoingHttpHeaders = {}) => {
      this.logRequest(req, host, urlPath, status);
      res.writeHead(status, { "content-length": Buffer.byteLength(body), ...headers });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      reply(405, "method not allowed\n");
      return;
    }
    if (host === "api.github.com") {
      this.handleApi(req, urlPath, reply);
      return;
    }
    if (host === BLOB_HOST) {
      this.handleBlob(req, res, urlPath, reply);
      return;
    }
    if (host === "foundry.paradigm.xyz" && urlPath === "/") {
      // The real address redirects to the installer on raw.githubusercontent.com.
      reply(302, "", { location: "https://raw.githubusercontent.com/foundry-rs/foundry/HEAD/foundryup/install" });
      return;
    }
    const route = STATIC_ROUTES.find((r) => r.host === host && r.path.test(urlPath));
    if (route) {
      reply(200, fs.readFileSync(path.join(this.config.filesDir, route.file)), { "content-type": route.type });
      return;
    }
    reply(404, "Not Found\n", { "content-type": "text/plain" });
  }

  private handleApi(
    req: http.IncomingMessage,
    urlPath: string,
    reply: (status: number, body: string, headers?: http.OutgoingHttpHeaders) => void,
  ): void {
    const json = { "content-type": "application/json; charset=utf-8" };
    if (!req.headers["user-agent"]) {
      reply(403, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header.\n");
      return;
    }
    const match = ARTIFACT_ZIP.exec(urlPath);
    if (!match) {
      reply(404, githubError(404, "Not Found"), json);
      return;
    }
    const fault = this.fault();
    this.apiRequests++;
    if (fault === "hang") {
      this.logRequest(req, "api.github.com", urlPath, "hang");
      return;
    }
    if (fault === "flaky" && this.apiRequests % 2 === 1) {
      reply(502, githubError(502, "Server Error"), json);
      return;
    }
    const token = presentedToken(req.headers.authorization);
    if (token === undefined) {
      reply(401, githubError(401, "Requires authentication"), json);
      return;
    }
    if (fault === "401" || !sameSecret(token, this.config.token)) {
      reply(401, githubError(401, "Bad credentials"), json);
      return;
    }
    const [, owner, repo, id] = match;
    const file = path.join(this.config.artifactsDir, owner, repo, `${id}.zip`);
    if (fault === "404" || !fs.existsSync(file)) {
      reply(404, githubError(404, "Not Found"), json);
      return;
    }
    const blob = randomBytes(24).toString("hex");
    this.blobs.set(blob, { file, expires: Date.now() + BLOB_TTL_MS });
    reply(302, "", { location: `https://${BLOB_HOST}/artifacts/${blob}?sig=${randomBytes(16).toString("hex")}` });
  }

  private handleBlob(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    urlPath: string,
    reply: (status: number, body: string | Buffer, headers?: http.OutgoingHttpHeaders) => void,
  ): void {
    const xml = { "content-type": "application/xml" };
    if (req.headers.authorization !== undefined) {
      reply(
        403,
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to ' +
          "authenticate the request: the URL is already signed and an Authorization header was sent.</Message></Error>\n",
        xml,
      );
      return;
    }
    const blob = this.blobs.get(urlPath.replace(/^\/artifacts\//, ""));
    if (!blob || blob.expires < Date.now()) {
      reply(
        403,
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Signature not valid or expired.</Message></Error>\n',
        xml,
      );
      return;
    }
    const fault = this.fault();
    const body = faultyArtifact(fs.readFileSync(blob.file), fault);
    const headers = { "content-type": "application/zip" };
    if (fault !== "slow") {
      reply(200, body, headers);
      return;
    }
    this.logRequest(req, BLOB_HOST, urlPath, 200);
    res.writeHead(200, { "content-length": body.length, ...headers });
    const chunk = SLOW_BYTES_PER_SECOND / 4;
    let offset = 0;
    const timer = setInterval(() => {
      if (res.destroyed || offset >= body.length) {
        clearInterval(timer);
        res.end();
        return;
      }
      res.write(body.subarray(offset, offset + chunk));
      offset += chunk;
    }, 250);
  }
}

if (require.main === module) {
  serveFromConfigFile<GithubDoubleConfig>(
    "github.js",
    (config) => new GithubDouble(config),
    (config) => `GitHub double listening on ${config.host}:${config.port}`,
  );
}
