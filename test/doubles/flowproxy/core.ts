// What the protocol modules share of a running FlowProxy (proxy.ts): its generation and settings,
// its log and metrics, its signer, its order cache and entity scores, and its peers.
import type { Settings, Generation } from "./cli";
import type { Signer } from "./crypto";
import type { Entities, OrderCache } from "./entities";
import type { PeerHandle } from "./forward";
import type { Fields, Level, Span } from "./log";
import type { Registry } from "./metrics";

export interface ProxyCore {
  readonly g: Generation;
  readonly s: Settings;
  readonly metrics: Registry;
  readonly signer: Signer;
  readonly cache: OrderCache;
  readonly entities: Entities;
  readonly peers: Map<string, PeerHandle>;
  event(level: Level, target: string, message: string, fields?: Fields, spans?: Span[]): void;
}
