// What the user and system APIs share (src/ingress/mod.rs): request ids, headers, gzip bodies,
// and the order cache's sampled metrics.
import { randomBytes } from "node:crypto";
import type * as http from "node:http";
import { gunzipSync } from "node:zlib";
import type { ProxyCore } from "./core";
import { sampled } from "./entities";

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

export function sampleCacheMetrics(p: ProxyCore, handler: string, hash: Buffer, entries: boolean): void {
  if (!sampled(hash)) return;
  p.metrics.set(
    "ingress_order_cache_hit_ratio",
    { handler },
    p.g === 1 ? Math.trunc(p.cache.hitRatio * 100) : p.cache.hitRatio * 100,
  );
  if (entries) p.metrics.set("ingress_order_cache_entry_count", { handler }, p.cache.size);
}
