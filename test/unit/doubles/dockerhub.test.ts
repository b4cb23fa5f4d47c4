// The Docker Hub double (test/doubles/dockerhub.ts) against what Docker Hub and distribution's token
// authentication do (the upstream files it cites): the challenge, the token service, access left out
// rather than refused, wrong credentials, the pull rate limit and its headers. Behind it a stand-in
// registry on loopback records what reaches it.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import type { DockerHubPolicy } from "../../../sandbox/internet/doubles-interface";
import { DockerHubDouble, parseScope } from "../../doubles/dockerhub";

const USER = "flowproxyops";
const TOKEN = "dckr_pat_unitTestToken0123456789";
const CHALLENGE = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"';
const MANIFEST = "/v2/library/haproxy/manifests/3.0.11";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe("the Docker Hub double", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dockerhub-double-"));
  const policyFile = path.join(dir, "policy.json");
  const requestLog = path.join(dir, "requests.jsonl");
  const reached: string[] = [];
  let registry: http.Server;
  let double: DockerHubDouble;
  let port: number;

  before(async () => {
    registry = http.createServer((req, res) => {
      reached.push(`${req.method} ${req.url} ${req.headers.authorization ?? "-"}`);
      res.writeHead(200, { "content-type": "application/json", "docker-distribution-api-version": "registry/2.0" });
      res.end("{}");
    });
    await new Promise<void>((resolve) => registry.listen(0, "127.0.0.1", resolve));
    const upstream = { host: "127.0.0.1", port: (registry.address() as { port: number }).port };
    double = new DockerHubDouble({
      host: "127.0.0.1",
      port: 0,
      upstream,
      accounts: { [USER]: TOKEN },
      policyFile,
      requestLog,
    });
    port = await double.listen();
  });

  after(async () => {
    await double.close();
    await new Promise((resolve) => registry.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    reached.length = 0;
    fs.rmSync(policyFile, { force: true });
  });

  const setPolicy = (policy: DockerHubPolicy) => fs.writeFileSync(policyFile, JSON.stringify(policy));

  function request(
    host: string,
    urlPath: string,
    headers: Record<string, string> = {},
    method = "GET",
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: "127.0.0.1", port, path: urlPath, method, headers: { host, ...headers } },
        (res) => {
          let body = "";
          res.on("data", (chunk: Buffer) => (body += chunk.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on("error", reject);
      req.end();
    });
  }

  const basic = (user: string, secret: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString("base64")}`,
  });

  /** The token service's answer (distribution's token.md). */
  interface TokenReply {
    token: string;
    access_token: string;
    expires_in: number;
    issued_at: string;
    refresh_token?: string;
  }
  /** A registry error body (distribution's errors). */
  interface ErrorsReply {
    errors: { code: string; message: string; detail: unknown }[];
  }

  /** A token as dockerd gets one: service and scope from the challenge, Basic credentials when logged in. */
  async function tokenFor(scope: string | undefined, credentials?: [string, string]): Promise<string> {
    const query = new URLSearchParams({
      service: "registry.docker.io",
      ...(scope ? { scope } : {}),
      ...(credentials ? { account: credentials[0], client_id: "docker", offline_token: "true" } : {}),
    });
    const reply = await request(
      "auth.docker.io",
      `/token?${query.toString()}`,
      credentials ? basic(...credentials) : {},
    );
    assert.equal(reply.status, 200, reply.body);
    const body = JSON.parse(reply.body) as TokenReply;
    assert.equal(body.token, body.access_token);
    assert.ok(body.expires_in >= 60, "never less than 60 s to live (token.md)");
    assert.ok(!Number.isNaN(Date.parse(body.issued_at)));
    assert.equal(body.refresh_token, undefined);
    return body.token;
  }
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  test("a registry request without a token gets 401 with the Bearer challenge naming realm, service and the repository's scope", async () => {
    const ping = await request("registry-1.docker.io", "/v2/");
    assert.equal(ping.status, 401);
    assert.equal(ping.headers["www-authenticate"], CHALLENGE);
    assert.equal(ping.headers["docker-distribution-api-version"], "registry/2.0");
    assert.deepEqual(JSON.parse(ping.body), {
      errors: [{ code: "UNAUTHORIZED", message: "authentication required", detail: null }],
    });
    const manifest = await request("registry-1.docker.io", MANIFEST);
    assert.equal(manifest.headers["www-authenticate"], `${CHALLENGE},scope="repository:library/haproxy:pull"`);
    assert.deepEqual((JSON.parse(manifest.body) as ErrorsReply).errors[0].detail, [
      { Type: "repository", Class: "", Name: "library/haproxy", Action: "pull" },
    ]);
    assert.deepEqual(reached, [], "nothing reaches the registry without a token");
  });

  test("an anonymous token pulls a public image, and the token never reaches the registry behind", async () => {
    const token = await tokenFor("repository:library/haproxy:pull");
    const manifest = await request("registry-1.docker.io", MANIFEST, bearer(token));
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers["ratelimit-limit"], "10;w=21600");
    assert.equal(manifest.headers["ratelimit-remaining"], "9;w=21600");
    assert.equal(manifest.headers["docker-ratelimit-source"], "127.0.0.1");
    assert.deepEqual(reached, [`GET ${MANIFEST} -`]);
  });

  test("a login is a token without scope for Basic credentials, which /v2/ then accepts; wrong credentials get 401", async () => {
    const token = await tokenFor(undefined, [USER, TOKEN]);
    assert.equal((await request("registry-1.docker.io", "/v2/", bearer(token))).status, 200);
    const wrong = await request(
      "auth.docker.io",
      "/token?service=registry.docker.io&account=flowproxyops",
      basic(USER, "dckr_pat_wrong"),
    );
    assert.equal(wrong.status, 401);
    assert.deepEqual(JSON.parse(wrong.body), { details: "incorrect username or password" });
    const forged = await request("registry-1.docker.io", "/v2/", bearer(`${token.slice(0, -4)}AAAA`));
    assert.equal(forged.status, 401);
    assert.equal(forged.headers["www-authenticate"], `${CHALLENGE},error="invalid_token"`);
  });

  test("where a login is required, the anonymous token carries no access and the pull is refused as insufficient_scope", async () => {
    setPolicy({ requireLogin: true, limits: { anonymous: 10, authenticated: 100 } });
    const anonymous = await tokenFor("repository:library/haproxy:pull");
    const refused = await request("registry-1.docker.io", MANIFEST, bearer(anonymous));
    assert.equal(refused.status, 401);
    assert.equal(
      refused.headers["www-authenticate"],
      `${CHALLENGE},scope="repository:library/haproxy:pull",error="insufficient_scope"`,
    );
    const token = await tokenFor("repository:library/haproxy:pull", [USER, TOKEN]);
    const pulled = await request("registry-1.docker.io", MANIFEST, bearer(token));
    assert.equal(pulled.status, 200);
    assert.equal(pulled.headers["docker-ratelimit-source"], USER);
    assert.equal(pulled.headers["ratelimit-limit"], "100;w=21600");
  });

  test("past the anonymous limit a manifest GET gets 429 TOOMANYREQUESTS naming the pull rate limit; HEAD does not count, accounts count apart, a new policy is a new window", async () => {
    setPolicy({ requireLogin: false, limits: { anonymous: 2, authenticated: 100 } });
    const token = await tokenFor("repository:library/haproxy:pull");
    assert.equal(
      (await request("registry-1.docker.io", MANIFEST, bearer(token), "HEAD")).headers["ratelimit-remaining"],
      "2;w=21600",
    );
    assert.equal(
      (await request("registry-1.docker.io", MANIFEST, bearer(token))).headers["ratelimit-remaining"],
      "1;w=21600",
    );
    assert.equal(
      (await request("registry-1.docker.io", MANIFEST, bearer(token))).headers["ratelimit-remaining"],
      "0;w=21600",
    );
    const limited = await request("registry-1.docker.io", MANIFEST, bearer(token));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers["ratelimit-remaining"], "0;w=21600");
    const [error] = (JSON.parse(limited.body) as ErrorsReply).errors;
    assert.equal(error.code, "TOOMANYREQUESTS");
    assert.match(
      error.message,
      /^You have reached your unauthenticated pull rate limit\. https:\/\/www\.docker\.com\/increase-rate-limit$/,
    );
    assert.equal(reached.filter((r) => r.startsWith("GET")).length, 2, "the refused pull never reached the registry");

    const account = await tokenFor("repository:library/haproxy:pull", [USER, TOKEN]);
    assert.equal((await request("registry-1.docker.io", MANIFEST, bearer(account))).status, 200);
    setPolicy({ requireLogin: false, limits: { anonymous: 3, authenticated: 100 } });
    assert.equal((await request("registry-1.docker.io", MANIFEST, bearer(token))).status, 200);
  });

  test("logs every request with its account and status, never a token or a password", async () => {
    await tokenFor("repository:library/haproxy:pull", [USER, TOKEN]);
    const log = fs.readFileSync(requestLog, "utf8");
    assert.ok(
      !log.includes(TOKEN) && !log.includes(Buffer.from(`${USER}:${TOKEN}`).toString("base64")) && !/eyJ/.test(log),
    );
    const last = JSON.parse(log.trimEnd().split("\n").pop()!) as Record<string, unknown>;
    assert.deepEqual(
      { ...last, time: "T" },
      { time: "T", host: "auth.docker.io", method: "GET", path: last.path, account: USER, status: 200 },
    );
  });

  test("reads a scope as distribution writes it", () => {
    assert.deepEqual(parseScope("repository:library/haproxy:pull"), { name: "library/haproxy", actions: ["pull"] });
    assert.deepEqual(parseScope("repository:samalba/my-app:pull,push"), {
      name: "samalba/my-app",
      actions: ["pull", "push"],
    });
    assert.equal(parseScope("registry:catalog:*"), undefined);
  });
});
