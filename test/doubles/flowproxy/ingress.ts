// What the user and system APIs share (src/ingress/mod.rs): request ids, headers, gzip bodies,
// and the order cache's sampled metrics.
import { randomBytes } from "node:crypto";
import type * as http from "node:http";
import { gunzipSync } from "node:zlib";
import type { ProxyCore } from "./core";
import { hex, toChecksumAddress } from "./crypto";
import { Priority, sampled } from "./entities";
import type { Span } from "./log";

/** src/utils.rs short_uuid_v4: the first 8 hex digits of a random UUID, the request id of the ingress spans. */
export const shortId = () => randomBytes(4).toString("hex");

export function firstHeader(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function maybeDecompress(p: ProxyCore, headers: http.IncomingHttpHeaders, body: Buffer): Buffer | undefined {
  if (p.s.gzip_enabled === "true" && firstHeader(headers, "content-encoding") === "gzip") {
    try {
      return gunzipSync(body);
    } catch {
      return undefined;
    }
  }
  return body;
}

function sampleCacheMetrics(p: ProxyCore, handler: string, hash: Buffer, entries: boolean): void {
  if (!sampled(hash)) return;
  p.metrics.set(
    "ingress_order_cache_hit_ratio",
    { handler },
    p.g === 1 ? Math.trunc(p.cache.hitRatio * 100) : p.cache.hitRatio * 100,
  );
  if (entries) p.metrics.set("ingress_order_cache_entry_count", { handler }, p.cache.size);
}

/**
 * Whether the order cache held the order already; a first sighting goes in. A repeat is counted per
 * handler and order type, and samples the cache's gauges (the entry count for bundles only), as
 * every ingress handler of src/ingress/mod.rs does before it validates anything.
 */
export function seenBefore(p: ProxyCore, handler: string, hash: Buffer, orderType: string): boolean {
  if (!p.cache.contains(hex(hash))) {
    p.cache.insert(hex(hash));
    return false;
  }
  p.metrics.inc("ingress_order_cache_hit", { handler, order_type: orderType });
  sampleCacheMetrics(p, handler, hash, orderType === "bundle");
  return true;
}

/** The user handler's spans for one order: its parents, then the order's own span named for its kind. */
export function orderSpans(parent: Span[], kind: string, hash: string, signer: string, priority: Priority): Span[] {
  const fields: Span["fields"] = [
    ["hash", { display: hash }],
    ["signer", { display: toChecksumAddress(signer) }],
    ["priority", { display: priority }],
  ];
  return [...parent, { name: kind, fields }];
}
