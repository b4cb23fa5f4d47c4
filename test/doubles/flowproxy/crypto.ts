// secp256k1 and keccak-256 as the FlowProxy double needs them: the orderflow signer, the
// signature header of user and system flow, and transaction signers. The curve arithmetic is
// @noble/curves' (inlined into the bundle by sandbox/internet/bundle.ts); nothing here is hand-rolled.
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak_256 } from "@noble/hashes/sha3";

export function keccak256(data: Uint8Array): Buffer {
  return Buffer.from(keccak_256(data));
}

/** EIP-55 mixed case, as alloy's Display of an Address writes it. */
export function toChecksumAddress(address: string): string {
  const lower = address.replace(/^0x/i, "").toLowerCase();
  const hash = keccak256(Buffer.from(lower, "ascii")).toString("hex");
  return `0x${[...lower].map((c, i) => (parseInt(hash[i], 16) >= 8 ? c.toUpperCase() : c)).join("")}`;
}

const SECP256K1_N = secp256k1.CURVE.n;
const HALF_N = SECP256K1_N >> 1n;

export function hex(data: Uint8Array): string {
  return `0x${Buffer.from(data).toString("hex")}`;
}

/**
 * Hex as alloy reads it through const-hex (1.16/1.17 lib.rs strip_prefix): an optional "0x" (not
 * "0X"), an even number of digits. Returns undefined otherwise.
 */
export function parseHex(value: string): Buffer | undefined {
  const digits = value.startsWith("0x") ? value.slice(2) : value;
  if (digits.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(digits)) {
    return undefined;
  }
  return Buffer.from(digits, "hex");
}

export function bigIntFromBytes(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(hex(bytes));
}

function bytesFromBigInt(value: bigint, length: number): Buffer {
  return Buffer.from(value.toString(16).padStart(length * 2, "0"), "hex");
}

/** Lowercase 0x address of an uncompressed public key (65 bytes, 0x04 prefix). */
function addressOfPublicKey(publicKey: Uint8Array): string {
  return hex(keccak256(publicKey.subarray(1)).subarray(12));
}

export class Signer {
  readonly address: string;

  private constructor(private readonly secret: Uint8Array) {
    this.address = addressOfPublicKey(secp256k1.getPublicKey(secret, false));
  }

  static random(): Signer {
    return new Signer(secp256k1.utils.randomPrivateKey());
  }

  /** Parses a private key as alloy's PrivateKeySigner::from_str does: hex, 0x optional, 32 bytes, a valid scalar. */
  static fromHex(value: string): Signer {
    const bytes = parseHex(value);
    if (bytes === undefined) {
      throw new Error("invalid hex string");
    }
    if (bytes.length !== 32 || !secp256k1.utils.isValidPrivateKey(bytes)) {
      throw new Error("signature error");
    }
    return new Signer(bytes);
  }

  /** 65 bytes r || s || v with v = 27 + parity, as alloy's Signature Display writes it. */
  signHash(hash: Uint8Array): Buffer {
    const signature = secp256k1.sign(hash, this.secret, { lowS: true });
    return Buffer.concat([
      bytesFromBigInt(signature.r, 32),
      bytesFromBigInt(signature.s, 32),
      Buffer.from([27 + signature.recovery]),
    ]);
  }
}

/** EIP-191 personal_sign digest of a message. */
export function eip191Hash(message: Uint8Array): Buffer {
  return keccak256(Buffer.concat([Buffer.from(`\x19Ethereum Signed Message:\n${message.length}`, "ascii"), message]));
}

/**
 * Recovers the signer of a digest, refusing what alloy_consensus::crypto::secp256k1::recover_signer
 * refuses: r or s out of range and, per EIP-2, an s above n/2.
 */
export function recoverAddress(digest: Uint8Array, r: bigint, s: bigint, parity: 0 | 1): string | undefined {
  if (r <= 0n || r >= SECP256K1_N || s <= 0n || s > HALF_N) {
    return undefined;
  }
  try {
    const point = new secp256k1.Signature(r, s).addRecoveryBit(parity).recoverPublicKey(digest);
    return addressOfPublicKey(point.toRawBytes(false));
  } catch {
    return undefined;
  }
}

/**
 * The v byte of a 65-byte signature as alloy's normalize_v reads it: 0/1, 27/28, or any
 * EIP-155 value from 35 on; undefined for the rest.
 */
export function parityOfV(v: number): 0 | 1 | undefined {
  if (v === 0 || v === 1) {
    return v;
  }
  if (v === 27 || v === 28) {
    return (v - 27) as 0 | 1;
  }
  if (v >= 35) {
    return ((v - 35) % 2) as 0 | 1;
  }
  return undefined;
}
