// msg-rs request/reply over TCP (or TCP+TLS), as FlowProxy 029b7c4 uses it for the system API:
// msg-socket/msg-wire at tag v0.1.5 (97ae1f0). A frame is
//   0x02 (reqrep wire id) | compression type (u8) | message id (u32 BE) | size (u32 BE) | payload
// msg-wire/src/reqrep.rs. A reply carries its request's id; a request whose payload is "PING" is
// answered at once with "PONG" and id 0 (msg-socket/src/rep/driver.rs). FlowProxy configures no
// authentication and no compression, so neither handshake nor compressed payloads are sent.
import * as net from "node:net";
import * as tls from "node:tls";
import { gunzipSync } from "node:zlib";

const WIRE_ID = 0x02;
const HEADER_LENGTH = 10;
const PING = Buffer.from("PING");
const PONG = Buffer.from("PONG");

export function encodeFrame(id: number, payload: Buffer, compression = 0): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  header[0] = WIRE_ID;
  header[1] = compression;
  header.writeUInt32BE(id >>> 0, 2);
  header.writeUInt32BE(payload.length, 6);
  return Buffer.concat([header, payload]);
}

export interface Frame {
  id: number;
  compression: number;
  payload: Buffer;
}

/** Splits a byte stream into frames; a wrong wire id is a protocol error, as in reqrep::Codec. */
export class FrameReader {
  private buffered = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const frames: Frame[] = [];
    while (this.buffered.length > 0) {
      if (this.buffered[0] !== WIRE_ID) {
        throw new Error(`Invalid wire ID: ${this.buffered[0]}`);
      }
      if (this.buffered.length < HEADER_LENGTH) {
        break;
      }
      const size = this.buffered.readUInt32BE(6);
      if (this.buffered.length < HEADER_LENGTH + size) {
        break;
      }
      frames.push({
        id: this.buffered.readUInt32BE(2),
        compression: this.buffered[1],
        payload: this.buffered.subarray(HEADER_LENGTH, HEADER_LENGTH + size),
      });
      this.buffered = this.buffered.subarray(HEADER_LENGTH + size);
    }
    return frames;
  }
}

/**
 * msg-wire's try_decompress_payload. Only gzip (1) can be undone here: zstd, snappy and lz4 have
 * no implementation in Node's standard library, and FlowProxy's own sockets never compress.
 */
function decompress(frame: Frame): Buffer {
  if (frame.compression === 0) {
    return frame.payload;
  }
  if (frame.compression === 1) {
    return gunzipSync(frame.payload);
  }
  throw new Error(`compression type ${frame.compression} is not supported by the sandbox double`);
}

export type RequestHandler = (payload: Buffer, remote: string) => Promise<Buffer>;

/** A RepSocket bound with the plain TCP transport (FlowProxy's system listener). */
export class RepServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(handler: RequestHandler, onError: (message: string) => void) {
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      const reader = new FrameReader();
      socket.on("data", (chunk: Buffer) => {
        let frames: Frame[];
        try {
          frames = reader.push(chunk);
        } catch (err) {
          onError((err as Error).message);
          socket.destroy();
          return;
        }
        for (const frame of frames) {
          let payload: Buffer;
          try {
            payload = decompress(frame);
          } catch (err) {
            onError((err as Error).message);
            socket.destroy();
            return;
          }
          if (payload.equals(PING)) {
            socket.write(encodeFrame(0, PONG));
            continue;
          }
          void handler(payload, `${socket.remoteAddress}:${socket.remotePort}`).then((reply) => {
            if (!socket.destroyed) {
              socket.write(encodeFrame(frame.id, reply));
            }
          });
        }
      });
    });
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
  }

  address(): net.AddressInfo {
    return this.server.address() as net.AddressInfo;
  }

  close(): Promise<void> {
    for (const socket of this.sockets) {
      socket.destroy();
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** ReqError's Display (msg-socket/src/req/mod.rs), which FlowProxy uses as a metric label. */
export class ReqError extends Error {}
export const SOCKET_CLOSED = "Socket closed";
export const REQUEST_TIMED_OUT = "Request timed out";
const REQUEST_TIMEOUT_MS = 5000;

export interface ReqTarget {
  host: string;
  port: number;
  /** TLS client settings when the peer registered a certificate. */
  tls?: tls.ConnectionOptions;
}

export interface ReqLog {
  connected(): void;
  connectFailed(error: string): void;
  connectionClosed(): void;
  gaveUp(): void;
}

const INITIAL_BACKOFF_MS = 200;
const MAX_RETRIES = 16;

/**
 * A ReqSocket after connect_sync: it connects in the background, first after 200 ms, retrying
 * with a doubling delay; after 16 ticks without a connection it gives up for good and every
 * request fails with "Socket closed" (msg-socket/src/connection/backoff.rs, req/driver.rs).
 * Requests made while disconnected wait in the queue.
 */
export class ReqSocket {
  private socket?: net.Socket;
  private connecting = false;
  private closed = false;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  private queue: Buffer[] = [];
  private backoffTimer?: NodeJS.Timeout;
  private backoffMs = INITIAL_BACKOFF_MS;
  private retries = 0;

  constructor(
    private readonly target: ReqTarget,
    private readonly log: ReqLog,
  ) {
    this.scheduleConnect();
  }

  request(payload: Buffer): Promise<Buffer> {
    if (this.closed) {
      return Promise.reject(new ReqError(SOCKET_CLOSED));
    }
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    const frame = encodeFrame(id, payload);
    return new Promise<Buffer>((resolve, reject) => {
      // The driver's own request timeout (ReqOptions' default, 5 s) frees what never got a reply.
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ReqError(REQUEST_TIMED_OUT));
      }, REQUEST_TIMEOUT_MS);
      timer.unref();
      const settle = <T>(f: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        f(v);
      };
      this.pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      if (this.socket) {
        this.socket.write(frame);
      } else {
        this.queue.push(frame);
      }
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.backoffTimer);
    this.socket?.destroy();
    for (const { reject } of this.pending.values()) {
      reject(new ReqError(SOCKET_CLOSED));
    }
    this.pending.clear();
  }

  private scheduleConnect(): void {
    this.backoffMs = INITIAL_BACKOFF_MS;
    this.retries = 0;
    this.tick();
  }

  private tick(): void {
    this.backoffTimer = setTimeout(() => {
      this.backoffMs *= 2;
      this.retries++;
      if (this.retries >= MAX_RETRIES) {
        this.log.gaveUp();
        this.close();
        return;
      }
      if (!this.connecting && !this.socket) {
        this.connect();
      }
      if (!this.socket) {
        this.tick();
      }
    }, this.backoffMs);
    this.backoffTimer.unref();
  }

  private connect(): void {
    this.connecting = true;
    const { host, port } = this.target;
    const socket = this.target.tls ? tls.connect({ ...this.target.tls, host, port }) : net.connect({ host, port });
    const ready = this.target.tls ? "secureConnect" : "connect";
    socket.once(ready, () => {
      this.connecting = false;
      clearTimeout(this.backoffTimer);
      this.socket = socket;
      this.log.connected();
      for (const frame of this.queue) {
        socket.write(frame);
      }
      this.queue = [];
    });
    const reader = new FrameReader();
    socket.on("data", (chunk: Buffer) => {
      try {
        for (const frame of reader.push(chunk)) {
          const waiting = this.pending.get(frame.id);
          this.pending.delete(frame.id);
          waiting?.resolve(decompress(frame));
        }
      } catch {
        socket.destroy();
      }
    });
    socket.on("error", (err) => {
      if (this.socket !== socket) {
        this.connecting = false;
        this.log.connectFailed(err.message);
      }
    });
    socket.on("close", () => {
      if (this.socket === socket) {
        this.socket = undefined;
        this.log.connectionClosed();
        if (!this.closed) {
          this.scheduleConnect();
        }
      }
    });
  }
}
