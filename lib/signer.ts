// Ethereum address of an orderflow signer key: the last 20 bytes of keccak-256 over the
// uncompressed secp256k1 public key without its 0x04 prefix, written with the EIP-55 checksum.
// The public key comes from Node's OpenSSL, which derives it in microseconds where a JavaScript
// curve library first spends tens of milliseconds building tables for one key per VM.
import { createECDH } from "crypto";
import { keccak_256 } from "@noble/hashes/sha3";
import { bytesToHex } from "@noble/hashes/utils";

export function signerAddress(privateKeyHex: string): string {
  const hex = privateKeyHex.replace(/^0x/, "").toLowerCase();
  const ecdh = createECDH("secp256k1");
  try {
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error("not 64 hex digits");
    // OpenSSL refuses zero and scalars at or above the curve's order.
    ecdh.setPrivateKey(hex, "hex");
  } catch {
    throw new Error("a signer key must be 32 bytes in hex and a valid secp256k1 scalar");
  }
  const publicKey = ecdh.getPublicKey(undefined, "uncompressed");
  const address = bytesToHex(keccak_256(publicKey.subarray(1)).subarray(12));
  return toChecksumAddress(address);
}

export function toChecksumAddress(addressHex: string): string {
  const lower = addressHex.replace(/^0x/, "").toLowerCase();
  const hash = bytesToHex(keccak_256(new TextEncoder().encode(lower)));
  return "0x" + [...lower].map((c, i) => (parseInt(hash[i], 16) >= 8 ? c.toUpperCase() : c)).join("");
}
