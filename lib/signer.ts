// Ethereum address of an orderflow signer key: the last 20 bytes of keccak-256 over the
// uncompressed secp256k1 public key without its 0x04 prefix, written with the EIP-55 checksum.
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak_256 } from "@noble/hashes/sha3";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils";

export function signerAddress(privateKeyHex: string): string {
  const hex = privateKeyHex.replace(/^0x/, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex) || !secp256k1.utils.isValidPrivateKey(hexToBytes(hex))) {
    throw new Error("a signer key must be 32 bytes in hex and a valid secp256k1 scalar");
  }
  const publicKey = secp256k1.getPublicKey(hexToBytes(hex), false);
  const address = bytesToHex(keccak_256(publicKey.subarray(1)).subarray(12));
  return toChecksumAddress(address);
}

export function toChecksumAddress(addressHex: string): string {
  const lower = addressHex.replace(/^0x/, "").toLowerCase();
  const hash = bytesToHex(keccak_256(new TextEncoder().encode(lower)));
  return "0x" + [...lower].map((c, i) => (parseInt(hash[i], 16) >= 8 ? c.toUpperCase() : c)).join("");
}
