// The HTTP client FlowProxy calls BuilderHub, the local builder and (at 258bbd6) its peers with:
// reqwest's behaviour as FlowProxy builds it (src/consts.rs timeouts), over node:http and
// node:https (no fetch under --jitless).
import * as http from "node:http";
import * as https from "node:https";
import type * as tls from "node:tls";
import { debugString } from "./log";

/** src/consts.rs: DEFAULT_HTTP_TIMEOUT_SECS and DEFAULT_CONNECT_TIMEOUT_MS. */
const HTTP_TIMEOUT_MS = 2000;
export const CONNECT_TIMEOUT_MS = 800;

/** A failed request, with reqwest's Display (metric labels) and a Debug-like text. */
export class RequestFailure extends Error {
  constructor(
    readonly display: string,
    readonly debug: string,
    readonly isConnect = false,
  ) {
    super(display);
  }
}

interface RequestOptions {
  method: string;
  headers?: Record<string, string>;
  body?: Buffer;
  tls?: tls.ConnectionOptions;
  connectTimeout?: number;
}

/** A reqwest-like client call: 2 s overall timeout, node:http/https only (no fetch under --jitless). */
export function httpRequest(url: string, options: RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new RequestFailure("builder error", "reqwest::Error { kind: Builder }"));
      return;
    }
    const secure = target.protocol === "https:";
    const connectFailure = (err: NodeJS.ErrnoException) =>
      new RequestFailure(
        `error sending request for url (${target.toString()})`,
        `reqwest::Error { kind: Request, url: ${debugString(target.toString())}, source: hyper_util::client::legacy::Error(Connect, ${debugString(err.message)}) }`,
        true,
      );
    let connected = false;
    const request = (secure ? https : http).request(
      target,
      {
        method: options.method,
        headers: { accept: "*/*", ...options.headers },
        agent: false,
        ...(secure ? options.tls : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        response.on("error", (err) => reject(connectFailure(err)));
      },
    );
    const overall = setTimeout(
      () => request.destroy(Object.assign(new Error("operation timed out"), { timedOut: true })),
      HTTP_TIMEOUT_MS,
    );
    request.on("socket", (socket) => {
      const ready = secure ? "secureConnect" : "connect";
      socket.once(ready, () => {
        connected = true;
      });
      if (options.connectTimeout) {
        const connectTimer = setTimeout(() => {
          if (!connected) request.destroy(new Error("operation timed out"));
        }, options.connectTimeout);
        socket.once(ready, () => clearTimeout(connectTimer));
        socket.once("close", () => clearTimeout(connectTimer));
      }
    });
    request.on("error", (err: NodeJS.ErrnoException & { timedOut?: boolean }) => {
      clearTimeout(overall);
      if (!connected) {
        reject(connectFailure(err));
      } else {
        reject(
          new RequestFailure(
            `error sending request for url (${target.toString()})`,
            `reqwest::Error { kind: Request, url: ${debugString(target.toString())}, source: ${err.timedOut ? "TimedOut" : debugString(err.message)} }`,
          ),
        );
      }
    });
    request.on("close", () => clearTimeout(overall));
    request.end(options.body);
  });
}
