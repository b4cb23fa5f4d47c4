// The system API, where peers send the orders they forward: HTTP JSON-RPC at 258bbd6, msg-rs TCP
// with bitcode payloads at 029b7c4 (OrderflowIngress::system_handler in src/ingress/mod.rs).
import type * as http from "node:http";
import { decodeRawBundle, decodeWithHeaders, encodeTcpResponse, TcpData, TcpStatus } from "./bitcode";
import type { ProxyCore } from "./core";
import { hex, parseHex } from "./crypto";
import type { Priority } from "./entities";
import { bitcodeDebug } from "./forward-tcp";
import { firstHeader, maybeDecompress, seenBefore, shortId } from "./ingress";
import { Dropped, parseRequest, RPC, RpcReply } from "./jsonrpc";
import { debugString, Span } from "./log";
import {
  parseRawBundle,
  parseRawShareBundle,
  RawBundle,
  rawBundleHash,
  RawShareBundle,
  rawShareBundleHash,
} from "./orders";
import { verifySignature } from "./signature";
import { decodePooledTransaction, Transaction } from "./tx";

/** Finds the peer a system-flow signer belongs to: FLASHBOTS_ORDERFLOW_SIGNER_ADDRESS, then the peers with a forwarder. */
function peerOfSigner(p: ProxyCore, signer: string | undefined): string | undefined {
  if (signer === undefined) return undefined;
  if (p.s.FLASHBOTS_ORDERFLOW_SIGNER_ADDRESS === signer) return "flashbots";
  for (const handle of p.peers.values()) {
    if (handle.info.orderflow_proxy.ecdsa_pubkey_address === signer) return handle.info.name;
  }
  return undefined;
}

/** OrderflowIngress::system_handler at 258bbd6 (HTTP). */
export async function systemHttpHandler(
  p: ProxyCore,
  headers: http.IncomingHttpHeaders,
  raw: Buffer,
): Promise<RpcReply | Dropped> {
  const receivedAt = Date.now();
  const body = maybeDecompress(p, headers, raw);
  if (body === undefined) {
    return { id: null, error: RPC.parse };
  }
  const buildernetHeader = firstHeader(headers, "x-buildernet-signature");
  const flashbotsHeader = firstHeader(headers, "x-flashbots-signature");
  const peer = peerOfSigner(p, verifySignature(buildernetHeader ?? flashbotsHeader, body));
  const span: Span[] = [
    {
      name: "ingress",
      fields: [
        ["handler", "system"],
        ["id", { display: shortId() }],
      ],
    },
  ];
  if (peer === undefined) {
    const shown = (v: string | undefined) => ({ debug: v === undefined ? "None" : `Some(${debugString(v)})` });
    p.event(
      "ERROR",
      "flowproxy::ingress",
      "error verifying peer signature",
      [
        ["buildernet_signature_header", shown(buildernetHeader)],
        ["flashbots_signature_header", shown(flashbotsHeader)],
      ],
      span,
    );
    return { id: null, error: RPC.internal };
  }
  span[0].fields.push(["peer", { display: peer }]);
  const request = parseRequest(body);
  if ("code" in request) {
    p.event(
      "ERROR",
      "flowproxy::ingress",
      "failed to parse json-rpc request",
      [["e", { debug: request.message }]],
      span,
    );
    p.metrics.inc("ingress_json_rpc_parse_errors", { handler: "system", method: "unknown" });
    return { id: null, error: request };
  }
  span[0].fields.push(["method", { display: request.method }]);
  const priorityHeader = firstHeader(headers, "x-buildernet-priority");
  const priority: Priority =
    priorityHeader === "high" || priorityHeader === "medium" || priorityHeader === "low" ? priorityHeader : "medium";
  const single = request.params?.length === 1 ? request.params[0] : undefined;
  const parseError = (method: string, message?: string): RpcReply => {
    if (message) p.event("ERROR", "flowproxy::ingress", message, [], span);
    p.metrics.inc("ingress_json_rpc_parse_errors", { handler: "system", method });
    return { id: request.id, error: RPC.invalidParams };
  };
  const accepted = (method: string, hash: Buffer, txs?: number) => {
    p.metrics.observe(
      "ingress_rpc_request_duration",
      { handler: "system", method, priority },
      (Date.now() - receivedAt) / 1000,
    );
    if (txs !== undefined)
      p.metrics.observe(
        method === "mev_sendBundle" ? "ingress_txs_per_mev_share_bundle" : "ingress_txs_per_bundle",
        { handler: "system" },
        txs,
      );
    p.metrics.observe("ingress_request_body_size_bytes", { handler: "system", method }, body.length);
    return hash;
  };
  const cached = (hash: Buffer, orderType: string): boolean => seenBefore(p, "system", hash, orderType);
  switch (request.method) {
    case "eth_sendBundle": {
      if (single === undefined) return parseError(request.method, "failed to parse bundle: take single param failed");
      let bundle: RawBundle;
      try {
        bundle = parseRawBundle(single);
      } catch {
        return parseError(request.method, "failed to parse raw bundle from system request");
      }
      const hash = bundle.bundleHash ?? rawBundleHash(bundle);
      if (cached(hash, "bundle")) return { id: request.id, result: { bundleHash: hex(hash) } };
      return { id: request.id, result: { bundleHash: hex(accepted(request.method, hash, bundle.txs.length)) } };
    }
    case "eth_sendRawTransaction": {
      if (single === undefined) return parseError(request.method);
      // 258bbd6 unwraps the hex decode of this param: a non-hex value panics the handler.
      const raw = typeof single === "string" ? parseHex(single) : undefined;
      if (raw === undefined) return { dropped: true };
      let tx: Transaction;
      try {
        tx = decodePooledTransaction(raw);
      } catch {
        return parseError(request.method);
      }
      const hash = Buffer.from(tx.hash.slice(2), "hex");
      if (cached(hash, "transaction")) return { id: request.id, result: tx.hash };
      return { id: request.id, result: hex(accepted(request.method, hash)) };
    }
    case "mev_sendBundle": {
      if (single === undefined) return parseError(request.method, "error parsing bundle: take single param failed");
      let bundle: RawShareBundle;
      try {
        bundle = parseRawShareBundle(single);
      } catch {
        return parseError(request.method, "error parsing bundle");
      }
      const hash = rawShareBundleHash(bundle);
      if (cached(hash, "mev_share_bundle")) return { id: request.id, result: { bundleHash: hex(hash) } };
      return { id: request.id, result: { bundleHash: hex(accepted(request.method, hash, bundle.body.length)) } };
    }
    default:
      p.event("ERROR", "flowproxy::ingress", "method not supported", [], span);
      p.metrics.inc("ingress_json_rpc_unknown_method", { handler: "system", method: request.method });
      return { id: request.id, error: RPC.methodNotFound(request.method) };
  }
}

/** OrderflowIngress::system_handler at 029b7c4 (msg-rs TCP, bitcode): answers a TcpResponse. */
export async function systemTcpHandler(p: ProxyCore, payload: Buffer): Promise<Buffer> {
  const receivedAt = Date.now();
  const span: Span[] = [
    {
      name: "ingress",
      fields: [
        ["handler", "system_tcp"],
        ["id", { display: shortId() }],
      ],
    },
  ];
  const reply = (status: TcpStatus, data: TcpData = { kind: "NoData" }) => encodeTcpResponse(status, data);
  let envelope: { headers: Map<string, string>; data: Buffer };
  try {
    envelope = decodeWithHeaders(payload);
  } catch (err) {
    p.event(
      "ERROR",
      "flowproxy::ingress",
      "failed to convert raw bytes to string",
      [["e", { debug: bitcodeDebug(err) }]],
      span,
    );
    return reply("ErrorDecoding", { kind: "String", value: (err as Error).message });
  }
  const { headers, data } = envelope;
  const method = headers.get("method");
  if (method === undefined) {
    p.event("ERROR", "flowproxy::ingress", "method not provided in tcp payload header", [], span);
    return reply("ErrorMissingArguments", { kind: "String", value: "method not provided in tcp payload header" });
  }
  span[0].fields.push(["method", { display: method }]);
  const signature = headers.get("X-BuilderNet-Signature");
  if (signature === undefined) {
    p.event("ERROR", "flowproxy::ingress", "no signature headers found", [], span);
    return reply("ErrorMissingArguments", { kind: "String", value: "no signature headers found" });
  }
  // Upstream looks the priority up under its lower-case name while senders write "X-BuilderNet-Priority".
  const priorityValue = headers.get("x-buildernet-priority");
  const priority: Priority =
    priorityValue === "high" || priorityValue === "medium" || priorityValue === "low" ? priorityValue : "low";
  const peer = peerOfSigner(p, verifySignature(signature, data));
  if (peer === undefined) {
    p.event("ERROR", "flowproxy::ingress", "error verifying peer signature", [["signature_header", signature]], span);
    return reply("ErrorInvalidSignature");
  }
  span[0].fields.push(["peer", { display: peer }]);
  const accepted = (hash: Buffer, txs?: number) => {
    p.metrics.observe(
      "ingress_rpc_request_duration",
      { handler: "system", method, priority },
      (Date.now() - receivedAt) / 1000,
    );
    if (txs !== undefined) p.metrics.observe("ingress_txs_per_bundle", { handler: "system" }, txs);
    p.metrics.observe("ingress_request_body_size_bytes", { handler: "system", method }, payload.length);
    return reply("Success", { kind: "Hash", value: hash });
  };
  const cached = (hash: Buffer, orderType: string): boolean => seenBefore(p, "system", hash, orderType);
  switch (method) {
    case "eth_sendBundle": {
      let bundle: RawBundle;
      try {
        bundle = decodeRawBundle(data);
      } catch (err) {
        p.event(
          "ERROR",
          "flowproxy::ingress",
          "failed to parse raw bundle from system request",
          [["e", { debug: bitcodeDebug(err) }]],
          span,
        );
        p.metrics.inc("ingress_json_rpc_parse_errors", { handler: "system", method });
        return reply("ErrorDecoding", { kind: "String", value: `failed to parse bundle: ${(err as Error).message}` });
      }
      const hash = bundle.bundleHash ?? rawBundleHash(bundle);
      if (cached(hash, "bundle")) return reply("Success", { kind: "Hash", value: hash });
      return accepted(hash, bundle.txs.length);
    }
    case "eth_sendRawTransaction": {
      let tx: Transaction;
      try {
        tx = decodePooledTransaction(data);
      } catch {
        p.metrics.inc("ingress_json_rpc_parse_errors", { handler: "system", method });
        return reply("ErrorDecoding", { kind: "String", value: "failed to parse raw transaction" });
      }
      const hash = Buffer.from(tx.hash.slice(2), "hex");
      if (cached(hash, "transaction")) return reply("Success", { kind: "Hash", value: hash });
      return accepted(hash);
    }
    default:
      p.event("ERROR", "flowproxy::ingress", "method not supported", [], span);
      p.metrics.inc("ingress_json_rpc_unknown_method", { handler: "system", method });
      return reply("ErrorUnknownArgument", { kind: "String", value: `method not found: ${method}` });
  }
}
