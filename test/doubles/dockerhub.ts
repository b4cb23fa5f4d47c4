// Stand-in for Docker Hub's front door: its token service (auth.docker.io) and the authorization and
// pull rate limit in front of its registry (registry-1.docker.io). Test code: it never ships to
// Azure. The registry behind it is a real one, Debian trixie's docker-registry (distribution 2.8) on
// loopback, which serves the images; this double only decides who may pull, as Docker Hub does, and
// passes allowed requests through. It runs on the sandbox host at 198.18.0.3:443 with one TLS
// certificate from the sandbox CA naming both hosts; requests are routed by their Host header.
//
// What it follows, by upstream file (distribution/distribution at 0d6b721 unless said otherwise):
// - docs/content/spec/auth/token.md at 0d6b721: a registry request without a valid token answers 401 with
//   `WWW-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`
//   (and `scope="repository:NAME:pull"` for a repository's request); the client asks the realm for a
//   token with service and scope (anonymously, or with Basic credentials plus account, client_id and
//   offline_token), gets {token, access_token, expires_in, issued_at}, and retries with
//   `Authorization: Bearer`. Access the client lacks is left out of the token, not refused; wrong
//   credentials are refused with 401. The token is opaque to clients.
// - registry/auth/token/accesscontroller.go (challengeParams): the challenge's parameter order, and
//   `error="insufficient_scope"` when a valid token lacks the access, `error="invalid_token"` when the
//   token is not valid; internal/client/errors.go turns insufficient_scope into DENIED, which moby
//   prints as "pull access denied for NAME, repository does not exist or may require 'docker login'"
//   (moby/moby at b985e23, daemon/internal/distribution/errors.go; distribution/errors.go in 26.1).
// - registry/api/errcode/register.go: the error bodies {"errors":[{code, message, detail}]}:
//   UNAUTHORIZED "authentication required" (401), TOOMANYREQUESTS (429).
// - Docker Hub's documentation (docs.docker.com/docker-hub/usage/pulls/): a pull is a GET of a
//   manifest (HEAD requests do not count); anonymous pulls are counted per address, authenticated ones
//   per account; manifest answers carry `ratelimit-limit: N;w=21600`, `ratelimit-remaining: N;w=21600`
//   and `docker-ratelimit-source`; past the limit the answer is 429 TOOMANYREQUESTS with a message that
//   names the pull rate limit (as Docker Hub words it, seen in docker/cli and moby issues:
//   "You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit").
// - The token service refuses wrong credentials with 401 and `{"details":"incorrect username or
//   password"}`, the legacy body both distribution's client (internal/client/errors.go) and moby's
//   containerd path (daemon/containerd/registry_errors.go) read.
// What it leaves out: refresh tokens (token.md makes them optional; Docker Hub's login keeps the
// password in the client's config), push, Docker Hub's overall per-minute limit (a bare 429).
//
// The policy file (DockerHubPolicy: whether a pull needs a login, the pulls per window) is read on
// every request; a changed policy starts a new window. Every request is logged as a JSON line (time,
// host, method, path, account, status); neither a token nor a password is ever logged.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { DockerHubDoubleConfig, DockerHubPolicy, DockerHubRequest } from "../../sandbox/internet/doubles-interface";
import { serveFromConfigFile } from "./serve";

export const REGISTRY_HOST = "registry-1.docker.io";
export const AUTH_HOST = "auth.docker.io";
export const SERVICE = "registry.docker.io";
export const REALM = `https://${AUTH_HOST}/token`;
/** Docker Hub's window, as its ratelimit headers state it (w=21600: six hours). */
export const WINDOW_SECONDS = 21600;
export const TOKEN_LIFETIME_SECONDS = 300;
/** Docker Hub's own defaults when no policy file exists: anyone may pull public images. */
export const DOCKER_HUB_DEFAULT_POLICY: DockerHubPolicy = {
  requireLogin: false,
  limits: { anonymous: 10, authenticated: 100 },
};

const MANIFEST = /^\/v2\/(.+)\/manifests\/[^/]+$/;
const REPOSITORY = /^\/v2\/(.+)\/(?:manifests|blobs|tags)\/.*$/;

interface Claims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: { type: string; name: string; actions: string[] }[];
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** A repository's name and the actions asked for, from a scope "repository:NAME:ACTIONS". */
export function parseScope(scope: string): { name: string; actions: string[] } | undefined {
  const match = /^repository:([^:]+):(.+)$/.exec(scope);
  return match ? { name: match[1], actions: match[2].split(",") } : undefined;
}

function errorsBody(code: string, message: string, detail: unknown = null): string {
  return JSON.stringify({ errors: [{ code, message, detail }] });
}

export class DockerHubDouble {
  private readonly key = randomBytes(32);
  private readonly server: http.Server;
  private policyText: string | undefined;
  private pulls = new Map<string, number>();

  constructor(private readonly config: DockerHubDoubleConfig) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = config.tls
      ? https.createServer(
          { cert: fs.readFileSync(config.tls.certFile), key: fs.readFileSync(config.tls.keyFile) },
          handler,
        )
      : http.createServer(handler);
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
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  /** The policy in force; a new one starts a new window (every subject's pulls back to 0). */
  policy(): DockerHubPolicy {
    let text: string | undefined;
    try {
      text = fs.readFileSync(this.config.policyFile, "utf8");
    } catch {
      text = undefined;
    }
    if (text !== this.policyText) {
      this.policyText = text;
      this.pulls = new Map();
    }
    return text === undefined ? DOCKER_HUB_DEFAULT_POLICY : (JSON.parse(text) as DockerHubPolicy);
  }

  private log(req: http.IncomingMessage, account: string, status: number): void {
    const record: DockerHubRequest = {
      time: new Date().toISOString(),
      host: (req.headers.host ?? "").replace(/:\d+$/, ""),
      method: req.method ?? "",
      path: req.url ?? "",
      account,
      status,
    };
    fs.appendFileSync(this.config.requestLog, `${JSON.stringify(record)}\n`);
  }

  private reply(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    account: string,
    status: number,
    headers: http.OutgoingHttpHeaders,
    body: string,
  ): void {
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      ...headers,
    });
    res.end(req.method === "HEAD" ? undefined : body);
    this.log(req, account, status);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    if (host === AUTH_HOST) {
      this.token(req, res);
    } else if (host === REGISTRY_HOST) {
      this.registry(req, res);
    } else {
      this.reply(req, res, "", 404, {}, JSON.stringify({ details: `no such host: ${host}` }));
    }
  }

  /** The account Basic credentials name, "" for none, undefined for wrong ones. */
  private account(header: string | undefined): string | undefined {
    const match = /^Basic\s+(\S+)$/i.exec(header ?? "");
    if (!match) return "";
    const decoded = Buffer.from(match[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    const [user, secret] = colon < 0 ? [decoded, ""] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
    const known = this.config.accounts[user];
    return known !== undefined && sameSecret(known, secret) ? user : undefined;
  }

  // GET https://auth.docker.io/token?service=registry.docker.io&scope=repository:NAME:pull (token.md).
  private token(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", `https://${AUTH_HOST}`);
    if (req.method !== "GET" || url.pathname !== "/token") {
      this.reply(req, res, "", 404, {}, JSON.stringify({ details: "not found" }));
      return;
    }
    const account = this.account(req.headers.authorization);
    if (account === undefined) {
      this.reply(req, res, "", 401, {}, JSON.stringify({ details: "incorrect username or password" }));
      return;
    }
    const policy = this.policy();
    // The intersection of what was asked and what the subject may do: pull, by anyone unless a login is required.
    const access = url.searchParams
      .getAll("scope")
      .flatMap((scope) => scope.split(" "))
      .map(parseScope)
      .filter((s): s is { name: string; actions: string[] } => s !== undefined)
      .map((s) => ({
        type: "repository",
        name: s.name,
        actions: s.actions.filter((a) => a === "pull" && (account !== "" || !policy.requireLogin)),
      }));
    const now = Math.floor(Date.now() / 1000);
    const claims: Claims = {
      iss: AUTH_HOST,
      sub: account,
      aud: url.searchParams.get("service") ?? SERVICE,
      exp: now + TOKEN_LIFETIME_SECONDS,
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const token = this.sign(claims);
    const body = JSON.stringify({
      token,
      access_token: token,
      expires_in: TOKEN_LIFETIME_SECONDS,
      issued_at: new Date(now * 1000).toISOString(),
    });
    this.reply(req, res, account, 200, {}, body);
  }

  private sign(claims: Claims): string {
    const unsigned = `${base64url(JSON.stringify({ typ: "JWT", alg: "HS256" }))}.${base64url(JSON.stringify(claims))}`;
    return `${unsigned}.${base64url(createHmac("sha256", this.key).update(unsigned).digest())}`;
  }

  /** The claims of a token this double signed and that is still valid, else undefined. */
  verify(token: string): Claims | undefined {
    const [header, payload, signature] = token.split(".");
    if (signature === undefined) return undefined;
    const expected = base64url(createHmac("sha256", this.key).update(`${header}.${payload}`).digest());
    if (!sameSecret(signature, expected)) return undefined;
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Claims;
    const now = Math.floor(Date.now() / 1000);
    return claims.aud === SERVICE && claims.nbf <= now && now < claims.exp ? claims : undefined;
  }

  // accesscontroller.go: the challenge, with the scope the request needs and the error if a token came.
  private challenge(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    repository: string | undefined,
    error?: "invalid_token" | "insufficient_scope",
  ): void {
    let challenge = `Bearer realm="${REALM}",service="${SERVICE}"`;
    if (repository) challenge += `,scope="repository:${repository}:pull"`;
    if (error) challenge += `,error="${error}"`;
    const detail = repository ? [{ Type: "repository", Class: "", Name: repository, Action: "pull" }] : null;
    this.reply(
      req,
      res,
      "",
      401,
      { "www-authenticate": challenge, "docker-distribution-api-version": "registry/2.0" },
      errorsBody("UNAUTHORIZED", "authentication required", detail),
    );
  }

  private registry(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    const repository = REPOSITORY.exec(path)?.[1];
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    if (bearer === undefined) {
      this.challenge(req, res, repository);
      return;
    }
    const claims = this.verify(bearer);
    if (claims === undefined) {
      this.challenge(req, res, repository, "invalid_token");
      return;
    }
    if (
      repository !== undefined &&
      !claims.access.some((a) => a.type === "repository" && a.name === repository && a.actions.includes("pull"))
    ) {
      this.challenge(req, res, repository, "insufficient_scope");
      return;
    }
    let limitHeaders: http.OutgoingHttpHeaders = {};
    if (MANIFEST.test(path) && (req.method === "GET" || req.method === "HEAD")) {
      const policy = this.policy();
      const subject = claims.sub !== "" ? claims.sub : (req.socket.remoteAddress ?? "");
      const limit = claims.sub !== "" ? policy.limits.authenticated : policy.limits.anonymous;
      const used = this.pulls.get(subject) ?? 0;
      const remaining = Math.max(0, limit - used - (req.method === "GET" ? 1 : 0));
      limitHeaders = {
        "ratelimit-limit": `${limit};w=${WINDOW_SECONDS}`,
        "ratelimit-remaining": `${remaining};w=${WINDOW_SECONDS}`,
        "docker-ratelimit-source": subject,
      };
      if (req.method === "GET") {
        if (used >= limit) {
          const message =
            claims.sub !== ""
              ? `You have reached your pull rate limit as '${claims.sub}'. You may increase the limit by upgrading. https://www.docker.com/increase-rate-limit`
              : "You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit";
          this.reply(
            req,
            res,
            claims.sub,
            429,
            {
              ...limitHeaders,
              "ratelimit-remaining": `0;w=${WINDOW_SECONDS}`,
              "docker-distribution-api-version": "registry/2.0",
            },
            errorsBody("TOOMANYREQUESTS", message),
          );
          return;
        }
        this.pulls.set(subject, used + 1);
      }
    }
    this.forward(req, res, claims.sub, limitHeaders);
  }

  /** Passes an authorized request to the registry behind, without its token. */
  private forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    account: string,
    extra: http.OutgoingHttpHeaders,
  ): void {
    const headers = { ...req.headers };
    delete headers.authorization;
    headers.host = `${this.config.upstream.host}:${this.config.upstream.port}`;
    const upstream = http.request({ ...this.config.upstream, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, { ...answer.headers, ...extra });
      answer.pipe(res);
      answer.on("end", () => this.log(req, account, answer.statusCode ?? 502));
    });
    upstream.on("error", (err) => {
      if (!res.headersSent)
        this.reply(
          req,
          res,
          account,
          502,
          {},
          errorsBody("UNAVAILABLE", `the registry behind is unavailable: ${err.message}`),
        );
      else res.destroy();
    });
    req.pipe(upstream);
  }
}

if (require.main === module) {
  serveFromConfigFile<DockerHubDoubleConfig>(
    "dockerhub.js",
    (config) => new DockerHubDouble(config),
    (config) =>
      `Docker Hub double listening on ${config.host}:${config.port}, in front of ${config.upstream.host}:${config.upstream.port}`,
  );
}
