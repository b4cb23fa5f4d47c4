// FlowProxy and BuilderHub: its registration and the peers it reads (src/builderhub/client.rs and
// src/builderhub/mod.rs at both revisions), each peer given a forwarder by its generation.
import { BUILDERHUB_API, PORTS } from "../../../lib/contract";
import { httpRequest, RequestFailure } from "./client";
import type { ProxyCore } from "./core";
import { hex, parseHex } from "./crypto";
import { RunError } from "./errors";
import type { PeerHandle } from "./forward";
import { httpForwarder } from "./forward-http";
import { tcpForwarder } from "./forward-tcp";
import { debugString, Fields, Span } from "./log";

/** BuilderHub's routes src/builderhub/client.rs calls, as the contract records them. */
const { register: REGISTER_PATH, builders: BUILDERS_PATH } = BUILDERHUB_API;
/**
 * src/lib.rs@258bbd6 DEFAULT_SYSTEM_PORT, src/builderhub/mod.rs@029b7c4 likewise: the port FlowProxy
 * reaches peers at, which the contract's system port must be (its tests hold both to 5544).
 */
const DEFAULT_SYSTEM_PORT = PORTS.system;

export interface Peer {
  name: string;
  ip: string;
  dns_name: string;
  orderflow_proxy: { tls_cert: string | null; ecdsa_pubkey_address: string };
  instance: { tls_cert: string };
}

function debugPeer(p: Peer): string {
  const cert = p.orderflow_proxy.tls_cert === null ? "None" : `Some(${debugString(p.orderflow_proxy.tls_cert)})`;
  return (
    `Peer { name: ${debugString(p.name)}, ip: ${debugString(p.ip)}, dns_name: ${debugString(p.dns_name)}, ` +
    `orderflow_proxy: PeerCredentials { tls_cert: ${cert}, ecdsa_pubkey_address: ${p.orderflow_proxy.ecdsa_pubkey_address} }, ` +
    `instance: InstanceData { tls_cert: ${debugString(p.instance.tls_cert)} } }`
  );
}

function samePeer(a: Peer, b: Peer): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** serde's Peer: every field required, unknown fields ignored, the address 20 bytes of hex. */
function parsePeers(body: string): Peer[] {
  const list: unknown = JSON.parse(body);
  if (!Array.isArray(list)) {
    throw new Error("invalid type: expected a sequence");
  }
  const str = (v: unknown) => {
    if (typeof v !== "string") throw new Error("invalid type: expected a string");
    return v;
  };
  return list.map((p: Record<string, Record<string, unknown>>) => {
    const address = parseHex(str(p?.orderflow_proxy?.ecdsa_pubkey_address));
    if (!address || address.length !== 20) {
      throw new Error("invalid address");
    }
    const cert = p.orderflow_proxy.tls_cert;
    return {
      name: str(p.name),
      ip: str(p.ip),
      dns_name: str(p.dns_name),
      orderflow_proxy: {
        tls_cert: cert === undefined || cert === null ? null : str(cert),
        ecdsa_pubkey_address: hex(address),
      },
      instance: { tls_cert: str(p.instance?.tls_cert) },
    };
  });
}

/** The `ip`/`dns_name` rule of Peer::system_api (both revisions): dns_name:5544, else ip (with 5544 if it has no port). */
export function systemHostPort(p: Peer): { host: string; port: number } {
  const hostPort =
    p.dns_name === ""
      ? p.ip.includes(":")
        ? p.ip
        : `${p.ip}:${DEFAULT_SYSTEM_PORT}`
      : `${p.dns_name}:${DEFAULT_SYSTEM_PORT}`;
  const colon = hostPort.lastIndexOf(":");
  return { host: hostPort.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(hostPort.slice(colon + 1)) };
}

/**
 * src/builderhub/client.rs: one POST, no retry, a 2 s timeout; `{"ecdsa_pubkey_address": ...}`
 * (tls_cert None is skipped by serde). The URL is the endpoint with the path appended as is.
 */
export async function register(p: ProxyCore, builderhubEndpoint: string): Promise<void> {
  const url = `${builderhubEndpoint}${REGISTER_PATH}`;
  const body = JSON.stringify({ ecdsa_pubkey_address: p.signer.address });
  let response: { status: number; body: string };
  try {
    response = await httpRequest(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: Buffer.from(body),
    });
  } catch (err) {
    throw new RunError(`reqwest error: ${(err as RequestFailure).display ?? `error sending request for url (${url})`}`);
  }
  if (response.status < 200 || response.status > 299) {
    throw new RunError(`registration unsuccessful: ${response.body}`);
  }
}

/** PeerStore::get_peers: GET, a 2 s timeout, the body read as JSON whatever the status. */
export async function fetchPeers(builderhubEndpoint: string): Promise<Peer[]> {
  const url = `${builderhubEndpoint}${BUILDERS_PATH}`;
  const response = await httpRequest(url, { method: "GET" });
  try {
    return parsePeers(response.body);
  } catch {
    throw new RequestFailure(
      "error decoding response body",
      `reqwest::Error { kind: Decode, source: ${debugString(response.body.slice(0, 80))} }`,
    );
  }
}

export async function updatePeers(p: ProxyCore, get: () => Promise<Peer[]>): Promise<void> {
  const span: Span[] = p.g === 1 ? [{ name: "update_peers", fields: [] }] : [];
  let builders: Peer[];
  try {
    builders = await get();
  } catch (err) {
    const failure = err as RequestFailure;
    p.metrics.inc("builderhub_peer_request_failures", { error: failure.display });
    p.event(
      "ERROR",
      "flowproxy::builderhub",
      "failed to get peers from builderhub",
      [["e", { debug: failure.debug }]],
      span,
    );
    return;
  }
  for (const [name, handle] of p.peers) {
    if (!builders.some((b) => b.name === name)) {
      p.event(
        "INFO",
        "flowproxy::builderhub",
        "removed from configuration",
        [
          ["peer", { display: name }],
          ["info", { debug: debugPeer(handle.info) }],
        ],
        span,
      );
      retire(p, handle);
      p.peers.delete(name);
    }
  }
  for (const peer of builders) {
    await processPeer(p, peer, span);
  }
  p.metrics.set("builderhub_peer_count", {}, p.peers.size);
}

/** PeersUpdater::process_peer at 258bbd6 (HTTP forwarders) and 029b7c4 (TCP forwarders). */
async function processPeer(p: ProxyCore, peer: Peer, parent: Span[]): Promise<void> {
  const spans = [...parent, { name: "process_peer", fields: [["peer", { debug: debugPeer(peer) }]] as Fields }];
  const info = (message: string) => p.event("INFO", "flowproxy::builderhub", message, [], spans);
  const isSelf = peer.orderflow_proxy.ecdsa_pubkey_address === p.signer.address;
  const existing = p.peers.get(peer.name);
  if (p.g === 1) {
    // 258bbd6 logs before it filters itself out, and logs every known peer on every round.
    info(existing ? "received configuration update" : "received new peer configuration");
    if ((existing && samePeer(existing.info, peer)) || isSelf) return;
  } else {
    if (isSelf) {
      p.event("DEBUG", "flowproxy::builderhub", "skipped processing self peer", [], spans);
      return;
    }
    if (existing && samePeer(existing.info, peer)) {
      p.event("DEBUG", "flowproxy::builderhub", "received no configuration changes, skipping", [], spans);
      return;
    }
    info(existing ? "received configuration update" : "received new peer configuration");
  }
  if (p.s.disable_forwarding === "true") {
    p.event("WARN", "flowproxy::builderhub", "skipped spawning forwarder (disabled forwarding)", [], spans);
    return;
  }
  const forwarder = p.g === 1 ? httpForwarder(p, peer) : await tcpForwarder(p, peer, spans);
  if (forwarder) {
    if (existing) retire(p, existing);
    p.peers.set(peer.name, { info: peer, forwarder });
  }
}

/** Dropping a peer's handle closes its channel; the forwarder task sees that and ends. */
function retire(p: ProxyCore, handle: PeerHandle): void {
  handle.forwarder.stop();
  const target = p.g === 1 ? "flowproxy::ingress::forwarder" : "flowproxy::forwarder::tcp";
  p.event("INFO", target, "terminating forwarder", [["name", { display: handle.info.name }]]);
}
