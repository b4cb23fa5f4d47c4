// The bitcode 0.6 encoding (the `bitcode` crate FlowProxy 029b7c4 locks at 0.6.8) of the few types
// generation 2 puts on the system socket: WithHeaders, RawBundleBitcode and TcpResponse
// (src/primitives/mod.rs@029b7c4). bitcode is columnar: a value's encoder keeps one column per
// field and writes the columns in field order; integer and byte columns are packed. The
// packing rules follow bitcode's pack.rs, pack_ints.rs and length.rs, so what the double writes
// is byte-for-byte what the Rust encoder writes (HashMap order aside, which Rust randomises too).
// Compared with the bitcode crate 0.6.8 built from source with FlowProxy 029b7c4's type
// definitions: values encoded on either side decoded and re-encoded on the other, and malformed
// inputs accepted or refused alike.
import { RawBundle } from "./orders";

/**
 * A decoding error. FlowProxy's release builds compile bitcode without debug assertions, where its
 * Error is a unit struct: Display "bitcode error", Debug `Error("bitcode error")` (bitcode 0.6.8
 * src/error.rs); both reach the wire and the log (ingress/mod.rs@029b7c4 system_handler), so the
 * reason only debug builds print is kept aside in `reason`.
 */
export class BitcodeError extends Error {
  constructor(readonly reason: string) {
    super("bitcode error");
  }

  /** `{:?}` of the error, as upstream's `?e` logs it. */
  get debug(): string {
    return 'Error("bitcode error")';
  }
}

// --- packing of byte columns (pack.rs) ----------------------------------------------------------

/** pack.rs's Packing, by ordinal: values per byte are FACTOR^(8/bits) in arithmetic packing. */
const BYTE_FACTORS = [256, 16, 6, 4, 3, 2];
const DIVISORS: Record<number, number> = { 2: 8, 3: 5, 4: 4, 6: 3, 16: 2 };

function bytePacking(max: number): number {
  if (max <= 1) return 5;
  if (max === 2) return 4;
  if (max === 3) return 3;
  if (max <= 5) return 2;
  if (max <= 15) return 1;
  return 0;
}

function packArithmetic(values: number[], factor: number, out: number[]): void {
  const divisor = DIVISORS[factor];
  for (let i = 0; i < values.length; i += divisor) {
    let acc = 0;
    const chunk = values.slice(i, i + divisor);
    for (let j = chunk.length - 1; j >= 0; j--) {
      acc = acc * factor + chunk[j];
    }
    out.push(acc);
  }
}

function minMax(values: readonly bigint[]): [bigint, bigint] {
  let min = values[0];
  let max = values[0];
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** pack_bytes: up to 2 bytes raw; else a packing byte, maybe the minimum, then the packed bytes. */
function packBytes(bytes: readonly number[], out: number[]): void {
  if (bytes.length <= 2) {
    out.push(...bytes);
    return;
  }
  const sample = bytes.slice(0, 32).map(BigInt);
  const [sampleMin, sampleMax] = minMax(sample);
  if (bytePacking(Number(sampleMax - sampleMin)) === 0) {
    out.push(0);
    out.push(...bytes);
    return;
  }
  const [min, max] = minMax(bytes.map(BigInt)).map(Number);
  const basic = bytePacking(max);
  const offset = bytePacking(max - min);
  let packing = basic;
  let values = [...bytes];
  if (offset > basic && bytes.length > 5) {
    packing = offset;
    values = values.map((v) => v - min);
    out.push(offset * 2 - 1, min);
  } else {
    out.push(basic * 2);
  }
  if (packing === 0) {
    out.push(...values);
  } else {
    packArithmetic(values, BYTE_FACTORS[packing], out);
  }
}

/** pack_bytes_less_than::<N>: enum variants, packed by N with no packing byte. */
function packLessThan(values: readonly number[], n: number, out: number[]): void {
  const packing = bytePacking(n - 1);
  if (packing === 0) {
    out.push(...values);
  } else {
    packArithmetic([...values], BYTE_FACTORS[packing], out);
  }
}

// --- packing of u64/usize columns (pack_ints.rs) -----------------------------------------------

/** pack_ints.rs's Packing for a u64: ordinal 1 = 8 bytes, 2 = 4, 3 = 2, 4 = 1. */
function intPacking(max: bigint): number {
  if (max <= 0xffn) return 4;
  if (max <= 0xffffn) return 3;
  if (max <= 0xffffffffn) return 2;
  return 1;
}
const INT_WIDTH: Record<number, number> = { 1: 8, 2: 4, 3: 2 };

function packU64s(ints: readonly bigint[], out: number[]): void {
  if (ints.length === 0) {
    return;
  }
  const [sampleMin, sampleMax] = minMax(ints.slice(0, 16));
  let packing: number;
  let values = [...ints];
  if (intPacking(sampleMax - sampleMin) === 1) {
    packing = 1;
    out.push(0);
  } else {
    const [min, max] = minMax(ints);
    const basic = intPacking(max);
    const offset = intPacking(max - min);
    if (offset > basic && ints.length > 5) {
      packing = offset;
      values = values.map((v) => v - min);
      out.push((offset - 1) * 2 - 1);
      const le = Buffer.alloc(8);
      le.writeBigUInt64LE(min);
      out.push(...le);
    } else {
      packing = basic;
      out.push((basic - 1) * 2);
    }
  }
  if (packing === 4) {
    packBytes(values.map(Number), out);
    return;
  }
  const width = INT_WIDTH[packing];
  for (const v of values) {
    const le = Buffer.alloc(8);
    le.writeBigUInt64LE(v);
    out.push(...le.subarray(0, width));
  }
}

// --- the column types ---------------------------------------------------------------------------

/** LengthEncoder: a byte column (255 = "see the large column") and a usize column for the rest. */
function packLengths(lengths: readonly number[], out: number[]): void {
  packBytes(
    lengths.map((n) => Math.min(n, 255)),
    out,
  );
  packU64s(lengths.filter((n) => n >= 255).map(BigInt), out);
}

function packStrings(strings: readonly string[], out: number[]): void {
  const encoded = strings.map((s) => Buffer.from(s, "utf8"));
  packLengths(
    encoded.map((b) => b.length),
    out,
  );
  for (const b of encoded) {
    out.push(...b);
  }
}

/** Vec<u8> and [u8; N]: the u8 column goes through pack_bytes. */
function packByteVecs(vecs: readonly Buffer[], out: number[]): void {
  packLengths(
    vecs.map((b) => b.length),
    out,
  );
  packBytes(
    vecs.flatMap((b) => [...b]),
    out,
  );
}

function packOption<T>(values: readonly (T | undefined)[], out: number[], inner: (present: T[]) => void): void {
  packLessThan(
    values.map((v) => (v === undefined ? 0 : 1)),
    2,
    out,
  );
  inner(values.filter((v): v is T => v !== undefined));
}

// --- reading ------------------------------------------------------------------------------------

class Reader {
  private offset = 0;
  constructor(private readonly input: Buffer) {}

  bytes(length: number): Buffer {
    if (this.offset + length > this.input.length) {
      throw new BitcodeError("EOF");
    }
    const out = this.input.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  byte(): number {
    return this.bytes(1)[0];
  }

  expectEof(): void {
    if (this.offset !== this.input.length) {
      throw new BitcodeError("Expected EOF");
    }
  }
}

function unpackArithmetic(reader: Reader, length: number, factor: number): number[] {
  const divisor = DIVISORS[factor];
  const packed = reader.bytes(Math.ceil(length / divisor));
  const out: number[] = [];
  for (const byte of packed) {
    let acc = byte;
    for (let j = 0; j < divisor && out.length < length; j++) {
      out.push(acc % factor);
      acc = Math.floor(acc / factor);
    }
  }
  return out;
}

function unpackBytes(reader: Reader, length: number): number[] {
  if (length <= 2) {
    return [...reader.bytes(length)];
  }
  const tag = reader.byte();
  const packing = Math.ceil(tag / 2);
  if (packing > 5) {
    throw new BitcodeError("invalid packing");
  }
  const min = tag & 1 ? reader.byte() : 0;
  if (packing === 0) {
    return [...reader.bytes(length)];
  }
  return unpackArithmetic(reader, length, BYTE_FACTORS[packing]).map((v) => (v + min) & 0xff);
}

function unpackLessThan(reader: Reader, length: number, n: number): number[] {
  const packing = bytePacking(n - 1);
  const values = packing === 0 ? [...reader.bytes(length)] : unpackArithmetic(reader, length, BYTE_FACTORS[packing]);
  if (values.some((v) => v >= n)) {
    throw new BitcodeError("invalid packing");
  }
  return values;
}

function unpackU64s(reader: Reader, length: number): bigint[] {
  if (length === 0) {
    return [];
  }
  const tag = reader.byte();
  const packing = Math.ceil(tag / 2) + 1;
  if (packing > 4) {
    throw new BitcodeError("invalid packing");
  }
  const min = tag & 1 ? reader.bytes(8).readBigUInt64LE() : 0n;
  let values: bigint[];
  if (packing === 4) {
    values = unpackBytes(reader, length).map(BigInt);
  } else {
    const width = INT_WIDTH[packing];
    const raw = reader.bytes(length * width);
    values = Array.from({ length }, (_, i) => {
      const le = Buffer.alloc(8);
      raw.copy(le, 0, i * width, (i + 1) * width);
      return le.readBigUInt64LE();
    });
  }
  return values.map((v) => (v + min) & ((1n << 64n) - 1n));
}

function unpackLengths(reader: Reader, count: number): number[] {
  const small = unpackBytes(reader, count);
  if (small.reduce((a, b) => a + b, 0) < 255) {
    return small;
  }
  const large = unpackU64s(reader, small.filter((v) => v === 255).length);
  let next = 0;
  return small.map((v) => {
    if (v !== 255) {
      return v;
    }
    const value = large[next++];
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new BitcodeError("huge length");
    }
    return Number(value);
  });
}

function unpackStrings(reader: Reader, count: number): string[] {
  const lengths = unpackLengths(reader, count);
  const all = reader.bytes(lengths.reduce((a, b) => a + b, 0));
  let at = 0;
  return lengths.map((n) => {
    const slice = all.subarray(at, (at += n));
    const text = slice.toString("utf8");
    if (!Buffer.from(text, "utf8").equals(slice)) {
      throw new BitcodeError("invalid utf8");
    }
    return text;
  });
}

function unpackByteVecs(reader: Reader, count: number): Buffer[] {
  const lengths = unpackLengths(reader, count);
  const all = Buffer.from(
    unpackBytes(
      reader,
      lengths.reduce((a, b) => a + b, 0),
    ),
  );
  let at = 0;
  return lengths.map((n) => all.subarray(at, (at += n)));
}

function unpackArrays(reader: Reader, count: number, size: number): Buffer[] {
  const all = Buffer.from(unpackBytes(reader, count * size));
  return Array.from({ length: count }, (_, i) => all.subarray(i * size, (i + 1) * size));
}

function unpackOption<T>(reader: Reader, count: number, inner: (present: number) => T[]): (T | undefined)[] {
  const flags = unpackLessThan(reader, count, 2);
  const values = inner(flags.filter((f) => f === 1).length);
  let next = 0;
  return flags.map((f) => (f === 1 ? values[next++] : undefined));
}

// --- the types on the wire ----------------------------------------------------------------------

/** WithHeaders { headers: HashMap<String, String>, data: Vec<u8> }. */
export function encodeWithHeaders(headers: ReadonlyMap<string, string>, data: Buffer): Buffer {
  const out: number[] = [];
  packLengths([headers.size], out);
  packStrings([...headers.keys()], out);
  packStrings([...headers.values()], out);
  packByteVecs([data], out);
  return Buffer.from(out);
}

export function decodeWithHeaders(input: Buffer): { headers: Map<string, string>; data: Buffer } {
  const reader = new Reader(input);
  const [entries] = unpackLengths(reader, 1);
  const keys = unpackStrings(reader, entries);
  const values = unpackStrings(reader, entries);
  const [data] = unpackByteVecs(reader, 1);
  reader.expectEof();
  return { headers: new Map(keys.map((k, i) => [k, values[i]])), data };
}

/** RawBundleBitcode { metadata: RawBundleMetadataBitcode, txs: Vec<Vec<u8>> }, fields in declaration order. */
export function encodeRawBundle(b: RawBundle): Buffer {
  const out: number[] = [];
  const optU64 = (v: bigint | undefined) => packOption([v], out, (p) => packU64s(p, out));
  const optArray = (v: Buffer | undefined) =>
    packOption([v], out, (p) =>
      packBytes(
        p.flatMap((x) => [...x]),
        out,
      ),
    );
  const hashes = (v: Buffer[]) => {
    packLengths([v.length], out);
    packBytes(
      v.flatMap((x) => [...x]),
      out,
    );
  };
  packOption([b.version], out, (p) => packStrings(p, out));
  optU64(b.blockNumber);
  hashes(b.revertingTxHashes);
  hashes(b.droppingTxHashes);
  optArray(b.replacementUuid);
  optArray(b.uuid);
  optArray(b.signingAddress);
  optArray(b.refundIdentity);
  optU64(b.minTimestamp);
  optU64(b.maxTimestamp);
  optU64(b.replacementNonce);
  packOption([b.refundPercent], out, (p) => packBytes(p, out));
  optArray(b.refundRecipient);
  packOption([b.refundTxHashes], out, (p) => p.forEach(hashes));
  packOption([b.delayedRefund], out, (p) => packArithmetic(p.map(Number), 2, out));
  optArray(b.bundleHash);
  packLengths([b.txs.length], out);
  packByteVecs(b.txs, out);
  return Buffer.from(out);
}

export function decodeRawBundle(input: Buffer): RawBundle {
  const reader = new Reader(input);
  const optU64 = () => unpackOption(reader, 1, (n) => unpackU64s(reader, n))[0];
  const optArray = (size: number) => unpackOption(reader, 1, (n) => unpackArrays(reader, n, size))[0];
  const hashList = () => {
    const [count] = unpackLengths(reader, 1);
    return unpackArrays(reader, count, 32);
  };
  const version = unpackOption(reader, 1, (n) => unpackStrings(reader, n))[0];
  const blockNumber = optU64();
  const revertingTxHashes = hashList();
  const droppingTxHashes = hashList();
  const replacementUuid = optArray(16);
  const uuid = optArray(16);
  const signingAddress = optArray(20);
  const refundIdentity = optArray(20);
  const minTimestamp = optU64();
  const maxTimestamp = optU64();
  const replacementNonce = optU64();
  const refundPercent = unpackOption(reader, 1, (n) => unpackBytes(reader, n))[0];
  const refundRecipient = optArray(20);
  const refundTxHashes = unpackOption(reader, 1, (n) => (n === 1 ? [hashList()] : []))[0];
  const delayedRefund = unpackOption(reader, 1, (n) => unpackArithmetic(reader, n, 2).map((v) => v === 1))[0];
  const bundleHash = optArray(32);
  const [count] = unpackLengths(reader, 1);
  const txs = unpackByteVecs(reader, count);
  reader.expectEof();
  return {
    version,
    blockNumber,
    revertingTxHashes,
    droppingTxHashes,
    replacementUuid,
    uuid,
    signingAddress,
    refundIdentity,
    minTimestamp,
    maxTimestamp,
    replacementNonce,
    refundPercent,
    refundRecipient,
    refundTxHashes,
    delayedRefund,
    bundleHash,
    txs,
  };
}

/** TcpResponseStatus, in declaration order (bitcode writes the variant index). */
const TCP_STATUS = [
  "Success",
  "ErrorInternal",
  "ErrorDecoding",
  "ErrorMissingArguments",
  "ErrorInvalidSignature",
  "ErrorUnknownArgument",
] as const;
export type TcpStatus = (typeof TCP_STATUS)[number];

/** TcpReponseType (sic): NoData, String(String), Hash([u8; 32]). */
export type TcpData = { kind: "NoData" } | { kind: "String"; value: string } | { kind: "Hash"; value: Buffer };

export function encodeTcpResponse(status: TcpStatus, data: TcpData): Buffer {
  const out: number[] = [];
  packLessThan([TCP_STATUS.indexOf(status)], TCP_STATUS.length, out);
  packLessThan([["NoData", "String", "Hash"].indexOf(data.kind)], 3, out);
  packStrings(data.kind === "String" ? [data.value] : [], out);
  packBytes(data.kind === "Hash" ? [...data.value] : [], out);
  return Buffer.from(out);
}

export function decodeTcpResponse(input: Buffer): { status: TcpStatus; data: TcpData } {
  const reader = new Reader(input);
  const [status] = unpackLessThan(reader, 1, TCP_STATUS.length);
  const [kind] = unpackLessThan(reader, 1, 3);
  const strings = unpackStrings(reader, kind === 1 ? 1 : 0);
  const hashes = unpackArrays(reader, kind === 2 ? 1 : 0, 32);
  reader.expectEof();
  const data: TcpData =
    kind === 0
      ? { kind: "NoData" }
      : kind === 1
        ? { kind: "String", value: strings[0] }
        : { kind: "Hash", value: hashes[0] };
  return { status: TCP_STATUS[status], data };
}

/** TcpReponseType's Display, which upstream logs and uses as a metric label. */
export function tcpDataDisplay(data: TcpData): string {
  return data.kind === "NoData" ? "no data" : data.kind === "String" ? data.value : `0x${data.value.toString("hex")}`;
}
