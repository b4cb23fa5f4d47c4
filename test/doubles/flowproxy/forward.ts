// Forwarding orders to peers, both generations: IngressForwarders (src/ingress/forwarder.rs@258bbd6)
// and the order forwarder (src/forwarder/mod.rs@029b7c4); each peer's forwarder is forward-http.ts
// (generation 1) or forward-tcp.ts (generation 2).
import type { Peer } from "./builderhub";
import type { ProxyCore } from "./core";
import type { Priority } from "./entities";
import type { RawBundle } from "./orders";
import { encodeRawBundle } from "./bitcode";
import { signatureHeader } from "./signature";

export const BIG_REQUEST_SIZE_THRESHOLD = 50_000;

export type EncodedOrder =
  | { type: "bundle"; hash: Buffer; priority: Priority; receivedAt: number; json: string; bundle: RawBundle }
  | { type: "transaction"; hash: Buffer; priority: Priority; receivedAt: number; json: string; raw: Buffer }
  | { type: "mev_share_bundle"; hash: Buffer; priority: Priority; receivedAt: number; json: string };

export interface Forwarder {
  send(
    order: EncodedOrder,
    signatureHeader: string | undefined,
    sentAtMicros: bigint,
    binary?: { data: Buffer; headers: Map<string, string> },
  ): boolean;
  stop(): void;
}

export interface PeerHandle {
  info: Peer;
  forwarder: Forwarder;
}

const nowMicros = () => BigInt(Date.now()) * 1000n;

export function recordE2e(p: ProxyCore, order: EncodedOrder, direction: string): void {
  const isBig = Buffer.byteLength(order.json) > BIG_REQUEST_SIZE_THRESHOLD;
  const family = {
    bundle: "system_e2e_bundle_processing_time",
    transaction: "system_e2e_transaction_processing_time",
    mev_share_bundle: "system_e2e_mev_share_bundle_processing_time",
  }[order.type];
  p.metrics.observe(
    family,
    { priority: order.priority, direction, big_request: String(isBig) },
    (Date.now() - order.receivedAt) / 1000,
  );
}

/**
 * IngressForwarders::broadcast_* (src/ingress/forwarder.rs@258bbd6): the re-encoded JSON-RPC
 * body, signed, to every peer. broadcast_order (src/forwarder/mod.rs@029b7c4): the bitcode
 * payload signed, wrapped with its headers; a peer whose forwarder ended is dropped.
 */
export function broadcast(p: ProxyCore, order: EncodedOrder): void {
  if (p.g === 1) {
    const signature = signatureHeader(p.signer, Buffer.from(order.json));
    const sentAt = nowMicros();
    p.event(
      "DEBUG",
      "flowproxy::ingress::forwarder",
      `sending ${order.type === "transaction" ? "transaction" : "bundle"} to peers`,
      [["peers", { display: String(p.peers.size) }]],
    );
    for (const handle of p.peers.values()) {
      handle.forwarder.send(order, signature, sentAt);
    }
    return;
  }
  const data =
    order.type === "bundle"
      ? encodeRawBundle(order.bundle)
      : order.type === "transaction"
        ? order.raw
        : Buffer.alloc(0);
  const headers = new Map<string, string>([
    ["X-BuilderNet-Priority", order.priority],
    ["content-type", "application/json"],
    ["X-BuilderNet-Signature", signatureHeader(p.signer, data)],
    ["X-BuilderNet-SentAtUs", nowMicros().toString()],
    ["method", order.type === "bundle" ? "eth_sendBundle" : "eth_sendRawTransaction"],
  ]);
  p.event("DEBUG", "flowproxy::forwarder", "sending order to peers", [["peers", { display: String(p.peers.size) }]]);
  for (const [name, handle] of p.peers) {
    if (!handle.forwarder.send(order, undefined, 0n, { data, headers })) {
      p.event("ERROR", "flowproxy::forwarder", "peer channel closed, removing peer", [
        ["e", { debug: "SendError { .. }" }],
        ["peer", { display: name }],
      ]);
      p.peers.delete(name);
    }
  }
}
