// Generation 2's forwarder to a peer: msg-rs request sockets over TCP or TCP+TLS carrying bitcode
// payloads (src/forwarder/tcp.rs@029b7c4, src/builderhub/mod.rs@029b7c4).
import { X509Certificate } from "node:crypto";
import { lookup } from "node:dns/promises";
import * as fs from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { BitcodeError, decodeTcpResponse, encodeWithHeaders, TcpData, tcpDataDisplay, TcpStatus } from "./bitcode";
import { Peer, systemHostPort } from "./builderhub";
import type { ProxyCore } from "./core";
import { BIG_REQUEST_SIZE_THRESHOLD, Forwarder, recordE2e } from "./forward";
import { debugString, Fields, Span } from "./log";
import { REQUEST_TIMED_OUT, ReqError, ReqSocket, SOCKET_CLOSED } from "./msg";

/** src/forwarder/tcp.rs@029b7c4 TCP_CALL_TIMEOUT. */
const TCP_CALL_TIMEOUT_MS = 2000;
/** src/forwarder/client.rs@029b7c4 BUCKET_MESSAGE_SIZE_THRESHOLD_BYTES. */
const BIG_MESSAGE_BYTES = 32_768;

/**
 * The TLS client's ciphers: TLS 1.3 suites as tls_connector sets them (src/builderhub/mod.rs@029b7c4
 * DEFAULT_TLS_CIPHERS), TLS 1.2 ciphers as rust-openssl 0.10.75's SslConnector leaves them
 * (ssl/connector.rs ctx): a peer that speaks only TLS 1.2 is reached.
 */
const TLS_CIPHERS =
  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK";

/** OpenSSL's error for SSL_set_tlsext_host_name(""), as into_ssl returns it. */
const EMPTY_SERVER_NAME = "error:0A00013F:SSL routines:ssl3_ctrl:ssl3 ext invalid servername";

/**
 * rust-openssl 0.10.75's setup_verify_hostname (ssl/connector.rs): an IP address is checked
 * against the certificate's IP addresses, a name against its DNS names (else its CN) with
 * X509CheckFlags::NO_PARTIAL_WILDCARDS: a wildcard counts only as a whole left-most label.
 */
export function checkPeerHost(name: string, cert: tls.PeerCertificate): Error | undefined {
  const entries = (cert.subjectaltname ?? "").split(", ").filter((e) => e !== "");
  const partial = (e: string) =>
    e.startsWith("DNS:") && e.slice(4).split(".")[0].includes("*") && e.slice(4).split(".")[0] !== "*";
  const kept = entries.filter((e) => !partial(e));
  if (kept.length === entries.length) {
    return tls.checkServerIdentity(name, cert);
  }
  // Partial wildcards match nothing; a certificate with DNS names still never falls back to its CN.
  const others = kept.length > 0 ? kept.join(", ") : "DNS:";
  return tls.checkServerIdentity(name, { ...cert, subjectaltname: others });
}

/** `?e` of a bitcode::Error (a release build's: see BitcodeError). */
export function bitcodeDebug(err: unknown): string {
  return err instanceof BitcodeError ? err.debug : (err as Error).message;
}

function debugTcpData(data: TcpData): string {
  return data.kind === "NoData"
    ? "NoData"
    : data.kind === "String"
      ? `String(${debugString(data.value)})`
      : `Hash([${[...data.value].join(", ")}])`;
}

/**
 * src/builderhub/mod.rs@029b7c4 peer_tcp_sender: `<dns_name>:5544` resolved once; TLS when
 * instance.tls_cert is non-empty (tls_connector: the certificate added to a store that also has
 * the system's roots, TLS 1.3 suites restricted; msg-transport's tcp_tls Client names dns_name
 * for SNI and the host check), optional client certificate and key from CERTIFICATE_PEM_FILE /
 * PRIVATE_KEY_PEM_FILE. TCP_SMALL_CLIENTS sockets, plus TCP_BIG_CLIENTS for messages of 32 KiB
 * and more, used round-robin. Compared with msg-rs 97ae1f0's TcpTls client set up by 029b7c4's
 * tls_connector, built from source: which certificates, names and TLS versions connect.
 */
export async function tcpForwarder(p: ProxyCore, peer: Peer, spans: Span[]): Promise<Forwarder | undefined> {
  const error = (message: string, fields: Fields = []) =>
    p.event("ERROR", "flowproxy::builderhub", message, fields, spans);
  let tlsOptions: tls.ConnectionOptions | undefined;
  if (peer.instance.tls_cert !== "") {
    try {
      new X509Certificate(peer.instance.tls_cert);
    } catch (err) {
      error("failed to parse certificate", [["e", { debug: (err as Error).message }]]);
      return undefined;
    }
    try {
      tlsOptions = {
        // One connector for every socket of the forwarder, as msg-rs builds one SslConnector.
        secureContext: tls.createSecureContext({
          ca: [...tls.rootCertificates, peer.instance.tls_cert],
          ciphers: TLS_CIPHERS,
          key: p.s.PRIVATE_KEY_PEM_FILE ? fs.readFileSync(p.s.PRIVATE_KEY_PEM_FILE) : undefined,
          cert: p.s.CERTIFICATE_PEM_FILE ? fs.readFileSync(p.s.CERTIFICATE_PEM_FILE) : undefined,
        }),
        // ConnectConfiguration::into_ssl: SNI unless the name is an IP address.
        servername: net.isIP(peer.dns_name) ? undefined : peer.dns_name,
        checkServerIdentity: (_host, cert) => checkPeerHost(peer.dns_name, cert),
      };
    } catch (err) {
      error("failed to create tls connector", [["e", { debug: (err as Error).message }]]);
      return undefined;
    }
  }
  const { host, port } = systemHostPort(peer);
  let address: string;
  try {
    address = net.isIP(host) ? host : (await lookup(host)).address;
  } catch (err) {
    error("failed to resolve socket address", [["e", { debug: (err as Error).message }]]);
    return undefined;
  }
  const socketAddr = net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
  p.event("INFO", "flowproxy::forwarder::tcp", "spawning tcp forwarder", [["addr", { display: socketAddr }]], spans);
  const driverLog = {
    connected: () => p.event("INFO", "msg_socket::req::driver", "connected"),
    connectFailed: (e: string) =>
      p.event("ERROR", "msg_socket::req::driver", "failed to connect", [["e", { debug: e }]]),
    connectionClosed: () => p.event("WARN", "msg_socket::req::driver", "connection closed, resetting connection state"),
    gaveUp: () =>
      p.event("ERROR", "msg_socket::req::driver", "exceeded maximum number of retries, terminating connection"),
  };
  // into_ssl("") fails (OpenSSL refuses an empty server name) before each connection is made:
  // a TLS peer without dns_name is never reached.
  const connectError = tlsOptions && peer.dns_name === "" ? EMPTY_SERVER_NAME : undefined;
  const make = () => new ReqSocket({ host: address, port, tls: tlsOptions, connectError }, driverLog);
  const small = Array.from({ length: Number(p.s.TCP_SMALL_CLIENTS) }, make);
  const big = Array.from({ length: Number(p.s.TCP_BIG_CLIENTS) }, make);
  const counters = { small: 0, big: 0 };
  const pick = (size: number) => {
    const useBig = big.length > 0 && size >= BIG_MESSAGE_BYTES;
    const pool = useBig ? big : small;
    const which = useBig ? "big" : "small";
    const socket = pool[counters[which] % pool.length];
    counters[which] = (counters[which] + 1) % 256;
    return socket;
  };
  const labels = { peer_name: peer.name, transport: "tcp" };
  p.metrics.reset(labels);
  let pending = 0;
  let terminated = false;
  let lastErrorLog = 0;
  const rateLimited = (log: () => void) => {
    if (Date.now() - lastErrorLog > 100) {
      lastErrorLog = Date.now();
      log();
    }
  };
  const forwarderSpans = (isBig: boolean): Span[] => [
    {
      name: "forwarder",
      fields: [
        ["protocol", "tcp"],
        ["peer_url", { display: socketAddr }],
        ["is_big", isBig],
      ],
    },
  ];
  return {
    stop: () => {
      terminated = true;
      [...small, ...big].forEach((s) => s.close());
    },
    send: (order, _signature, _sentAt, binary) => {
      if (terminated || !binary) return false;
      recordE2e(p, order, "user_to_system");
      const size = Buffer.byteLength(order.json);
      const isBig = size > BIG_REQUEST_SIZE_THRESHOLD;
      const payload = encodeWithHeaders(binary.headers, binary.data);
      pending++;
      p.metrics.set("forwarder_inflight_requests", labels, pending);
      const start = Date.now();
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new ReqError(REQUEST_TIMED_OUT)), TCP_CALL_TIMEOUT_MS).unref(),
      );
      void Promise.race([pick(size).request(payload), timeout]).then(
        (reply) => {
          pending--;
          const elapsed = (Date.now() - start) / 1000;
          p.event(
            "TRACE",
            "flowproxy::forwarder::tcp",
            "received response",
            [["elapsed", { debug: `${elapsed}s` }]],
            forwarderSpans(isBig),
          );
          p.metrics.observe(
            "forwarder_rpc_call_duration",
            { ...labels, order_type: order.type, big_request: String(isBig) },
            elapsed,
          );
          let response: { status: TcpStatus; data: TcpData };
          try {
            response = decodeTcpResponse(reply);
          } catch (err) {
            p.event(
              "ERROR",
              "flowproxy::forwarder::tcp",
              "failed to deserialize response",
              [["e", { debug: bitcodeDebug(err) }]],
              forwarderSpans(isBig),
            );
            return;
          }
          if (elapsed > 1) p.event("WARN", "flowproxy::forwarder::tcp", "long rpc call", [], forwarderSpans(isBig));
          if (response.status !== "Success") {
            rateLimited(() =>
              p.event(
                "ERROR",
                "flowproxy::forwarder::tcp",
                "received error response",
                [
                  ["status", response.status],
                  ["data", { debug: debugTcpData(response.data) }],
                ],
                forwarderSpans(isBig),
              ),
            );
            p.metrics.inc("forwarder_tcp_response_failures", { ...labels, reason: tcpDataDisplay(response.data) });
          }
        },
        (err: Error) => {
          pending--;
          const variant =
            err.message === SOCKET_CLOSED
              ? "SocketClosed"
              : err.message === REQUEST_TIMED_OUT
                ? "Timeout"
                : debugString(err.message);
          rateLimited(() =>
            p.event(
              "ERROR",
              "flowproxy::forwarder::tcp",
              "failed to forward request",
              [["e", { debug: variant }]],
              forwarderSpans(isBig),
            ),
          );
          p.metrics.inc("forwarder_tcp_call_failures", { ...labels, reason: err.message });
          if (err.message === SOCKET_CLOSED) {
            // A closed socket is fatal: the forwarder ends, and the next broadcast drops the peer.
            p.event("ERROR", "flowproxy::forwarder::tcp", "fatal response, terminating forwarder", [
              ["peer_name", { display: peer.name }],
              ["peer_addr", { display: socketAddr }],
            ]);
            terminated = true;
          }
        },
      );
      return true;
    },
  };
}
