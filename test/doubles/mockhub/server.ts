// mockhub's server: simulation/mockhub/src/main.rs at b56e719 (its routes, its bind) under axum 0.8.4's
// router (aa7fc3f, src/routing/method_routing.rs), served as hyper serves it (http.ts).
import * as http from "node:http";
import { BUILDERHUB, BUILDERHUB_API } from "../../../lib/contract";
import { BODY_LIMIT, decodeBody, LENGTH_LIMIT, MISSING_JSON_CONTENT_TYPE } from "./body";
import { FaultSwitch } from "./faults";
import { answeredAndClosing, answerParseError, HYPER_MAX_BUFFER_SIZE, refusedByHyper, reply } from "./http";
import { isJsonContentType } from "./mime";
import { builderName, Registry, reverseLookup } from "./registry";

// main.rs's routes and its bind, SocketAddr::from(([0, 0, 0, 0], 3000)), as the contract records them.
const { register: REGISTER_PATH, builders: BUILDERS_PATH } = BUILDERHUB_API;
export const MOCKHUB_HOST = "0.0.0.0";

interface MockhubOptions {
  /** SYSTEM_PORT, already parsed. */
  systemPort: number;
  /** ENABLE_TLS, already parsed (unset means false). */
  enableTls?: boolean;
  host?: string;
  port?: number;
  /** The reverse lookup main.rs does; tests may give their own. */
  lookup?: (ip: string) => Promise<string>;
  /** Log lines (the tracing output's facts); console.log by default. */
  log?: (line: string) => void;
  /** Sandbox only: the directory of the fault switch (faults.ts). Nothing else is stored. */
  stateDir?: string;
}

function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on("data", (chunk: Buffer) => {
      length += chunk.length;
      if (length <= BODY_LIMIT) {
        chunks.push(chunk);
      }
    });
    req.on("end", () => resolve(length > BODY_LIMIT ? undefined : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * The path axum routes on: the request target as sent (no decoding, no trailing-slash redirect),
 * query aside; an absolute-form target routes on its path, anything else (`*`) on itself.
 */
function routedPath(target: string): string {
  if (target.startsWith("/")) {
    return target.split("?")[0];
  }
  try {
    return new URL(target).pathname;
  } catch {
    return target;
  }
}

async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  registry: Registry,
  options: MockhubOptions,
): Promise<void> {
  const log = options.log ?? console.log;
  const lookup = options.lookup ?? reverseLookup;
  const refused = refusedByHyper(req);
  if (refused !== undefined) {
    // hyper answers and closes without reading further: what Node's parser finds after this is not answered.
    answeredAndClosing.add(req.socket);
    req.resume();
    res.writeHead(refused, { connection: "close", "content-length": 0 });
    res.end();
    return;
  }
  const urlPath = routedPath(req.url ?? "/");
  const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  const sourceIp = req.socket.remoteAddress ?? "";

  if (urlPath === BUILDERS_PATH) {
    // get(handler) also answers HEAD (the body is dropped); any other method is 405.
    if (req.method !== "GET" && req.method !== "HEAD") {
      reply(res, 405, "", { allow: "GET,HEAD" });
      return;
    }
    log(`INFO get_builders{addr=${peer}}: mockhub: Getting builders`);
    const builders = registry.list();
    log(`INFO get_builders{addr=${peer}}: mockhub: Found ${builders.length} builders`);
    reply(res, 200, JSON.stringify(builders), { "content-type": "application/json" });
    return;
  }
  if (urlPath === REGISTER_PATH) {
    if (req.method !== "POST") {
      reply(res, 405, "", { allow: "POST" });
      return;
    }
    // The Json extractor looks at the content type before it reads the body.
    const contentType = req.headers["content-type"];
    if (!isJsonContentType(contentType)) {
      req.resume();
      reply(res, 415, MISSING_JSON_CONTENT_TYPE, { "content-type": "text/plain; charset=utf-8" });
      return;
    }
    const body = await readBody(req);
    const parsed = body === undefined ? ({ ok: false, status: 413, body: LENGTH_LIMIT } as const) : decodeBody(body);
    if (!parsed.ok) {
      reply(res, parsed.status, parsed.body, { "content-type": "text/plain; charset=utf-8" });
      return;
    }
    log(
      `INFO register_credentials{addr=${peer}}: mockhub: Registering credentials for builder: ${parsed.credentials.ecdsa_pubkey_address}`,
    );
    // The name is looked up for every registration, before the registry is asked.
    const name = await builderName(sourceIp, parsed.address, lookup);
    registry.register(registry.entry(sourceIp, name, parsed.credentials));
    reply(res, 200);
    return;
  }
  reply(res, 404);
}

export function startMockhub(options: MockhubOptions): Promise<http.Server> {
  const registry = new Registry(options.systemPort, options.enableTls ?? false);
  const faults = options.stateDir === undefined ? undefined : new FaultSwitch(options.stateDir);
  const server = http.createServer(
    { requireHostHeader: false, maxHeaderSize: HYPER_MAX_BUFFER_SIZE, requestTimeout: 0 },
    (req, res) => {
      const serve = () =>
        handle(req, res, registry, options).catch((err: Error) => {
          console.error(`request failed: ${err.message}`);
          if (!res.headersSent) {
            reply(res, 500);
          }
        });
      if (faults) {
        faults.apply(req, res, () => void serve());
      } else {
        void serve();
      }
    },
  );
  // No timer under hyper (see http.ts): nothing times out.
  server.headersTimeout = 0;
  server.keepAliveTimeout = 0;
  server.on("clientError", answerParseError);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? BUILDERHUB.port, options.host ?? MOCKHUB_HOST, () => resolve(server));
  });
}
