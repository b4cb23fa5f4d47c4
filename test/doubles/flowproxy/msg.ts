// msg-rs request/reply over TCP (or TCP+TLS), as FlowProxy 029b7c4 uses it for the system API:
// msg-socket/msg-wire at tag v0.1.5 (97ae1f0). A frame is
//   0x02 (reqrep wire id) | compression type (u8) | message id (u32 BE) | size (u32 BE) | payload
// msg-wire/src/reqrep.rs. A reply carries its request's id; a request whose payload is "PING" is
// answered at once with "PONG" and id 0 (msg-socket/src/rep/driver.rs). FlowProxy configures no
// authentication and no compression, so neither handshake nor compressed payloads are sent.
// Compared with msg-rs 97ae1f0's RepSocket and ReqSocket built from source (Tcp transport, set up
// as FlowProxy 029b7c4 sets them up): the bytes each side writes, in both directions, and the
// timings of connecting, reconnecting and timing out.
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

/** reqrep::Error::WireId; `frames` are those the same bytes held before it, which Framed yields first. */
class WireIdError extends Error {
  constructor(
    readonly wireId: number,
    readonly frames: Frame[],
  ) {
    super(`Invalid wire ID: ${wireId}`);
  }
}

/** Splits a byte stream into frames; a wrong wire id is a protocol error, as in reqrep::Codec. */
export class FrameReader {
  private buffered = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const frames: Frame[] = [];
    while (this.buffered.length > 0) {
      if (this.buffered[0] !== WIRE_ID) {
        throw new WireIdError(this.buffered[0], frames);
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

/** The frames in `chunk`, and the wire error that ends the connection after them, if any. */
function read(reader: FrameReader, chunk: Buffer): { frames: Frame[]; error?: WireIdError } {
  try {
    return { frames: reader.push(chunk) };
  } catch (err) {
    if (err instanceof WireIdError) {
      return { frames: err.frames, error: err };
    }
    throw err;
  }
}

/**
 * msg-wire's try_decompress_payload (msg-wire/src/compression/mod.rs@97ae1f0). Only gzip (1) can be
 * undone here: zstd (2), snappy (3) and lz4 (4) have no implementation in Node's standard library,
 * so the double fails them as msg-rs fails a payload it cannot decompress; FlowProxy's own sockets
 * never compress.
 */
function decompress(frame: Frame): Buffer {
  if (frame.compression === 0) {
    return frame.payload;
  }
  if (frame.compression === 1) {
    return gunzipSync(frame.payload);
  }
  if (frame.compression <= 4) {
    throw new Error(`compression type ${frame.compression} is not supported by the sandbox double`);
  }
  throw new Error(`unsupported compression type: ${frame.compression}`);
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
      let failed = false;
      socket.on("data", (chunk: Buffer) => {
        if (failed) {
          return;
        }
        // rep/driver.rs: the frames before a bad wire id are served; then the peer's stream ends and
        // the connection is shut down once what was already written is flushed.
        const { frames, error } = read(reader, chunk);
        if (error) {
          failed = true;
          onError(error.message);
        }
        for (const frame of frames) {
          // rep/driver.rs: PING is matched on the payload as it arrived, before any decompression,
          // and answered at once with id 0.
          if (frame.payload.equals(PING)) {
            socket.write(encodeFrame(0, PONG));
            continue;
          }
          // rep/driver.rs: a payload that does not decompress drops that request only ("failed to
          // decompress message"); the connection stays.
          let payload: Buffer;
          try {
            payload = decompress(frame);
          } catch (err) {
            onError((err as Error).message);
            continue;
          }
          void handler(payload, `${socket.remoteAddress}:${socket.remotePort}`).then((reply) => {
            if (socket.writable) {
              socket.write(encodeFrame(frame.id, reply));
            }
          });
        }
        if (failed) {
          socket.destroySoon();
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
/** ReqError::Wire(reqrep::Error::Decompression): "Wire protocol error: {0:?}". */
export const WIRE_DECOMPRESSION = "Wire protocol error: Decompression";
/** ReqOptions' default timeout (req/mod.rs), checked every timeout / 10 (req/socket.rs spawn_driver). */
const REQUEST_TIMEOUT_MS = 5000;
const TIMEOUT_CHECK_MS = REQUEST_TIMEOUT_MS / 10;

export interface ReqTarget {
  host: string;
  port: number;
  /** TLS client settings when the peer registered a certificate. */
  tls?: tls.ConnectionOptions;
  /** Set when every connection attempt fails before connecting, with this error (tcp_tls connect). */
  connectError?: string;
}

export interface ReqLog {
  connected(): void;
  connectFailed(error: string): void;
  connectionClosed(): void;
  gaveUp(): void;
}

/** req/socket.rs connect_sync: the first connection's ExponentialBackoff starts at 20 ms. */
const CONNECT_BACKOFF_MS = 20;
/** req/driver.rs reset_connection: a lost connection's starts at ReqOptions' backoff_duration, 200 ms. */
const RECONNECT_BACKOFF_MS = 200;
/** Both give up after 16 ticks (connection/backoff.rs). */
const MAX_RETRIES = 16;

/** The timers the driver runs on; tests step a clock of their own through the same calls. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setInterval: (callback, ms) => setInterval(callback, ms).unref(),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

interface Waiting {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

/**
 * A ReqSocket after connect_sync, as msg-socket's req driver at 97ae1f0 runs it (req/socket.rs,
 * req/driver.rs, connection/backoff.rs). It connects in the background: an attempt at each tick
 * of an exponential backoff (20 ms, then doubling), and after a lost connection again from 200 ms;
 * after 16 ticks without a connection the driver ends and every request fails with "Socket
 * closed". While it is not connected the driver reads no requests: they wait, unsent and without a
 * clock, until it connects, when each gets its id and its start time. Sent requests time out after
 * 5 s, seen by a check every 500 ms that runs only while connected. A reply that does not
 * decompress fails its request with "Wire protocol error: Decompression"; one with an unknown id
 * is ignored.
 */
export class ReqSocket {
  private socket?: net.Socket;
  private connecting = false;
  private closed = false;
  private nextId = 0;
  private readonly pending = new Map<number, Waiting & { start: number }>();
  private queue: (Waiting & { payload: Buffer })[] = [];
  private backoffTimer?: unknown;
  private readonly timeoutCheck: unknown;
  private backoffMs = CONNECT_BACKOFF_MS;
  private retries = 0;

  constructor(
    private readonly target: ReqTarget,
    private readonly log: ReqLog,
    private readonly clock: Clock = SYSTEM_CLOCK,
  ) {
    this.timeoutCheck = clock.setInterval(() => this.socket && this.checkTimeouts(), TIMEOUT_CHECK_MS);
    this.startBackoff(CONNECT_BACKOFF_MS);
  }

  request(payload: Buffer): Promise<Buffer> {
    if (this.closed) {
      return Promise.reject(new ReqError(SOCKET_CLOSED));
    }
    return new Promise<Buffer>((resolve, reject) => {
      const request = { payload, resolve, reject };
      if (this.socket) {
        this.send(request);
      } else {
        this.queue.push(request);
      }
    });
  }

  close(): void {
    this.closed = true;
    this.clock.clearTimeout(this.backoffTimer);
    this.clock.clearInterval(this.timeoutCheck);
    this.socket?.destroy();
    for (const { reject } of [...this.pending.values(), ...this.queue]) {
      reject(new ReqError(SOCKET_CLOSED));
    }
    this.pending.clear();
    this.queue = [];
  }

  /** on_send: the id counter wraps; the request's clock starts here. */
  private send({ payload, resolve, reject }: Waiting & { payload: Buffer }): void {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    this.pending.set(id, { resolve, reject, start: this.clock.now() });
    this.socket?.write(encodeFrame(id, payload));
  }

  /** check_timeouts: strictly more than the timeout since the request was sent. */
  private checkTimeouts(): void {
    const now = this.clock.now();
    for (const [id, waiting] of this.pending) {
      if (now - waiting.start > REQUEST_TIMEOUT_MS) {
        this.pending.delete(id);
        waiting.reject(new ReqError(REQUEST_TIMED_OUT));
      }
    }
  }

  private startBackoff(initialMs: number): void {
    this.backoffMs = initialMs;
    this.retries = 0;
    this.tick();
  }

  private tick(): void {
    this.backoffTimer = this.clock.setTimeout(() => {
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
  }

  private connect(): void {
    if (this.target.connectError !== undefined) {
      this.log.connectFailed(this.target.connectError);
      return;
    }
    this.connecting = true;
    const { host, port } = this.target;
    const socket = this.target.tls ? tls.connect({ ...this.target.tls, host, port }) : net.connect({ host, port });
    const ready = this.target.tls ? "secureConnect" : "connect";
    socket.once(ready, () => {
      this.connecting = false;
      this.clock.clearTimeout(this.backoffTimer);
      if (this.closed) {
        socket.destroy();
        return;
      }
      this.socket = socket;
      this.log.connected();
      // A timeout check missed while disconnected fires at once (tokio's Interval bursts).
      this.checkTimeouts();
      const queued = this.queue;
      this.queue = [];
      queued.forEach((request) => this.send(request));
    });
    const reader = new FrameReader();
    socket.on("data", (chunk: Buffer) => {
      const { frames, error } = read(reader, chunk);
      for (const frame of frames) {
        this.onMessage(frame);
      }
      if (error) {
        // "failed to read from connection, resetting connection state"
        socket.destroy();
      }
    });
    socket.on("error", (err: Error) => {
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
          this.startBackoff(RECONNECT_BACKOFF_MS);
        }
      }
    });
  }

  /** on_message */
  private onMessage(frame: Frame): void {
    const waiting = this.pending.get(frame.id);
    if (!waiting) {
      return;
    }
    this.pending.delete(frame.id);
    let payload: Buffer;
    try {
      payload = decompress(frame);
    } catch {
      waiting.reject(new ReqError(WIRE_DECOMPRESSION));
      return;
    }
    waiting.resolve(payload);
  }
}
