// The user API: eth_sendBundle, eth_sendRawTransaction and (generation 1) mev_sendBundle from
// searchers, signed (OrderflowIngress::user_handler and on_* in src/ingress/mod.rs).
import type * as http from "node:http";
import type { ProxyCore } from "./core";
import { hex, keccak256, parseHex } from "./crypto";
import { sampled } from "./entities";
import { broadcast } from "./forward";
import { firstHeader, maybeDecompress, orderSpans, seenBefore, shortId } from "./ingress";
import { fail, jsonRpc, parseRequest, Rejected, RPC, RpcReply } from "./jsonrpc";
import type { Fields, Span } from "./log";
import {
  checkRawBundle,
  checkRawShareBundle,
  parseRawBundle,
  parseRawShareBundle,
  RawBundle,
  rawBundleHash,
  RawShareBundle,
  rawShareBundleHash,
  serializeRawBundle,
  serializeRawShareBundle,
} from "./orders";
import { verifySignature } from "./signature";
import {
  decodePooledTransaction,
  looksLikeCanonicalBlobTx,
  recoverSigner,
  Transaction,
  validateTransaction,
} from "./tx";

/** OrderflowIngress::user_handler (src/ingress/mod.rs). */
export async function userHandler(p: ProxyCore, headers: http.IncomingHttpHeaders, raw: Buffer): Promise<RpcReply> {
  const id = shortId();
  const userSpan = (method?: string): Span[] => [
    {
      name: "ingress",
      fields: [
        ["handler", "user"],
        ["id", { display: id }],
        ...(method ? ([["method", { display: method }]] as Fields) : []),
      ],
    },
  ];
  const receivedAt = Date.now();
  const body = maybeDecompress(p, headers, raw);
  if (body === undefined) {
    return { id: null, error: RPC.parse };
  }
  const signer = verifySignature(
    firstHeader(headers, "x-buildernet-signature") ?? firstHeader(headers, "x-flashbots-signature"),
    body,
  );
  if (signer === undefined) {
    p.event("TRACE", "flowproxy::ingress", "failed to verify signature", [], userSpan());
    return { id: null, error: RPC.invalidSignature };
  }
  if (p.s.enable_rate_limiting === "true" && p.entities.overLimit(signer, Number(p.s.rate_limit_count))) {
    p.metrics.inc("ingress_requests_rate_limited", { handler: "user" });
    return { id: null, error: RPC.rateLimited };
  }
  const request = parseRequest(body);
  if ("code" in request) {
    p.metrics.inc("ingress_json_rpc_parse_errors", { handler: "user", method: "unknown" });
    return { id: null, error: request };
  }
  p.entities.score(signer).requests++;
  const single = request.params?.length === 1 ? request.params[0] : undefined;
  const invalidParams = (method: string): RpcReply => {
    p.metrics.inc("ingress_json_rpc_parse_errors", { handler: "user", method });
    return { id: request.id, error: RPC.invalidParams };
  };
  const bodySize = (method: string) =>
    p.metrics.observe("ingress_request_body_size_bytes", { handler: "user", method }, body.length);
  const spans = userSpan(request.method);
  const unknownMethod = (): RpcReply => {
    p.event("TRACE", "flowproxy::ingress", "method not supported", [], spans);
    p.metrics.inc("ingress_json_rpc_unknown_method", { handler: "user", method: request.method });
    return { id: request.id, error: RPC.methodNotFound(request.method) };
  };
  try {
    switch (request.method) {
      case "eth_sendBundle": {
        let bundle: RawBundle;
        try {
          bundle = parseRawBundle(single ?? fail());
        } catch {
          return invalidParams(request.method);
        }
        bodySize(request.method);
        return { id: request.id, result: { bundleHash: hex(onBundle(p, signer, bundle, receivedAt, spans)) } };
      }
      case "eth_sendRawTransaction": {
        let raw: Buffer;
        let tx: Transaction;
        try {
          raw = typeof single === "string" ? (parseHex(single) ?? fail()) : fail();
          tx = decodePooledTransaction(raw.length > 0 ? raw : fail());
        } catch {
          return invalidParams(request.method);
        }
        bodySize(request.method);
        return { id: request.id, result: hex(onRawTransaction(p, signer, raw, tx, receivedAt, spans)) };
      }
      case "mev_sendBundle": {
        // Generation 2 has no mev_sendBundle (src/consts.rs@029b7c4).
        if (p.g === 2) {
          return unknownMethod();
        }
        let bundle: RawShareBundle;
        try {
          bundle = parseRawShareBundle(single ?? fail());
        } catch {
          return invalidParams(request.method);
        }
        bodySize(request.method);
        return { id: request.id, result: { bundleHash: hex(onShareBundle(p, signer, bundle, receivedAt, spans)) } };
      }
      default:
        return unknownMethod();
    }
  } catch (err) {
    if (err instanceof Rejected) {
      if (err.validation) p.entities.score(signer).invalid++;
      return { id: request.id, error: RPC.invalidParams };
    }
    throw err;
  }
}

/** OrderflowIngress::on_bundle: sign, default version v2, hash, de-duplicate, decode, forward. */
function onBundle(p: ProxyCore, signer: string, bundle: RawBundle, receivedAt: number, parent: Span[]): Buffer {
  bundle.signingAddress = Buffer.from(signer.slice(2), "hex");
  const nonRevertible = bundle.txs.every((tx) => bundle.revertingTxHashes.some((h) => h.equals(keccak256(tx))));
  const priority = p.entities.priority(
    signer,
    bundle.replacementUuid !== undefined,
    nonRevertible,
    bundle.txs.some(looksLikeCanonicalBlobTx),
  );
  if ((bundle.uuid ?? bundle.replacementUuid) !== undefined && bundle.replacementNonce === undefined) {
    bundle.replacementNonce = BigInt(receivedAt) * 1000n;
  }
  bundle.version ??= "v2";
  const hash = rawBundleHash(bundle);
  bundle.bundleHash = hash;
  const spans = orderSpans(parent, "bundle", hex(hash), signer, priority);
  if (seenBefore(p, "user", hash, "bundle")) {
    p.event("TRACE", "flowproxy::ingress", "already processed", [], spans);
    return hash;
  }
  const checked = checkRawBundle(bundle, Number(p.s.max_txs_per_bundle));
  if (checked.error !== undefined) {
    p.event("ERROR", "flowproxy::ingress", "failed to decode bundle", [["e", { debug: checked.error }]], spans);
    p.metrics.inc("ingress_validation_errors", { handler: "user", error: checked.error });
    throw new Rejected(false);
  }
  p.event(
    "DEBUG",
    "flowproxy::ingress",
    checked.emptyReplacement ? "decoded replacement bundle" : "decoded new bundle",
    [],
    spans,
  );
  if (sampled(hash)) {
    p.metrics.set("ingress_signer_cache_hit_ratio", { handler: "user" }, 0);
    p.metrics.set("ingress_signer_cache_entry_count", { handler: "user" }, 0);
  }
  if (checked.emptyReplacement) {
    p.metrics.inc("ingress_total_empty_bundles", { handler: "user" });
  } else {
    p.metrics.observe("ingress_txs_per_bundle", { handler: "user" }, bundle.txs.length);
  }
  broadcast(p, {
    type: "bundle",
    hash,
    priority,
    receivedAt,
    json: jsonRpc("eth_sendBundle", serializeRawBundle(bundle)),
    bundle,
  });
  p.metrics.observe(
    "ingress_rpc_request_duration",
    { handler: "user", method: "eth_sendBundle", priority },
    (Date.now() - receivedAt) / 1000,
  );
  return hash;
}

/** OrderflowIngress::on_raw_transaction: de-duplicate by tx hash, validate, recover, forward. */
function onRawTransaction(
  p: ProxyCore,
  signer: string,
  raw: Buffer,
  tx: Transaction,
  receivedAt: number,
  parent: Span[],
): Buffer {
  const hash = Buffer.from(tx.hash.slice(2), "hex");
  const priority = p.entities.priority(signer, false, true, tx.type === 3);
  const spans = orderSpans(parent, "transaction", tx.hash, signer, priority);
  if (seenBefore(p, "user", hash, "transaction")) {
    p.event("TRACE", "flowproxy::ingress", "already processed", [], spans);
    return hash;
  }
  const invalid = validateTransaction(tx, p.g === 2, Math.floor(receivedAt / 1000));
  const failure = invalid ?? (recoverSigner(tx) === undefined ? "Failed to recover the signer" : undefined);
  if (failure !== undefined) {
    p.event("ERROR", "flowproxy::ingress", "failed to validate transaction", [["e", { debug: failure }]], spans);
    p.metrics.inc("ingress_validation_errors", { handler: "user", error: failure });
    throw new Rejected(invalid !== undefined);
  }
  broadcast(p, {
    type: "transaction",
    hash,
    priority,
    receivedAt,
    json: jsonRpc("eth_sendRawTransaction", JSON.stringify(hex(raw))),
    raw,
  });
  p.event("DEBUG", "flowproxy::ingress", "processed raw transaction", [], spans);
  p.metrics.observe(
    "ingress_rpc_request_duration",
    { handler: "user", method: "eth_sendRawTransaction", priority },
    (Date.now() - receivedAt) / 1000,
  );
  return hash;
}

/** OrderflowIngress::on_mev_share_bundle (generation 1 only). */
function onShareBundle(
  p: ProxyCore,
  signer: string,
  bundle: RawShareBundle,
  receivedAt: number,
  parent: Span[],
): Buffer {
  const hasBlobs = bundle.body.some((e) => e.tx !== undefined && looksLikeCanonicalBlobTx(e.tx));
  const priority = p.entities.priority(signer, bundle.replacementUuid !== undefined, false, hasBlobs);
  const hash = rawShareBundleHash(bundle);
  const spans = orderSpans(parent, "mev_share_bundle", hex(hash), signer, priority);
  if (seenBefore(p, "user", hash, "mev_share_bundle")) {
    p.event("TRACE", "flowproxy::ingress", "already processed", [], spans);
    return hash;
  }
  const error = checkRawShareBundle(bundle);
  if (error !== undefined) {
    p.event("ERROR", "flowproxy::ingress", "error decoding bundle", [["e", { debug: error }]], spans);
    p.metrics.inc("ingress_validation_errors", { handler: "user", error });
    throw new Rejected(false);
  }
  p.metrics.observe("ingress_txs_per_mev_share_bundle", { handler: "user" }, bundle.body.length);
  broadcast(p, {
    type: "mev_share_bundle",
    hash,
    priority,
    receivedAt,
    json: jsonRpc("mev_sendBundle", serializeRawShareBundle(bundle)),
  });
  p.metrics.observe(
    "ingress_rpc_request_duration",
    { handler: "user", method: "mev_sendBundle", priority },
    (Date.now() - receivedAt) / 1000,
  );
  return hash;
}
