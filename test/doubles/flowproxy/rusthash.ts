// The hasher behind FlowProxy's bundle hash: `wyhash::WyHash::default()` of the wyhash crate 0.6.0
// (its root re-export is the v1 algorithm) fed through Rust's `Hash` impls on a 64-bit
// little-endian target. src/primitives/mod.rs@258bbd6 (BundleHash) hashes the bundle four times
// into one hasher and takes the four `finish()` values, big-endian, as the 32-byte hash.
const MASK64 = (1n << 64n) - 1n;
const P0 = 0xa0761d6478bd642fn;
const P1 = 0xe7037ed1a0b428dbn;
const P2 = 0x8ebc6af09c88c6e3n;
const P3 = 0x589965cc75374cc3n;
const P4 = 0x1d8e4e27c47d124fn;
const P5 = 0xeb44accab455d165n;

function wymum(a: bigint, b: bigint): bigint {
  const r = a * b;
  return ((r >> 64n) ^ r) & MASK64;
}

const read64 = (b: Buffer, at: number): bigint => b.readBigUInt64LE(at);
const read32 = (b: Buffer, at: number): bigint => BigInt(b.readUInt32LE(at));
const read64Swapped = (b: Buffer, at: number): bigint => (read32(b, at) << 32n) | read32(b, at + 4);

/** wyhash v1's read_rest: the byte order of the tail is the crate's own, kept for equal hashes. */
function readRest(b: Buffer, at: number, length: number): bigint {
  const byte = (i: number) => BigInt(b[at + i]);
  switch (length) {
    case 1:
      return byte(0);
    case 2:
      return (byte(1) << 8n) | byte(0);
    case 3:
      return (byte(1) << 16n) | (byte(0) << 8n) | byte(2);
    case 4:
      return read32(b, at);
    case 5:
      return (read32(b, at) << 8n) | byte(4);
    case 6:
      return (read32(b, at) << 16n) | (byte(5) << 8n) | byte(4);
    case 7:
      return (read32(b, at) << 24n) | (byte(5) << 16n) | (byte(4) << 8n) | byte(6);
    default:
      return read64Swapped(b, at);
  }
}

function wyhashCore(bytes: Buffer, seed: bigint): bigint {
  const whole = bytes.length - (bytes.length % 32);
  for (let i = 0; i < whole; i += 32) {
    seed = wymum(
      seed ^ P0,
      wymum(read64(bytes, i) ^ P1, read64(bytes, i + 8) ^ P2) ^
        wymum(read64(bytes, i + 16) ^ P3, read64(bytes, i + 24) ^ P4),
    );
  }
  seed ^= P0;
  const rest = bytes.length & 31;
  if (rest !== 0) {
    const start = whole;
    const tail = (at: number) => readRest(bytes, start + at, rest - at);
    switch (Math.floor(((bytes.length - 1) & 31) / 8)) {
      case 0:
        seed = wymum(seed, tail(0) ^ P1);
        break;
      case 1:
        seed = wymum(read64Swapped(bytes, start) ^ seed, tail(8) ^ P2);
        break;
      case 2:
        seed =
          wymum(read64Swapped(bytes, start) ^ seed, read64Swapped(bytes, start + 8) ^ P2) ^ wymum(seed, tail(16) ^ P3);
        break;
      default:
        seed =
          wymum(read64Swapped(bytes, start) ^ seed, read64Swapped(bytes, start + 8) ^ P2) ^
          wymum(read64Swapped(bytes, start + 16) ^ seed, tail(24) ^ P4);
    }
  }
  return seed;
}

/** A `Hasher` with the default methods of std's trait (write_u64 = write(to_ne_bytes), ...). */
export class RustHasher {
  private h = 0n;
  private size = 0n;

  write(bytes: Uint8Array): void {
    const buffer = Buffer.from(bytes);
    if (buffer.length === 0) {
      this.h ^= P0;
    } else {
      this.h = wyhashCore(buffer, this.h);
      this.size += BigInt(buffer.length);
    }
  }

  finish(): bigint {
    return wymum(this.h, this.size ^ P5);
  }

  u8(value: number): void {
    this.write(Buffer.from([value]));
  }

  u64(value: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(value & MASK64);
    this.write(b);
  }

  /** usize and isize are 8 bytes wide on the targets FlowProxy ships for. */
  usize(value: number | bigint): void {
    this.u64(BigInt(value));
  }

  bool(value: boolean): void {
    this.u8(value ? 1 : 0);
  }

  /** `str::hash`: the bytes, then a 0xff terminator. */
  str(value: string): void {
    this.write(Buffer.from(value, "utf8"));
    this.u8(0xff);
  }

  /** `[u8]::hash` (and so Bytes, FixedBytes, Address, Uuid): the length, then the bytes in one write. */
  bytes(value: Uint8Array): void {
    this.usize(value.length);
    this.write(value);
  }

  /** Slices and Vecs of anything but u8: the length, then each element. */
  seq<T>(values: readonly T[], each: (value: T) => void): void {
    this.usize(values.length);
    values.forEach(each);
  }

  /** A derived Hash on an enum (Option included) first hashes the discriminant as an isize. */
  discriminant(index: number): void {
    this.usize(index);
  }

  /** ruint's Uint<64, 1> derives Hash over its `[u64; 1]` limbs. */
  u64Limbs(value: bigint): void {
    this.usize(1);
    this.u64(value);
  }
}

/** Four rounds of `hash` into one hasher, each `finish()` big-endian, as BundleHash does. */
export function fourRoundHash(hash: (hasher: RustHasher) => void): Buffer {
  const hasher = new RustHasher();
  const out = Buffer.alloc(32);
  for (let i = 0; i < 4; i++) {
    hash(hasher);
    out.writeBigUInt64BE(hasher.finish(), i * 8);
  }
  return out;
}
