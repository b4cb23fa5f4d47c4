// Generation 1's forwarder to a peer: HTTP(S) POSTs of the signed JSON-RPC body
// (src/ingress/forwarder.rs@258bbd6, src/builderhub/mod.rs@258bbd6).
import { X509Certificate } from "node:crypto";
import * as http from "node:http";
import * as net from "node:net";
import * as tls from "node:tls";
import { Peer, systemHostPort } from "./builderhub";
import { CONNECT_TIMEOUT_MS, httpRequest, RequestFailure } from "./client";
import type { ProxyCore } from "./core";
import { Panic } from "./errors";
import { BIG_REQUEST_SIZE_THRESHOLD, Forwarder, recordE2e } from "./forward";
import { debugString, Span } from "./log";

/**
 * src/builderhub/mod.rs@258bbd6: `https://` when instance.tls_cert is non-empty, that certificate
 * added as a root beside the system's (reqwest's add_root_certificate), the host name checked
 * by the TLS library; `http://` otherwise. An unparsable certificate panics the peer updater
 * (`.expect("Valid certificate")`), which ends the process.
 */
export function httpForwarder(p: ProxyCore, peer: Peer): Forwarder {
  const { host, port } = systemHostPort(peer);
  const cert = peer.instance.tls_cert;
  if (cert !== "") {
    try {
      new X509Certificate(cert);
    } catch (err) {
      throw new Panic(`Valid certificate: ${(err as Error).message}`, "src/builderhub/mod.rs:84:22");
    }
  }
  const scheme = cert !== "" ? "https" : "http";
  const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  const url = `${scheme}://${authority}/`;
  p.event("INFO", "flowproxy::ingress::forwarder", "Spawning HTTP forwarder", [
    ["name", { display: peer.name }],
    ["url", { display: `${scheme}://${authority}` }],
  ]);
  const labels = { peer_name: peer.name };
  p.metrics.reset(labels);
  let pending = 0;
  let stopped = false;
  // The client is built once per forwarder, as reqwest's is, not once per request.
  const tlsOptions =
    cert !== ""
      ? {
          secureContext: tls.createSecureContext({ ca: [...tls.rootCertificates, cert] }),
          servername: net.isIP(host) ? undefined : host,
        }
      : undefined;
  return {
    stop: () => {
      stopped = true;
    },
    send: (order, signature, sentAt) => {
      if (stopped) return false;
      recordE2e(p, order, "user_to_system");
      const body = Buffer.from(order.json);
      const isBig = body.length > BIG_REQUEST_SIZE_THRESHOLD;
      // ForwardingRequest::create_headers; hyper writes header names in lower case.
      const headers: Record<string, string> = {
        "x-buildernet-priority": order.priority,
        "content-type": "application/json",
        "x-flashbots-signature": signature as string,
        "x-buildernet-sentatus": sentAt.toString(),
      };
      pending++;
      p.metrics.set("forwarder_inflight_requests", labels, pending);
      const start = Date.now();
      const spans: Span[] = [
        {
          name: "http_forwarder_response",
          fields: [
            ["peer_url", { display: url }],
            ["is_big", isBig],
          ],
        },
      ];
      void httpRequest(url, {
        method: "POST",
        headers,
        body,
        tls: tlsOptions,
        connectTimeout: CONNECT_TIMEOUT_MS,
      }).then(
        (response) => {
          pending--;
          const elapsed = (Date.now() - start) / 1000;
          if (elapsed > 1) p.event("WARN", "flowproxy::ingress::forwarder", "long rpc call", [], spans);
          if (response.status >= 200 && response.status <= 299) {
            p.event("TRACE", "flowproxy::ingress::forwarder", "received success response", [], spans);
            if (response.status !== 200)
              p.event("WARN", "flowproxy::ingress::forwarder", "non-ok status code", [], spans);
            p.metrics.observe(
              "forwarder_rpc_call_duration",
              { ...labels, order_type: order.type, big_request: String(isBig) },
              elapsed,
            );
            return;
          }
          p.event("ERROR", "flowproxy::ingress::forwarder", "failed to forward request", [], spans);
          p.metrics.inc("forwarder_http_call_failures", {
            ...labels,
            reason: http.STATUS_CODES[response.status] ?? String(response.status),
          });
          decodeErrorResponse(p, labels, response.body);
        },
        (err: RequestFailure) => {
          pending--;
          p.event("ERROR", "flowproxy::ingress::forwarder", "error forwarding request", [], spans);
          if (err.isConnect) {
            p.event(
              "WARN",
              "flowproxy::ingress::forwarder",
              "connection error",
              [["reason", { debug: debugString(err.debug) }]],
              spans,
            );
            p.metrics.inc("forwarder_http_connect_failures", { ...labels, reason: err.debug });
          } else {
            p.metrics.inc("forwarder_http_call_failures", { ...labels, reason: err.debug });
          }
        },
      );
      return true;
    },
  };
}

/** ResponseErrorDecoder::decode: a JSON-RPC error's code becomes a label; anything else a decoding failure. */
function decodeErrorResponse(p: ProxyCore, labels: Record<string, string>, body: string): void {
  let parsed: { id?: unknown; jsonrpc?: unknown; error?: { code?: unknown; message?: unknown }; result?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
    if (
      typeof parsed.jsonrpc !== "string" ||
      !("id" in parsed) ||
      (parsed.error === undefined && !("result" in parsed))
    )
      throw new Error("missing field");
  } catch (err) {
    p.event("WARN", "flowproxy::ingress::forwarder", "failed to decode response into json-rpc", [
      ["e", { debug: (err as Error).message }],
    ]);
    p.metrics.inc("forwarder_json_rpc_decoding_failures", labels);
    return;
  }
  if (parsed.error && typeof parsed.error.code === "number") {
    p.event("ERROR", "flowproxy::ingress::forwarder", "decoded error response from builder", [
      ["code", { display: String(parsed.error.code) }],
      ["message", { display: String(parsed.error.message) }],
    ]);
    p.metrics.inc("forwarder_rpc_call_failures", { ...labels, rpc_code: String(parsed.error.code) });
  }
}
