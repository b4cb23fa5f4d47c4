// Probes of a running sandbox, shared by the end-to-end suite and the reliability report: requests
// from the host (the internet side) to the VMs' public IPs, questions asked inside the VMs, and the
// BuilderHub double's fault switch. Traffic goes only to the sandbox's own addresses, and every
// loop here ends by itself.
import { createHash, X509Certificate } from "crypto";
import * as http from "http";
import * as https from "https";
import * as tls from "tls";
import { MOCKHUB_INJECTED_FILE, MOCKHUB_STATE_DIR, MockhubFault, mockhubFaultLine } from "./internet/doubles-interface";
import {
  BUILDERHUB,
  BUILDERHUB_API,
  BUILDERHUB_ENDPOINT,
  BuilderListing,
  CONTAINERS,
  PORTS,
  UNITS,
  VM_PATHS,
} from "../lib/contract";
import { PEER_COUNT, seriesSum, SYSTEM_FLOW_ACCEPTED } from "../verify/metrics";
import { METRICS_SCRIPT } from "../verify/remote";
import type { UserEndpoint } from "../verify/searcher";
import { connectFromHere } from "../verify/target";
import { sleep } from "./base/proc";
import { Vm, vmByName } from "./base/topology";
import { vmCheck, vmExec } from "./machines/vm";

const REQUEST_TIMEOUT_MS = 5000;

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function publicIpOf(vm: Vm): string {
  if (vm.publicIp === undefined) {
    throw new Error(`${vm.name} has no public IP`);
  }
  return vm.publicIp;
}

/**
 * A request from the host to a VM's public IP: plain HTTP on :80, TLS elsewhere (the certificates
 * are self-signed, so not verified here; peerCertificate shows which one is presented). A body
 * makes it a JSON POST; a string body is sent byte for byte (a signed request must arrive as it
 * was signed). One connection per request, as a new client would open.
 */
export function publicRequest(
  vm: Vm,
  port: number,
  urlPath: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const client = port === PORTS.http ? http : https;
  return new Promise((resolve, reject) => {
    const request = client.request(
      {
        host: publicIpOf(vm),
        port,
        path: urlPath,
        method: body === undefined ? "GET" : "POST",
        rejectUnauthorized: false,
        agent: false,
        headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", reject);
    request.end(body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body));
  });
}

/** A proxy's user endpoint on a public port, as searchers' clients reach it through publicRequest. */
export function publicEndpoint(vm: Vm, port: number): UserEndpoint {
  return {
    url: new URL(`${port === PORTS.http ? "http" : "https"}://${publicIpOf(vm)}:${port}/`).href,
    post: (body, headers) => publicRequest(vm, port, "/", body, headers),
  };
}

/** The certificate (DER) a TLS port of the VM's public IP presents. */
export function peerCertificate(vm: Vm, port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: publicIpOf(vm), port, rejectUnauthorized: false });
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy(new Error("timed out")));
    socket.once("error", reject);
    socket.once("secureConnect", () => {
      const der = socket.getPeerCertificate().raw;
      socket.end();
      resolve(der);
    });
  });
}

export const pemToDer = (pem: string): Buffer => new X509Certificate(pem).raw;

/**
 * "connected", or the error code a TCP connection from the host gets (ECONNREFUSED, EHOSTUNREACH,
 * ETIMEDOUT when an NSG drops it...), from `localAddress` if given (another host address).
 */
export async function connectOutcome(host: string, port: number, localAddress?: string): Promise<string> {
  const outcome = await connectFromHere(host, port, 2000, localAddress);
  return outcome === "timeout" ? "ETIMEDOUT" : outcome;
}

/**
 * How long HAProxy keeps an idle keep-alive connection open after answering (its `timeout
 * http-keep-alive`): a behaviour of the configuration that is actually running.
 */
export function idleKeepAliveMs(vm: Vm, port: number, limitMs = 20_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: publicIpOf(vm), port, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] });
    let answeredAt: number | undefined;
    let received = "";
    const timer = setTimeout(() => socket.destroy(new Error(`the connection stayed open for ${limitMs} ms`)), limitMs);
    socket.once("secureConnect", () => socket.write("GET /livez HTTP/1.1\r\nHost: sandbox\r\n\r\n"));
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString();
      if (answeredAt === undefined && received.includes("\r\n\r\n")) {
        answeredAt = Date.now();
      }
    });
    socket.once("error", (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once("close", () => {
      clearTimeout(timer);
      if (answeredAt === undefined) {
        reject(new Error("the connection closed without an answer"));
      } else {
        resolve(Date.now() - answeredAt);
      }
    });
  });
}

/** Polls `probe` until it returns a value, for at most timeoutMs. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    }
    await sleep(250);
  }
}

/**
 * Waits until a public port of the VM (:443 by default) passes /livez through HAProxy to FlowProxy:
 * after a start, HAProxy sends traffic once its health checks saw the backend rise.
 */
export function servesLivez(vm: Vm, timeoutMs?: number, port: number = PORTS.https): Promise<true> {
  return eventually(
    `${vm.name} to serve /livez on :${port}`,
    async () => ((await publicRequest(vm, port, "/livez").catch(() => undefined))?.status === 200 ? true : undefined),
    timeoutMs,
  );
}

// ---- inside the VMs ----

export const BUILDERS_URL = `${BUILDERHUB_ENDPOINT}${BUILDERHUB_API.builders}`;
export const REGISTER_URL = `${BUILDERHUB_ENDPOINT}${BUILDERHUB_API.register}`;

export const flowproxyUnit = (vm: Vm) => UNITS.flowproxy(vm.name);

export const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/** The unit's main PID as systemd reports it ("0" when it does not run). */
export async function mainPid(vm: Vm, unit: string): Promise<string> {
  return (await vmCheck(vm, ["systemctl", "show", "--property=MainPID", "--value", unit])).trim();
}

/** systemctl is-active: "active", "inactive", "failed", "activating"... */
export async function unitState(vm: Vm, unit: string): Promise<string> {
  return (await vmExec(vm, ["systemctl", "is-active", unit])).stdout.trim();
}

/** SHA-256 of a file in the VM, or "missing". */
export async function fileSha256(vm: Vm, file: string): Promise<string> {
  const result = await vmExec(vm, ["sha256sum", file]);
  return result.code === 0 ? result.stdout.split(" ")[0] : "missing";
}

/** The PID in the VM of a container's first process ("0" when it does not run, "missing" without the container). */
export async function containerPid(vm: Vm, container: string): Promise<string> {
  const result = await vmExec(vm, ["docker", "inspect", "--format", "{{.State.Pid}}", container]);
  return result.code === 0 ? result.stdout.trim() : "missing";
}

/** The processes HAProxy's master runs: they change on a reload, the master does not. */
export async function haproxyWorkers(vm: Vm): Promise<string[]> {
  const master = await containerPid(vm, CONTAINERS.haproxy);
  return (await vmExec(vm, ["pgrep", "-P", master])).stdout.split("\n").filter((pid) => pid !== "");
}

/** BuilderHub's list of builders, asked from inside `from` by name, as FlowProxy asks it. */
export async function builders(from: Vm): Promise<BuilderListing[]> {
  return JSON.parse(await vmCheck(from, ["curl", "-fsS", "--max-time", "10", BUILDERS_URL])) as BuilderListing[];
}

/**
 * Makes the BuilderHub double in vm-builderhub misbehave (see test/doubles/mockhub/faults.ts), or behave
 * again with undefined, and empties its record of injected answers: the switch lives in the mockhub
 * container, so its files go in with docker cp.
 */
export async function setMockhubFault(fault: MockhubFault | undefined): Promise<void> {
  const staged = "/run/mockhub-fault";
  await vmCheck(vmByName(BUILDERHUB.vmName), [
    "sh",
    "-c",
    'printf "%s" "$1" > "$2" && docker cp "$2" "$3:$4/fault" && : > "$2" && docker cp "$2" "$3:$4/$5" && rm -f "$2"',
    "sh",
    fault === undefined ? "" : `${mockhubFaultLine(fault)}\n`,
    staged,
    CONTAINERS.mockhub,
    MOCKHUB_STATE_DIR,
    MOCKHUB_INJECTED_FILE,
  ]);
}

/** The answers the BuilderHub double injected since its fault was last set, one "STATUS METHOD PATH AGENT" each. */
export async function mockhubInjected(): Promise<string[]> {
  const staged = "/run/mockhub-injected";
  const copied = await vmCheck(vmByName(BUILDERHUB.vmName), [
    "sh",
    "-c",
    'docker cp "$1:$2/$3" "$4" && cat "$4" && rm -f "$4"',
    "sh",
    CONTAINERS.mockhub,
    MOCKHUB_STATE_DIR,
    MOCKHUB_INJECTED_FILE,
    staged,
  ]);
  return copied.split("\n").filter((line) => line !== "");
}

/** The entry BuilderHub keeps for a FlowProxy VM (registrations come from its private IP). */
export function registrationOf(list: BuilderListing[], vm: Vm): BuilderListing | undefined {
  return list.find((b) => b.ip === `${vm.privateIp}:${PORTS.system}`);
}

/** Whether BuilderHub lists the VM with the certificate HAProxy serves, as peers read it (instance.tls_cert). */
export async function registrationIsCurrent(vm: Vm): Promise<boolean> {
  const entry = registrationOf(await builders(vm), vm);
  if (!entry?.instance.tls_cert) {
    return false;
  }
  return pemToDer(entry.instance.tls_cert).equals(pemToDer(await vmCheck(vm, ["cat", VM_PATHS.servedCertificate])));
}

/**
 * FlowProxy's own Prometheus metrics, read inside the VM at the METRICS_ADDR flowproxy.env gives it
 * (loopback, or the private address with monitoring on), as `pnpm run verify` reads them.
 */
const flowproxyMetrics = (vm: Vm) => vmCheck(vm, ["bash", "-c", METRICS_SCRIPT]);

/** How many orderflow requests FlowProxy's system endpoint on `vm` accepted (signature and peer checked). */
export async function systemFlowAccepted(vm: Vm): Promise<number> {
  return seriesSum(await flowproxyMetrics(vm), SYSTEM_FLOW_ACCEPTED);
}

/** How many peers FlowProxy on `vm` learnt from BuilderHub at its last read (every 30 s). */
export async function peersKnown(vm: Vm): Promise<number> {
  return seriesSum(await flowproxyMetrics(vm), PEER_COUNT);
}

// ---- load ----

export interface LoadResult {
  sent: number;
  ok: number;
  /** Why requests failed, with how many failed that way. */
  failures: Record<string, number>;
  durationMs: number;
  /** Each request: when it was sent (ms since the epoch) and why it failed, if it did. */
  requests: { sentAt: number; failure?: string }[];
}

/** The part of a load whose requests were sent from `fromMs` to `toMs` (ms since the epoch). */
export function loadWithin(load: LoadResult, fromMs: number, toMs: number): LoadResult {
  const requests = load.requests.filter((r) => r.sentAt >= fromMs && r.sentAt <= toMs);
  const failures: Record<string, number> = {};
  for (const { failure } of requests) {
    if (failure !== undefined) failures[failure] = (failures[failure] ?? 0) + 1;
  }
  return {
    sent: requests.length,
    ok: requests.filter((r) => r.failure === undefined).length,
    failures,
    durationMs: toMs - fromMs,
    requests,
  };
}

export interface LoadOptions {
  ratePerSecond: number;
  /** Keep sending after stop() until this many went out. */
  minRequests?: number;
  /** The bound: never more than this many. */
  maxRequests: number;
  /** One request; resolves to undefined when it succeeded, or to why it failed. */
  request: () => Promise<string | undefined>;
}

/**
 * Requests at a steady rate (open loop: a slow answer does not slow the sender down), from start
 * until stop() and at least minRequests, never more than maxRequests.
 */
export class SteadyLoad {
  private stopping = false;
  private count = 0;
  private readonly result: Promise<LoadResult>;

  constructor(private readonly options: LoadOptions) {
    this.result = this.run();
  }

  get sent(): number {
    return this.count;
  }

  /** Stops sending (once minRequests went out) and resolves when every answer is in. */
  stop(): Promise<LoadResult> {
    this.stopping = true;
    return this.result;
  }

  private async run(): Promise<LoadResult> {
    const { ratePerSecond, minRequests = 0, maxRequests, request } = this.options;
    const started = Date.now();
    const pending: Promise<void>[] = [];
    const requests: LoadResult["requests"] = [];
    while (this.count < maxRequests && (!this.stopping || this.count < minRequests)) {
      const wait = started + (this.count * 1000) / ratePerSecond - Date.now();
      if (wait > 0) {
        await sleep(wait);
      }
      this.count++;
      const record: LoadResult["requests"][number] = { sentAt: Date.now() };
      requests.push(record);
      pending.push(
        request().then(
          (failure) => {
            record.failure = failure;
          },
          (err: Error) => {
            record.failure = err.message;
          },
        ),
      );
    }
    await Promise.all(pending);
    const finished = Date.now();
    return {
      ...loadWithin({ sent: 0, ok: 0, failures: {}, durationMs: 0, requests }, started, finished),
      durationMs: finished - started,
    };
  }
}

/** GET /livez on a public port, expecting 200 from FlowProxy's user endpoint. */
export function livezLoad(vm: Vm, port: number, options: Omit<LoadOptions, "request">): SteadyLoad {
  return new SteadyLoad({
    ...options,
    request: async () => {
      const reply = await publicRequest(vm, port, "/livez").catch(
        (err: NodeJS.ErrnoException) => err.code ?? err.message,
      );
      return typeof reply === "string" ? reply : reply.status === 200 ? undefined : `HTTP ${reply.status}`;
    },
  });
}

export function describeLoad(load: LoadResult): string {
  const rate = load.sent / Math.max(load.durationMs / 1000, 0.001);
  const failed = Object.entries(load.failures).map(([why, n]) => `${n}× ${why}`);
  return `${load.ok}/${load.sent} answered 200 at ${rate.toFixed(0)} requests/s${failed.length ? ` (failed: ${failed.join(", ")})` : ""}`;
}

// ---- what must survive ----

/** What a FlowProxy VM holds that no rerun or fault may lose or change by accident. */
export interface FlowproxyVmState {
  haproxyPid: string;
  flowproxyPid: string;
  flowproxyActive: string;
  binarySha: string;
  haproxyCfgSha: string;
  certSha: string;
  /** How many FLASHBOTS_ORDERFLOW_SIGNER lines the env file holds, and their hash (never the key). */
  signerLines: number;
  signerLinesSha: string;
  /** Hash of BuilderHub's entry for the VM (address and certificate), or why there is none. */
  registration: string;
}

export async function flowproxyVmState(vm: Vm): Promise<FlowproxyVmState> {
  const signer = await vmExec(vm, ["grep", "^FLASHBOTS_ORDERFLOW_SIGNER=", VM_PATHS.flowproxyEnv]);
  const lines = signer.stdout.split("\n").filter((line) => line !== "");
  let registration: string;
  try {
    const entry = registrationOf(await builders(vm), vm);
    registration = entry ? sha256(JSON.stringify(entry.orderflow_proxy)) : "missing";
  } catch {
    registration = "BuilderHub did not answer";
  }
  return {
    haproxyPid: await containerPid(vm, CONTAINERS.haproxy),
    flowproxyPid: await mainPid(vm, flowproxyUnit(vm)),
    flowproxyActive: await unitState(vm, flowproxyUnit(vm)),
    binarySha: await fileSha256(vm, VM_PATHS.flowproxyBinary),
    haproxyCfgSha: await fileSha256(vm, VM_PATHS.haproxyCfg),
    certSha: await fileSha256(vm, VM_PATHS.servedCertificate),
    signerLines: lines.length,
    signerLinesSha: sha256(lines.join("\n")),
    registration,
  };
}

/** The fields of `after` that differ from `before`, by name. */
export function changedFields<T extends object>(before: T, after: T): (keyof T)[] {
  return (Object.keys(before) as (keyof T)[]).filter((key) => before[key] !== after[key]);
}
