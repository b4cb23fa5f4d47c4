// Bundles as FlowProxy reads, hashes, checks and re-sends them. The shapes are rbuilder-primitives'
// serde types (RawBundle, RawShareBundle: FlowProxy pins rbuilder 332b00c; the rules here were
// read from rbuilder's crates/rbuilder-primitives/src/serialize.rs, the revision this machine
// has, whose RawBundleMetadata has the same 16 fields FlowProxy's BundleHash destructures).
import { bigIntFromBytes, hex, parseHex } from "./crypto";
import { fourRoundHash, RustHasher } from "./rusthash";
import { DecodeError, decodePooledTransaction, looksLikeCanonicalBlobTx, recoverSigner } from "./tx";

/** A serde_json error: the params do not have the type upstream asks for. */
export class ParamsError extends Error {}

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v);

function fail(message: string): never {
  throw new ParamsError(message);
}

function u64(v: Json, field: string): bigint {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    fail(`invalid type for ${field}: expected u64`);
  }
  return BigInt(v);
}

/** ruint's human-readable Uint<64>: a JSON integer, or a string in hex (0x) or decimal. */
function u64Quantity(v: Json, field: string): bigint {
  if (typeof v === "number") {
    return u64(v, field);
  }
  if (typeof v !== "string") {
    fail(`invalid type for ${field}: expected a quantity`);
  }
  const value = /^0[xX]/.test(v)
    ? /^0[xX][0-9a-fA-F]*$/.test(v)
      ? bigIntFromBytes(Buffer.from(v.slice(2).padStart(v.length - 2 + ((v.length - 2) % 2), "0"), "hex"))
      : fail(`invalid digit in ${field}`)
    : /^[0-9]+$/.test(v)
      ? BigInt(v)
      : fail(`invalid digit in ${field}`);
  if (value >= 1n << 64n) {
    fail(`${field} does not fit in 64 bits`);
  }
  return value;
}

function bytes(v: Json, field: string): Buffer {
  const parsed = typeof v === "string" ? parseHex(v) : undefined;
  return parsed ?? fail(`invalid hex for ${field}`);
}

function fixedBytes(v: Json, length: number, field: string): Buffer {
  const parsed = bytes(v, field);
  return parsed.length === length ? parsed : fail(`invalid length for ${field}: expected ${length} bytes`);
}

/** The uuid crate's parse_str: simple, hyphenated, braced or urn form. */
function uuid(v: Json, field: string): Buffer {
  if (typeof v !== "string") {
    fail(`invalid type for ${field}: expected a UUID string`);
  }
  const body = v.replace(/^urn:uuid:/i, "").replace(/^\{(.*)\}$/, "$1");
  const simple = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(body)
    ? body.replace(/-/g, "")
    : /^[0-9a-fA-F]{32}$/.test(body) && body === v
      ? body
      : fail(`invalid UUID for ${field}`);
  return Buffer.from(simple, "hex");
}

const uuidString = (b: Buffer): string => {
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

function optional<T>(v: Json, parse: (value: Json) => T): T | undefined {
  return v === undefined || v === null ? undefined : parse(v);
}

function array<T>(v: Json, field: string, each: (value: Json) => T): T[] {
  return Array.isArray(v) ? v.map(each) : fail(`invalid type for ${field}: expected a sequence`);
}

export interface RawBundle {
  version?: string;
  blockNumber?: bigint;
  revertingTxHashes: Buffer[];
  droppingTxHashes: Buffer[];
  replacementUuid?: Buffer;
  uuid?: Buffer;
  signingAddress?: Buffer;
  refundIdentity?: Buffer;
  minTimestamp?: bigint;
  maxTimestamp?: bigint;
  replacementNonce?: bigint;
  refundPercent?: number;
  refundRecipient?: Buffer;
  refundTxHashes?: Buffer[];
  delayedRefund?: boolean;
  bundleHash?: Buffer;
  txs: Buffer[];
}

/** serde's RawBundle: camelCase fields, unknown ones ignored, null hash lists and txs read as empty. */
export function parseRawBundle(v: Json): RawBundle {
  if (!isObject(v)) {
    fail("invalid type: expected struct RawBundle");
  }
  const hashes = (field: string) => optional(v[field], (x) => array(x, field, (h) => fixedBytes(h, 32, field))) ?? [];
  const address = (field: string) => optional(v[field], (x) => fixedBytes(x, 20, field));
  const number = (field: string) => optional(v[field], (x) => u64(x, field));
  return {
    version: optional(v.version, (x) => (typeof x === "string" ? x : fail("invalid type for version"))),
    blockNumber: optional(v.blockNumber, (x) => u64Quantity(x, "blockNumber")),
    revertingTxHashes: hashes("revertingTxHashes"),
    droppingTxHashes: hashes("droppingTxHashes"),
    replacementUuid: optional(v.replacementUuid, (x) => uuid(x, "replacementUuid")),
    uuid: optional(v.uuid, (x) => uuid(x, "uuid")),
    signingAddress: address("signingAddress"),
    refundIdentity: address("refundIdentity"),
    minTimestamp: number("minTimestamp"),
    maxTimestamp: number("maxTimestamp"),
    replacementNonce: number("replacementNonce"),
    refundPercent: optional(v.refundPercent, (x) => {
      const n = u64(x, "refundPercent");
      return n <= 255n ? Number(n) : fail("refundPercent does not fit in u8");
    }),
    refundRecipient: address("refundRecipient"),
    refundTxHashes: optional(v.refundTxHashes, (x) =>
      array(x, "refundTxHashes", (h) => fixedBytes(h, 32, "refundTxHashes")),
    ),
    delayedRefund: optional(v.delayedRefund, (x) =>
      typeof x === "boolean" ? x : fail("invalid type for delayedRefund"),
    ),
    bundleHash: optional(v.bundleHash, (x) => fixedBytes(x, 32, "bundleHash")),
    txs: optional(v.txs, (x) => array(x, "txs", (t) => bytes(t, "txs"))) ?? [],
  };
}

const quantity = (n: bigint) => `0x${n.toString(16)}`;
const json = (value: unknown) => JSON.stringify(value);

/** serde's Serialize of RawBundle (metadata flattened first, skipped Nones), as serde_json writes it. */
export function serializeRawBundle(b: RawBundle): string {
  const fields: string[] = [
    `"version":${b.version === undefined ? "null" : json(b.version)}`,
    `"blockNumber":${b.blockNumber === undefined ? "null" : json(quantity(b.blockNumber))}`,
    `"revertingTxHashes":${json(b.revertingTxHashes.map(hex))}`,
    `"droppingTxHashes":${json(b.droppingTxHashes.map(hex))}`,
  ];
  const add = (name: string, value: string | undefined) => value !== undefined && fields.push(`"${name}":${value}`);
  add("replacementUuid", b.replacementUuid && json(uuidString(b.replacementUuid)));
  add("uuid", b.uuid && json(uuidString(b.uuid)));
  add("signingAddress", b.signingAddress && json(hex(b.signingAddress)));
  add("refundIdentity", b.refundIdentity && json(hex(b.refundIdentity)));
  add("minTimestamp", b.minTimestamp?.toString());
  add("maxTimestamp", b.maxTimestamp?.toString());
  add("replacementNonce", b.replacementNonce?.toString());
  add("refundPercent", b.refundPercent?.toString());
  add("refundRecipient", b.refundRecipient && json(hex(b.refundRecipient)));
  add("refundTxHashes", b.refundTxHashes && json(b.refundTxHashes.map(hex)));
  add("delayedRefund", b.delayedRefund?.toString());
  add("bundleHash", b.bundleHash && json(hex(b.bundleHash)));
  fields.push(`"txs":${json(b.txs.map(hex))}`);
  return `{${fields.join(",")}}`;
}

/** src/primitives/mod.rs@258bbd6, `impl BundleHash for RawBundle` (unchanged at 029b7c4). */
export function rawBundleHash(b: RawBundle, onMissingNonce: () => void = () => undefined): Buffer {
  return fourRoundHash((h) => {
    if (b.blockNumber !== undefined) {
      h.u64Limbs(b.blockNumber);
    }
    if (b.txs.length > 0) {
      h.seq(b.txs, (tx) => h.bytes(tx));
    }
    if (b.revertingTxHashes.length > 0) {
      h.seq(b.revertingTxHashes, (x) => h.bytes(x));
    }
    if (b.droppingTxHashes.length > 0) {
      h.seq(b.droppingTxHashes, (x) => h.bytes(x));
    }
    const replacement = b.uuid ?? b.replacementUuid;
    if (replacement !== undefined) {
      h.str(uuidString(replacement));
      if (b.replacementNonce !== undefined) {
        h.u64(b.replacementNonce);
      } else {
        onMissingNonce();
      }
    }
    if (b.refundPercent !== undefined) {
      h.u64(BigInt(b.refundPercent));
    }
    if (b.refundRecipient !== undefined) {
      h.bytes(b.refundRecipient);
    }
    if (b.refundTxHashes !== undefined && b.refundTxHashes.length > 0) {
      h.seq(b.refundTxHashes, (x) => h.bytes(x));
    }
    if (b.refundIdentity !== undefined) {
      h.bytes(b.refundIdentity);
    }
    if (b.version !== undefined) {
      h.str(b.version);
    }
    if (b.minTimestamp !== undefined) {
      h.u64(b.minTimestamp);
    }
    if (b.maxTimestamp !== undefined) {
      h.u64(b.maxTimestamp);
    }
    if (b.delayedRefund !== undefined) {
      h.bool(b.delayedRefund);
    }
  });
}

/**
 * rbuilder's TxEncoding::WithBlobData decode of one transaction: the pooled (network) form, its
 * signer recovered. Returns the TxWithBlobsCreateError's Display on failure.
 */
function decodeBundleTransaction(raw: Buffer): string | undefined {
  let tx;
  try {
    tx = decodePooledTransaction(raw);
  } catch (err) {
    const message = (err as DecodeError).message;
    if (!message.startsWith("Unexpected type flag") && looksLikeCanonicalBlobTx(raw)) {
      return `Failed to decode transaction, error: ${message}. It probably is a 4484 canonical tx.`;
    }
    return `Failed to decode transaction, error: ${message}`;
  }
  return recoverSigner(tx) === undefined ? "Invalid transaction signature" : undefined;
}

/**
 * FlowProxy's SystemBundleDecoder (src/primitives/mod.rs@258bbd6) over rbuilder's
 * RawBundle::decode: returns the error's Display, "" for an accepted cancellation (an empty
 * replacement), or undefined for a new bundle.
 */
export function checkRawBundle(b: RawBundle, maxTxsPerBundle: number): { error?: string; emptyReplacement: boolean } {
  const error = (message: string) => ({ error: message, emptyReplacement: false });
  if (b.txs.length > maxTxsPerBundle) {
    return error("bundle contains too many transactions");
  }
  const replacement = b.uuid ?? b.replacementUuid;
  if (replacement !== undefined && (b.replacementNonce === undefined || b.signingAddress === undefined)) {
    return error("Incorrect replacement data");
  }
  if (b.txs.length === 0) {
    return replacement !== undefined ? { emptyReplacement: true } : error("Empty bundle with on uuid");
  }
  const version = b.version ?? "v2";
  if (version !== "v1" && version !== "v2") {
    return error(`Unsupported version ${version}`);
  }
  if (version === "v1") {
    const v2Only: [string, unknown][] = [
      ["dropping_tx_hashes", b.droppingTxHashes.length > 0 || undefined],
      ["refund_percent", b.refundPercent],
      ["refund_recipient", b.refundRecipient],
      ["refund_tx_hashes", b.refundTxHashes],
      ["delayed_refund", b.delayedRefund],
    ];
    const present = v2Only.find(([, value]) => value !== undefined);
    if (present) {
      return error(`Field ${present[0]} not supported by version V1`);
    }
  }
  for (const [idx, tx] of b.txs.entries()) {
    const txError = decodeBundleTransaction(tx);
    if (txError !== undefined) {
      return error(`Failed to decode transaction, idx: ${idx}, error: ${txError}`);
    }
  }
  if (b.refundPercent !== undefined && b.refundPercent >= 100) {
    return error(`Invalid refund percent ${b.refundPercent}`);
  }
  if (
    b.refundPercent !== undefined &&
    b.refundPercent > 0 &&
    b.refundTxHashes !== undefined &&
    b.refundTxHashes.length > 1
  ) {
    return error("More than one refund tx hash not supported");
  }
  return { emptyReplacement: false };
}

/** rbuilder's RawShareBundle (mev_sendBundle, generation 1 only). */
export interface RawShareBundle {
  version: string;
  inclusion: { block: bigint; maxBlock?: bigint };
  body: { tx?: Buffer; canRevert: boolean; revertMode?: string; bundle?: RawShareBundle }[];
  validity?: { refund: { bodyIdx: bigint; percent: bigint }[]; refundConfig: { address: Buffer; percent: bigint }[] };
  metadata?: { signer?: Buffer; replacementNonce?: bigint; cancelled: boolean };
  replacementUuid?: Buffer;
}

export function parseRawShareBundle(v: Json): RawShareBundle {
  if (!isObject(v)) {
    fail("invalid type: expected struct RawShareBundle");
  }
  const required = (field: string) => (v[field] === undefined ? fail(`missing field \`${field}\``) : v[field]);
  const inclusion = required("inclusion");
  if (!isObject(inclusion)) {
    fail("invalid type for inclusion");
  }
  const validity = optional(v.validity, (x) => {
    if (!isObject(x)) {
      fail("invalid type for validity");
    }
    const list = <T>(field: string, each: (e: Record<string, Json>) => T) =>
      optional(x[field], (l) => array(l, field, (e) => (isObject(e) ? each(e) : fail(`invalid type in ${field}`)))) ??
      [];
    return {
      refund: list("refund", (e) => ({ bodyIdx: u64(e.bodyIdx, "bodyIdx"), percent: u64(e.percent, "percent") })),
      refundConfig: list("refundConfig", (e) => ({
        address: fixedBytes(e.address, 20, "address"),
        percent: u64(e.percent, "percent"),
      })),
    };
  });
  const metadata = optional(v.metadata, (x) => {
    if (!isObject(x)) {
      fail("invalid type for metadata");
    }
    return {
      signer: optional(x.signer, (s) => fixedBytes(s, 20, "signer")),
      replacementNonce: optional(x.replacementNonce, (n) => u64(n, "replacementNonce")),
      cancelled:
        optional(x.cancelled, (c) => (typeof c === "boolean" ? c : fail("invalid type for cancelled"))) ?? false,
    };
  });
  const version = required("version");
  return {
    version: typeof version === "string" ? version : fail("invalid type for version"),
    inclusion: {
      block: u64Quantity(inclusion.block === undefined ? fail("missing field `block`") : inclusion.block, "block"),
      maxBlock: optional(inclusion.maxBlock, (x) => u64Quantity(x, "maxBlock")),
    },
    body: array(required("body"), "body", (entry) => {
      if (!isObject(entry)) {
        fail("invalid type in body");
      }
      return {
        tx: optional(entry.tx, (t) => bytes(t, "tx")),
        canRevert:
          optional(entry.canRevert, (c) => (typeof c === "boolean" ? c : fail("invalid type for canRevert"))) ?? false,
        revertMode: optional(entry.revertMode, (m) =>
          typeof m === "string" ? m : fail("invalid type for revertMode"),
        ),
        bundle: optional(entry.bundle, parseRawShareBundle),
      };
    }),
    validity,
    metadata,
    replacementUuid: optional(v.replacementUuid, (x) => uuid(x, "replacementUuid")),
  };
}

export function serializeRawShareBundle(b: RawShareBundle): string {
  const inclusion = [`"block":${json(quantity(b.inclusion.block))}`];
  if (b.inclusion.maxBlock !== undefined) {
    inclusion.push(`"maxBlock":${json(quantity(b.inclusion.maxBlock))}`);
  }
  const body = b.body.map((e) => {
    const fields: string[] = [];
    if (e.tx !== undefined) {
      fields.push(`"tx":${json(hex(e.tx))}`);
    }
    fields.push(
      `"canRevert":${e.canRevert}`,
      `"revertMode":${e.revertMode === undefined ? "null" : json(e.revertMode)}`,
    );
    if (e.bundle !== undefined) {
      fields.push(`"bundle":${serializeRawShareBundle(e.bundle)}`);
    }
    return `{${fields.join(",")}}`;
  });
  const fields = [`"version":${json(b.version)}`, `"inclusion":{${inclusion.join(",")}}`, `"body":[${body.join(",")}]`];
  if (b.validity) {
    const refund = b.validity.refund.map((r) => `{"bodyIdx":${r.bodyIdx},"percent":${r.percent}}`);
    const config = b.validity.refundConfig.map((r) => `{"address":${json(hex(r.address))},"percent":${r.percent}}`);
    fields.push(`"validity":{"refund":[${refund.join(",")}],"refundConfig":[${config.join(",")}]}`);
  }
  if (b.metadata) {
    const m = b.metadata;
    fields.push(
      `"metadata":{"signer":${m.signer ? json(hex(m.signer)) : "null"},"replacementNonce":${m.replacementNonce ?? "null"},"cancelled":${m.cancelled}}`,
    );
  }
  fields.push(`"replacementUuid":${b.replacementUuid ? json(uuidString(b.replacementUuid)) : "null"}`);
  return `{${fields.join(",")}}`;
}

/** uuid 1.18's own `impl Hash for Uuid` (src/lib.rs) writes the 16 bytes without the slice's length. */
function hashUuid(h: RustHasher, uuid: Buffer): void {
  h.write(uuid);
}

/** The derived `Hash` of RawShareBundle and its parts (rbuilder derives Hash on all of them). */
function hashShareBundleDerived(h: RustHasher, b: RawShareBundle): void {
  const option = <T>(value: T | undefined, each: (v: T) => void) => {
    h.discriminant(value === undefined ? 0 : 1);
    if (value !== undefined) {
      each(value);
    }
  };
  h.str(b.version);
  h.u64Limbs(b.inclusion.block);
  option(b.inclusion.maxBlock, (m) => h.u64Limbs(m));
  h.seq(b.body, (e) => {
    option(e.tx, (t) => h.bytes(t));
    h.bool(e.canRevert);
    option(e.revertMode, (m) => h.str(m));
    option(e.bundle, (inner) => hashShareBundleDerived(h, inner));
  });
  option(b.validity, (v) => hashValidity(h, v));
  option(b.metadata, (m) => hashMetadata(h, m));
  option(b.replacementUuid, (u) => hashUuid(h, u));
}

function hashValidity(h: RustHasher, v: NonNullable<RawShareBundle["validity"]>): void {
  h.seq(v.refund, (r) => {
    h.usize(r.bodyIdx);
    h.usize(r.percent);
  });
  h.seq(v.refundConfig, (r) => {
    h.bytes(r.address);
    h.usize(r.percent);
  });
}

function hashMetadata(h: RustHasher, m: NonNullable<RawShareBundle["metadata"]>): void {
  h.discriminant(m.signer === undefined ? 0 : 1);
  if (m.signer !== undefined) {
    h.bytes(m.signer);
  }
  h.discriminant(m.replacementNonce === undefined ? 0 : 1);
  if (m.replacementNonce !== undefined) {
    h.u64(m.replacementNonce);
  }
  h.bool(m.cancelled);
}

/** src/primitives/mod.rs@258bbd6, `impl BundleHash for RawShareBundle`. */
export function rawShareBundleHash(b: RawShareBundle): Buffer {
  return fourRoundHash((h) => {
    h.str(b.version);
    h.u64(b.inclusion.block);
    if (b.inclusion.maxBlock !== undefined) {
      h.u64(b.inclusion.maxBlock);
    }
    for (const entry of b.body) {
      if (entry.tx !== undefined) {
        h.bytes(entry.tx);
      }
      h.bool(entry.canRevert);
      if (entry.revertMode !== undefined) {
        h.str(entry.revertMode);
      }
      if (entry.bundle !== undefined) {
        hashShareBundleDerived(h, entry.bundle);
      }
    }
    if (b.validity !== undefined) {
      hashValidity(h, b.validity);
    }
    if (b.metadata !== undefined) {
      hashMetadata(h, b.metadata);
    }
    if (b.replacementUuid !== undefined) {
      hashUuid(h, b.replacementUuid);
    }
  });
}

const SHARE_BUNDLE_VERSIONS = new Set(["v0.1", "version-1", "beta-1"]);

/** rbuilder's RawShareBundle::decode (extract_inner_bundle). Returns the error's Display, or undefined. */
export function checkRawShareBundle(b: RawShareBundle): string | undefined {
  if (b.metadata?.cancelled) {
    const m = b.metadata;
    return b.replacementUuid !== undefined && m.signer !== undefined && m.replacementNonce !== undefined
      ? undefined
      : "Unable to parse a Cancel";
  }
  let txCount = 0;
  const inner = (bundle: RawShareBundle, depth: number): string | undefined => {
    if (depth > 5) {
      return "Bundle too deep";
    }
    if (!SHARE_BUNDLE_VERSIONS.has(bundle.version)) {
      return "Incorrect version";
    }
    for (const entry of bundle.body) {
      if (entry.tx !== undefined) {
        const txError = decodeBundleTransaction(entry.tx);
        if (txError !== undefined) {
          return `Failed to decode transaction, idx: ${txCount}, error: ${txError}`;
        }
        txCount++;
      } else if (entry.bundle !== undefined) {
        const error = inner(entry.bundle, depth + 1);
        if (error !== undefined) {
          return error;
        }
      } else {
        return "Empty body";
      }
    }
    const validity = bundle.validity;
    if (validity && validity.refund.reduce((sum, r) => sum + r.percent, 0n) > 100n) {
      return "Total refund percent exceeds 100";
    }
    if (
      validity &&
      validity.refundConfig.length > 0 &&
      validity.refundConfig.reduce((sum, r) => sum + r.percent, 0n) > 100n
    ) {
      return "Refund config does not add to 100";
    }
    return undefined;
  };
  return inner(b, 0);
}
