// Stand-in for the BuilderHub mock (the `mempirate/mockhub` image) in the sandbox's vm-builderhub,
// started by the docker double. Test code: it never ships to Azure. It keeps the real mock's
// contract: port 3000, SYSTEM_PORT required, the two API routes, and axum's status codes for a bad
// request body (415 without a JSON content type, 400 for malformed JSON, 422 for wrong fields).
//
// Differences from the real mock, on purpose:
// - Registrations persist in /var/lib/mockhub/registrations.json, so they survive a restart.
// - A registration replaces the entry with the same signer address (as the real mock does) and
//   also the entry from the same source IP (one VM, one entry).
// - Fault switch for tests: the file /var/lib/mockhub/fault holds one word:
//     down   every connection is closed without an answer
//     flap   every other request answers 503
//     slow   every answer is delayed by 15 s
//     error  every request answers 500
//   Remove the file (or leave it empty) for normal service; it is read on every request.
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { toChecksumAddress } from "./keccak";

export const REGISTER_PATH = "/api/l1-builder/v1/register_credentials/orderflow_proxy";
export const BUILDERS_PATH = "/api/l1-builder/v1/builders";
export const MOCKHUB_PORT = 3000;
export const SLOW_DELAY_MS = 15_000;
/** The words the fault file may hold (see the top of this file). */
export const MOCKHUB_FAULTS = ["down", "flap", "slow", "error"] as const;
export type MockhubFault = (typeof MOCKHUB_FAULTS)[number];
export const MOCKHUB_STATE_DIR = "/var/lib/mockhub";

export interface Builder {
  name: string;
  ip: string;
  dns_name: string;
  orderflow_proxy: { tls_cert: string | null; ecdsa_pubkey_address: string };
  instance: { tls_cert: string };
}

export interface MockhubOptions {
  systemPort: number;
  stateDir: string;
  host?: string;
  port?: number;
}

const ADDRESS = /^(0x)?[0-9a-fA-F]{40}$/;

type Parsed = { ok: true; value: Builder["orderflow_proxy"] } | { ok: false; status: number; message: string };

export function parseRegistration(contentType: string | undefined, body: string): Parsed {
  const mediaType = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (mediaType !== "application/json" && !mediaType.endsWith("+json")) {
    return { ok: false, status: 415, message: "Expected request with `Content-Type: application/json`" };
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    return { ok: false, status: 400, message: `Failed to parse the request body as JSON: ${(err as Error).message}` };
  }
  const invalid = (why: string): Parsed => ({
    ok: false,
    status: 422,
    message: `Failed to deserialize the JSON body into the target type: ${why}`,
  });
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid("expected a JSON object");
  }
  const record = value as Record<string, unknown>;
  const address = record.ecdsa_pubkey_address;
  if (typeof address !== "string") {
    return invalid("missing field `ecdsa_pubkey_address`");
  }
  if (!ADDRESS.test(address)) {
    return invalid("ecdsa_pubkey_address: invalid address, expected 0x and 40 hex digits");
  }
  const cert = record.tls_cert ?? null;
  if (cert !== null && typeof cert !== "string") {
    return invalid("tls_cert: expected a string or null");
  }
  return { ok: true, value: { tls_cert: cert, ecdsa_pubkey_address: toChecksumAddress(address) } };
}

function clientIp(req: http.IncomingMessage): string {
  return (req.socket.remoteAddress ?? "unknown").replace(/^::ffff:/, "");
}

export class Registry {
  private builders: Builder[];

  constructor(
    private readonly file: string,
    private readonly systemPort: number,
  ) {
    this.builders = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as Builder[]) : [];
  }

  list(): Builder[] {
    return this.builders;
  }

  register(sourceIp: string, credentials: Builder["orderflow_proxy"]): Builder {
    const builder: Builder = {
      name: credentials.ecdsa_pubkey_address,
      ip: `${sourceIp}:${this.systemPort}`,
      dns_name: sourceIp,
      orderflow_proxy: credentials,
      // The real mock leaves this empty whatever ENABLE_TLS says; proxies use orderflow_proxy.tls_cert.
      instance: { tls_cert: "" },
    };
    const signer = credentials.ecdsa_pubkey_address.toLowerCase();
    this.builders = this.builders
      .filter((b) => b.dns_name !== sourceIp && b.orderflow_proxy.ecdsa_pubkey_address.toLowerCase() !== signer)
      .concat(builder);
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.builders, null, 2));
    fs.renameSync(tmp, this.file);
    return builder;
  }
}

function readFault(file: string): string {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json" });
  res.end(text);
}

export function startMockhub(options: MockhubOptions): Promise<http.Server> {
  fs.mkdirSync(options.stateDir, { recursive: true });
  const registry = new Registry(path.join(options.stateDir, "registrations.json"), options.systemPort);
  const faultFile = path.join(options.stateDir, "fault");
  let requestCount = 0;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const fault = readFault(faultFile);
    requestCount++;
    if (fault === "down") {
      req.socket.destroy();
      return;
    }
    if (fault === "error" || (fault === "flap" && requestCount % 2 === 1)) {
      send(res, fault === "error" ? 500 : 503, `fault injected: ${fault}`);
      return;
    }
    if (fault === "slow") {
      await new Promise((resolve) => setTimeout(resolve, SLOW_DELAY_MS));
    }
    const url = (req.url ?? "/").split("?")[0];
    if (url === BUILDERS_PATH) {
      if (req.method !== "GET") {
        send(res, 405, "");
        return;
      }
      send(res, 200, registry.list());
    } else if (url === REGISTER_PATH) {
      if (req.method !== "POST") {
        send(res, 405, "");
        return;
      }
      const parsed = parseRegistration(req.headers["content-type"], await readBody(req));
      if (!parsed.ok) {
        send(res, parsed.status, parsed.message);
        return;
      }
      const builder = registry.register(clientIp(req), parsed.value);
      console.log(`registered ${builder.name} from ${builder.dns_name}`);
      send(res, 200, "");
    } else {
      send(res, 404, "");
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      console.error(`request failed: ${err.message}`);
      if (!res.headersSent) {
        send(res, 500, "internal error");
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? MOCKHUB_PORT, options.host ?? "0.0.0.0", () => resolve(server));
  });
}

function main(): void {
  const systemPort = process.env.SYSTEM_PORT;
  if (systemPort === undefined) {
    // The real mock panics the same way.
    console.error("thread 'main' panicked: SYSTEM_PORT is not set");
    process.exit(101);
  }
  const port = Number(systemPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error("thread 'main' panicked: SYSTEM_PORT must be a valid port number");
    process.exit(101);
  }
  startMockhub({ systemPort: port, stateDir: MOCKHUB_STATE_DIR }).then(
    (server) => console.log(`Listening on ${JSON.stringify(server.address())} tls_enabled=${process.env.ENABLE_TLS === "true"}`),
    (err: Error) => {
      console.error(`cannot listen on port ${MOCKHUB_PORT}: ${err.message}`);
      process.exit(1);
    },
  );
}

if (require.main === module) {
  main();
}
