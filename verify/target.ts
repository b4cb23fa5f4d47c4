// What `pnpm run verify` checks: a Target gives the stack's outputs, runs commands on its VMs over
// SSH through the ssh commands the stack prints, and reaches its public addresses from this
// machine. A deployed stack and the sandbox are both Targets; the checks never know which.
import * as http from "http";
import * as net from "net";
import * as tls from "tls";
import { runProcess } from "../lib/process";
import { shellQuote } from "../lib/provision";

/** A failure that stops the verify before any check runs; printed as one line. */
export class VerifyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VerifyError";
  }
}

export interface CommandResult {
  /** null when the command was killed (it ran out of time). */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** "connected", "timeout", or the error code a connection got (ECONNREFUSED, EHOSTUNREACH...). */
export type ConnectOutcome = string;

export interface Reply {
  status: number;
  body: string;
}

/** Connections from this machine, the internet side of the stack. */
export interface Network {
  connect(host: string, port: number, timeoutMs: number): Promise<ConnectOutcome>;
  /** The certificate (DER) a TLS port presents. */
  peerCertificate(host: string, port: number, timeoutMs: number): Promise<Buffer>;
  /**
   * A POST over TLS that goes out only when the server presents exactly `pinned` (DER): the
   * stack's certificates are self-signed, and the one BuilderHub lists is the one to trust.
   */
  pinnedPost(
    host: string,
    port: number,
    path: string,
    body: string,
    headers: Record<string, string>,
    pinned: Buffer,
    timeoutMs: number,
  ): Promise<Reply>;
}

export interface Target extends Network {
  /** What is being checked, for the report: "stack dev", "the sandbox". */
  description: string;
  /** The stack's outputs; none of them is secret. */
  outputs: Record<string, string>;
  /** Runs `remote` (an argv) on a VM through an ssh command as the stack prints it. */
  ssh(printed: string, remote: readonly string[]): Promise<CommandResult>;
}

/** ssh hands the remote side one command line, which the login shell splits again: quote each word. */
export const remoteCommandLine = (argv: readonly string[]): string => argv.map(shellQuote).join(" ");

/** The words after `ssh` of a printed command such as "ssh azureuser@203.0.113.10". */
export function sshArguments(printed: string): string[] {
  const words = printed.trim().split(/\s+/);
  if (words[0] !== "ssh" || words.length < 2) {
    throw new VerifyError(`"${printed}" is not an ssh command`);
  }
  return words.slice(1);
}

export function lastLine(text: string): string | undefined {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  return lines[lines.length - 1];
}

/**
 * Runs a program without a terminal, in a process group of its own: nothing it starts (ssh's jump
 * host connection) can stop to ask for a passphrase, and a timeout ends the whole group.
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs: number },
): Promise<CommandResult> {
  const { code, stdout, stderr, timedOut } = await runProcess(command, args, { ...options, ownProcessGroup: true });
  return { code, stdout, stderr, timedOut };
}

/** A TCP connection from this machine (from `localAddress` if given): "connected", "timeout", or the error code. */
export function connectFromHere(
  host: string,
  port: number,
  timeoutMs: number,
  localAddress?: string,
): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve("timeout");
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** A TLS connection that resolves once the handshake is done, whatever certificate was presented. */
function tlsConnect(host: string, port: number, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] });
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`no TLS handshake with ${host}:${port} within ${timeoutMs / 1000} s`)),
    );
    socket.once("error", reject);
    socket.once("secureConnect", () => {
      socket.setTimeout(0);
      socket.removeListener("error", reject);
      resolve(socket);
    });
  });
}

async function peerCertificate(host: string, port: number, timeoutMs: number): Promise<Buffer> {
  const socket = await tlsConnect(host, port, timeoutMs);
  const der = socket.getPeerCertificate().raw;
  socket.destroy();
  return der;
}

/** Thrown by pinnedPost when the server presents another certificate; nothing was sent. */
export class CertificateMismatch extends Error {
  constructor(readonly presented: Buffer) {
    super("the server presented another certificate than the pinned one; nothing was sent");
  }
}

async function pinnedPost(
  host: string,
  port: number,
  path: string,
  body: string,
  headers: Record<string, string>,
  pinned: Buffer,
  timeoutMs: number,
): Promise<Reply> {
  const socket = await tlsConnect(host, port, timeoutMs);
  const presented = socket.getPeerCertificate().raw;
  if (!presented.equals(pinned)) {
    socket.destroy();
    throw new CertificateMismatch(presented);
  }
  return new Promise((resolve, reject) => {
    // The checked connection carries the request: no second handshake could present another certificate.
    const request = http.request(
      {
        host,
        port,
        path,
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        createConnection: () => socket,
        timeout: timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () => {
          socket.destroy();
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
        });
        response.on("error", reject);
      },
    );
    request.on("timeout", () =>
      request.destroy(new Error(`no answer from https://${host}:${port}${path} within ${timeoutMs / 1000} s`)),
    );
    request.on("error", reject);
    request.end(body);
  });
}

/** The Network of this machine. */
export const hostNetwork: Network = { connect: connectFromHere, peerCertificate, pinnedPost };
