// Keccak-256 and Ethereum addresses for the sandbox test doubles (cast, FlowProxy). Test code: it
// never ships to Azure. Node's crypto has SHA3-256, which pads differently from the Keccak-256
// Ethereum uses, and the doubles may not depend on packages, hence this small implementation.
import { createECDH } from "node:crypto";

const ROUNDS = 24;
const RATE_BYTES = 136; // 1088 bits: Keccak-256's rate
const MASK = (1n << 64n) - 1n;

const ROUND_CONSTANTS: bigint[] = (() => {
  // The round constants come from a degree-8 LFSR (Keccak reference, section 1.2).
  const constants: bigint[] = [];
  let lfsr = 1;
  for (let round = 0; round < ROUNDS; round++) {
    let constant = 0n;
    for (let j = 0; j < 7; j++) {
      if (lfsr & 1) {
        constant |= 1n << BigInt((1 << j) - 1);
      }
      lfsr = lfsr & 0x80 ? ((lfsr << 1) ^ 0x71) & 0xff : (lfsr << 1) & 0xff;
    }
    constants.push(constant);
  }
  return constants;
})();

// Rotation offsets r[x + 5y] of the rho step.
const ROTATIONS = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14];

const rotl = (value: bigint, shift: number): bigint =>
  shift === 0 ? value : ((value << BigInt(shift)) | (value >> BigInt(64 - shift))) & MASK;

function keccakF(state: bigint[]): void {
  const c = new Array<bigint>(5);
  const b = new Array<bigint>(25);
  for (let round = 0; round < ROUNDS; round++) {
    for (let x = 0; x < 5; x++) {
      c[x] = state[x] ^ state[x + 5] ^ state[x + 10] ^ state[x + 15] ^ state[x + 20];
    }
    for (let x = 0; x < 5; x++) {
      const d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
      for (let y = 0; y < 25; y += 5) {
        state[x + y] ^= d;
      }
    }
    for (let x = 0; x < 5; x++) {
      for (let y = 0; y < 5; y++) {
        b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(state[x + 5 * y], ROTATIONS[x + 5 * y]);
      }
    }
    for (let i = 0; i < 25; i += 5) {
      for (let x = 0; x < 5; x++) {
        state[i + x] = b[i + x] ^ (~b[i + ((x + 1) % 5)] & MASK & b[i + ((x + 2) % 5)]);
      }
    }
    state[0] ^= ROUND_CONSTANTS[round];
  }
}

export function keccak256(data: Uint8Array): Buffer {
  // Original Keccak padding (0x01 ... 0x80), not SHA-3's 0x06.
  const padded = Buffer.alloc((Math.floor(data.length / RATE_BYTES) + 1) * RATE_BYTES);
  padded.set(data);
  padded[data.length] ^= 0x01;
  padded[padded.length - 1] ^= 0x80;
  const state = new Array<bigint>(25).fill(0n);
  for (let offset = 0; offset < padded.length; offset += RATE_BYTES) {
    for (let lane = 0; lane < RATE_BYTES / 8; lane++) {
      state[lane] ^= padded.readBigUInt64LE(offset + lane * 8);
    }
    keccakF(state);
  }
  const out = Buffer.alloc(32);
  for (let lane = 0; lane < 4; lane++) {
    out.writeBigUInt64LE(state[lane], lane * 8);
  }
  return out;
}

/** EIP-55 mixed-case checksum of a 40-hex-digit address (with or without 0x). */
export function toChecksumAddress(address: string): string {
  const lower = address.replace(/^0x/i, "").toLowerCase();
  const hash = keccak256(Buffer.from(lower, "ascii")).toString("hex");
  let out = "0x";
  for (let i = 0; i < lower.length; i++) {
    out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  }
  return out;
}

/** The Ethereum address of a secp256k1 public key in uncompressed form (0x04 || X || Y). */
export function addressOfPublicKey(uncompressed: Buffer): string {
  if (uncompressed.length !== 65 || uncompressed[0] !== 0x04) {
    throw new Error("expected a 65-byte uncompressed secp256k1 public key");
  }
  return toChecksumAddress(keccak256(uncompressed.subarray(1)).subarray(12).toString("hex"));
}

const PRIVATE_KEY = /^(0x)?[0-9a-fA-F]{64}$/;

export function addressOfPrivateKey(privateKeyHex: string): string {
  if (!PRIVATE_KEY.test(privateKeyHex)) {
    throw new Error("a private key is 64 hex digits, optionally prefixed with 0x");
  }
  const ecdh = createECDH("secp256k1");
  ecdh.setPrivateKey(Buffer.from(privateKeyHex.replace(/^0x/i, ""), "hex"));
  return addressOfPublicKey(ecdh.getPublicKey());
}

export interface Keypair {
  address: string;
  privateKey: string;
}

export function newKeypair(): Keypair {
  const ecdh = createECDH("secp256k1");
  ecdh.generateKeys();
  // getPrivateKey drops leading zero bytes; a private key is always written as 32 bytes.
  const privateKey = `0x${ecdh.getPrivateKey("hex").padStart(64, "0")}`;
  return { address: addressOfPublicKey(ecdh.getPublicKey()), privateKey };
}
