// Signed Ethereum transactions as FlowProxy reads them: alloy's PooledTransaction::decode_2718 (the
// network form of eth_sendRawTransaction, blob sidecar included), signer recovery with the EIP-2
// low-s rule, and src/validation.rs's checks. The double decodes exactly like upstream because a
// bundle whose transactions do not decode is refused (src/primitives/mod.rs@258bbd6).
import { bigIntFromBytes, hex, keccak256, recoverAddress } from "./crypto";

/** alloy_rlp::Error and alloy_eips::Eip2718Error, with their Display wording. */
export class DecodeError extends Error {}

const rlpError = (message: string) => new DecodeError(message);

interface Item {
  list: boolean;
  /** Header and payload, as they were on the wire. */
  raw: Buffer;
  payload: Buffer;
}

/** Follows alloy-rlp's Header::decode: canonical sizes only, no leading zeros in lengths. */
function readItem(buf: Buffer, offset: number): { item: Item; next: number } {
  if (offset >= buf.length) {
    throw rlpError("input too short");
  }
  const b = buf[offset];
  let headerLength: number;
  let payloadLength: number;
  let list = false;
  if (b < 0x80) {
    headerLength = 0;
    payloadLength = 1;
  } else if (b <= 0xb7) {
    headerLength = 1;
    payloadLength = b - 0x80;
    if (payloadLength === 1) {
      if (offset + 1 >= buf.length) {
        throw rlpError("input too short");
      }
      if (buf[offset + 1] < 0x80) {
        throw rlpError("non-canonical single byte");
      }
    }
  } else if (b <= 0xbf || b >= 0xf8) {
    list = b >= 0xf8;
    const lengthOfLength = b - (list ? 0xf7 : 0xb7);
    if (offset + 1 + lengthOfLength > buf.length) {
      throw rlpError("input too short");
    }
    const lengthBytes = buf.subarray(offset + 1, offset + 1 + lengthOfLength);
    if (lengthBytes[0] === 0) {
      throw rlpError("leading zero");
    }
    const length = bigIntFromBytes(lengthBytes);
    if (length < 56n) {
      throw rlpError("non-canonical size");
    }
    if (length > BigInt(buf.length)) {
      throw rlpError("input too short");
    }
    headerLength = 1 + lengthOfLength;
    payloadLength = Number(length);
  } else {
    list = true;
    headerLength = 1;
    payloadLength = b - 0xc0;
  }
  const start = offset + headerLength;
  const end = start + payloadLength;
  if (end > buf.length) {
    throw rlpError("input too short");
  }
  return { item: { list, raw: buf.subarray(offset, end), payload: buf.subarray(start, end) }, next: end };
}

/** Reads the items of a list payload one by one, as alloy's derived decoders do. */
class ListReader {
  private offset = 0;
  constructor(private readonly payload: Buffer) {}

  next(): Item {
    const { item, next } = readItem(this.payload, this.offset);
    this.offset = next;
    return item;
  }

  get done(): boolean {
    return this.offset >= this.payload.length;
  }

  /** alloy's typed-transaction decoders refuse a list whose fields do not fill it exactly. */
  finish(): void {
    if (!this.done) {
      throw rlpError("unexpected length");
    }
  }

  /** Derived struct decoders compare the consumed length with the header's. */
  finishStruct(): void {
    if (!this.done) {
      throw rlpError(`list length mismatch: expected ${this.payload.length}, got ${this.offset}`);
    }
  }
}

function expectString(item: Item): Buffer {
  if (item.list) {
    throw rlpError("unexpected list");
  }
  return item.payload;
}

function expectList(item: Item): ListReader {
  if (!item.list) {
    throw rlpError("unexpected string");
  }
  return new ListReader(item.payload);
}

function uint(item: Item, maxBytes: number): bigint {
  const bytes = expectString(item);
  if (bytes.length > maxBytes) {
    throw rlpError("overflow");
  }
  if (bytes.length > 0 && bytes[0] === 0) {
    throw rlpError("leading zero");
  }
  return bigIntFromBytes(bytes);
}

function fixed(item: Item, length: number): Buffer {
  const bytes = expectString(item);
  if (bytes.length !== length) {
    throw rlpError("unexpected length");
  }
  return bytes;
}

function bool(item: Item): 0 | 1 {
  const value = uint(item, 1);
  if (value > 1n) {
    throw rlpError("invalid bool value, must be 0 or 1");
  }
  return Number(value) as 0 | 1;
}

function encodeLength(length: number, offset: number): Buffer {
  if (length < 56) {
    return Buffer.from([offset + length]);
  }
  const bytes = Buffer.from(length.toString(16).padStart(Math.ceil(length.toString(16).length / 2) * 2, "0"), "hex");
  return Buffer.concat([Buffer.from([offset + 55 + bytes.length]), bytes]);
}

function encodeList(items: Buffer[]): Buffer {
  const payload = Buffer.concat(items);
  return Buffer.concat([encodeLength(payload.length, 0xc0), payload]);
}

function encodeUint(value: bigint): Buffer {
  if (value === 0n) {
    return Buffer.from([0x80]);
  }
  const digits = value.toString(16);
  const bytes = Buffer.from(digits.padStart(digits.length + (digits.length % 2), "0"), "hex");
  return bytes.length === 1 && bytes[0] < 0x80 ? bytes : Buffer.concat([encodeLength(bytes.length, 0x80), bytes]);
}

interface AccessListEntry {
  address: string;
  storageKeys: number;
}

export interface Transaction {
  type: number;
  chainId?: bigint;
  nonce: bigint;
  gasLimit: bigint;
  /** gasPrice for legacy and EIP-2930 transactions. */
  maxFeePerGas: bigint;
  maxPriorityFeePerGas?: bigint;
  /** undefined: contract creation. */
  to?: string;
  input: Buffer;
  accessList?: AccessListEntry[];
  authorizationCount?: number;
  blobVersionedHashes?: number;
  /** keccak-256 of the canonical encoding (without the blob sidecar). */
  hash: string;
  signingHash: Buffer;
  r: bigint;
  s: bigint;
  parity: 0 | 1;
}

function accessList(item: Item): AccessListEntry[] {
  const reader = expectList(item);
  const entries: AccessListEntry[] = [];
  while (!reader.done) {
    const entry = expectList(reader.next());
    const address = hex(fixed(entry.next(), 20));
    const keys = expectList(entry.next());
    let storageKeys = 0;
    while (!keys.done) {
      fixed(keys.next(), 32);
      storageKeys++;
    }
    entry.finishStruct();
    entries.push({ address, storageKeys });
  }
  return entries;
}

function authorizationList(item: Item): number {
  const reader = expectList(item);
  let count = 0;
  while (!reader.done) {
    const entry = expectList(reader.next());
    uint(entry.next(), 32); // chain id
    fixed(entry.next(), 20); // address
    uint(entry.next(), 8); // nonce
    uint(entry.next(), 1); // y parity
    uint(entry.next(), 32); // r
    uint(entry.next(), 32); // s
    entry.finishStruct();
    count++;
  }
  return count;
}

/** TxKind: the empty string is a contract creation, anything else must be a 20-byte address. */
function txKind(item: Item): string | undefined {
  if (!item.list && item.raw.length === 1 && item.raw[0] === 0x80) {
    return undefined;
  }
  return hex(fixed(item, 20));
}

function decodeLegacy(buf: Buffer): Transaction {
  const { item } = readItem(buf, 0);
  const fields = expectList(item);
  const raw: Buffer[] = [];
  const take = () => {
    const field = fields.next();
    raw.push(field.raw);
    return field;
  };
  const nonce = uint(take(), 8);
  const gasPrice = uint(take(), 16);
  const gasLimit = uint(take(), 8);
  const to = txKind(take());
  uint(take(), 32); // value
  const input = expectString(take());
  const v = uint(fields.next(), 8);
  const r = uint(fields.next(), 32);
  const s = uint(fields.next(), 32);
  fields.finish();
  let chainId: bigint | undefined;
  let parity: 0 | 1;
  if (v === 27n || v === 28n) {
    parity = Number(v - 27n) as 0 | 1;
  } else if (v >= 35n) {
    chainId = (v - 35n) / 2n;
    parity = Number((v - 35n) % 2n) as 0 | 1;
  } else {
    throw rlpError("invalid V value");
  }
  const unsigned = chainId === undefined ? raw : [...raw, encodeUint(chainId), encodeUint(0n), encodeUint(0n)];
  return {
    type: 0,
    chainId,
    nonce,
    gasLimit,
    maxFeePerGas: gasPrice,
    to,
    input,
    hash: hex(keccak256(item.raw)),
    signingHash: keccak256(encodeList(unsigned)),
    r,
    s,
    parity,
  };
}

/** Decodes the fields of a typed transaction (its list, then the signature) into a Transaction. */
function decodeTypedFields(type: number, list: Item): Transaction {
  const fields = expectList(list);
  const raw: Buffer[] = [];
  const take = () => {
    const field = fields.next();
    raw.push(field.raw);
    return field;
  };
  const chainId = uint(take(), 8);
  const nonce = uint(take(), 8);
  let maxFeePerGas: bigint;
  let maxPriorityFeePerGas: bigint | undefined;
  if (type === 1) {
    maxFeePerGas = uint(take(), 16);
  } else {
    maxPriorityFeePerGas = uint(take(), 16);
    maxFeePerGas = uint(take(), 16);
  }
  const gasLimit = uint(take(), 8);
  // Blob and set-code transactions cannot create contracts: their `to` is a plain address.
  const to = type === 3 || type === 4 ? hex(fixed(take(), 20)) : txKind(take());
  uint(take(), 32); // value
  const input = expectString(take());
  const list_ = accessList(take());
  let blobVersionedHashes: number | undefined;
  let authorizationCount: number | undefined;
  if (type === 3) {
    uint(take(), 16); // max fee per blob gas
    const hashes = expectList(take());
    blobVersionedHashes = 0;
    while (!hashes.done) {
      fixed(hashes.next(), 32);
      blobVersionedHashes++;
    }
  } else if (type === 4) {
    authorizationCount = authorizationList(take());
  }
  const parity = bool(fields.next());
  const r = uint(fields.next(), 32);
  const s = uint(fields.next(), 32);
  fields.finish();
  const typeByte = Buffer.from([type]);
  return {
    type,
    chainId,
    nonce,
    gasLimit,
    maxFeePerGas,
    maxPriorityFeePerGas,
    to,
    input,
    accessList: list_,
    authorizationCount,
    blobVersionedHashes,
    hash: hex(keccak256(Buffer.concat([typeByte, list.raw]))),
    signingHash: keccak256(Buffer.concat([typeByte, encodeList(raw)])),
    r,
    s,
    parity,
  };
}

/** The network form of a blob transaction: rlp([tx, blobs, commitments, proofs]). */
function decodeBlobNetworkForm(payload: Buffer): Transaction {
  const { item } = readItem(payload, 0);
  const outer = expectList(item);
  const tx = decodeTypedFields(3, outer.next());
  for (const size of [131072, 48, 48]) {
    const elements = expectList(outer.next());
    while (!elements.done) {
      fixed(elements.next(), size);
    }
  }
  outer.finish();
  return tx;
}

/**
 * alloy's PooledTransaction::decode_2718: a first byte below 0x7f is the type (1-4; 0 and 5+ are
 * "Unexpected type flag"), anything else a legacy RLP list. Bytes after the transaction are not
 * looked at, as upstream's decode_transaction does not ask for an exact decode.
 */
export function decodePooledTransaction(raw: Buffer): Transaction {
  if (raw.length === 0) {
    throw rlpError("input too short");
  }
  const first = raw[0];
  if (first >= 0x7f) {
    return decodeLegacy(raw);
  }
  if (first === 0 || first > 4) {
    throw new DecodeError(`Unexpected type flag. Got ${first}.`);
  }
  const body = raw.subarray(1);
  return first === 3 ? decodeBlobNetworkForm(body) : decodeTypedFields(first, readItem(body, 0).item);
}

/** The transaction's signer, or undefined when the signature does not recover (alloy's RecoveryError). */
export function recoverSigner(tx: Transaction): string | undefined {
  return recoverAddress(tx.signingHash, tx.r, tx.s, tx.parity);
}

/** rbuilder's looks_like_canonical_blob_tx and FlowProxy's copy in src/utils.rs: type 3, a list, chain id 1. */
export function looksLikeCanonicalBlobTx(raw: Buffer): boolean {
  if (raw[0] !== 3) {
    return false;
  }
  try {
    const { item } = readItem(raw, 1);
    return item.list && item.payload[0] === 0x01;
  } catch {
    return false;
  }
}

const MAINNET_CHAIN_ID = 1n;
const MAX_INIT_CODE_BYTE_SIZE = 2 * 0x6000;
/** EIP-7825 (Osaka) per-transaction gas cap. */
const MAX_TX_GAS_LIMIT_OSAKA = 1n << 24n;
/** Osaka's activation on mainnet (alloy-hardforks' MAINNET_OSAKA_TIMESTAMP). */
const MAINNET_OSAKA_TIMESTAMP = 1764798551;

/** Intrinsic and EIP-7623 floor gas as revm's calculate_initial_tx_gas computes them from Prague on. */
function initialGas(tx: Transaction): { initial: bigint; floor: bigint } {
  const zeros = BigInt(tx.input.filter((b) => b === 0).length);
  const tokens = zeros + (BigInt(tx.input.length) - zeros) * 4n;
  let initial = 21000n + tokens * 4n;
  if (tx.to === undefined) {
    initial += 32000n + 2n * BigInt(Math.ceil(tx.input.length / 32));
  }
  for (const entry of tx.accessList ?? []) {
    initial += 2400n + 1900n * BigInt(entry.storageKeys);
  }
  initial += 25000n * BigInt(tx.authorizationCount ?? 0);
  return { initial, floor: 21000n + tokens * 10n };
}

/**
 * src/validation.rs: at 258bbd6 with Prague's gas rules; at 029b7c4 with the rules of the fork at
 * `timestamp` (Osaka adds the EIP-7825 cap). Returns the ValidationError's Display, or undefined.
 */
export function validateTransaction(tx: Transaction, osakaAware: boolean, timestamp: number): string | undefined {
  if (tx.to === undefined && tx.input.length > MAX_INIT_CODE_BYTE_SIZE) {
    return `transaction's input size ${tx.input.length} exceeds max_init_code_size ${MAX_INIT_CODE_BYTE_SIZE}`;
  }
  if (tx.maxPriorityFeePerGas !== undefined && tx.maxPriorityFeePerGas > tx.maxFeePerGas) {
    return "max priority fee per gas higher than max fee per gas";
  }
  if (tx.chainId !== undefined && tx.chainId !== MAINNET_CHAIN_ID) {
    return "transaction's chain ID does not match";
  }
  if (osakaAware && timestamp >= MAINNET_OSAKA_TIMESTAMP && tx.gasLimit > MAX_TX_GAS_LIMIT_OSAKA) {
    return `transaction gas limit ${tx.gasLimit} exceeds the cap ${MAX_TX_GAS_LIMIT_OSAKA}`;
  }
  const gas = initialGas(tx);
  if (tx.gasLimit < gas.initial || tx.gasLimit < gas.floor) {
    return "intrinsic gas too low";
  }
  if (tx.type === 3 && (tx.blobVersionedHashes ?? 0) === 0) {
    return "blobless blob transaction";
  }
  if (tx.type === 4 && (tx.authorizationCount ?? 0) === 0) {
    return "no items in authorization list for EIP7702 transaction";
  }
  return undefined;
}
