// The signature FlowProxy's orders carry: verified on the way in (src/ingress/mod.rs), written on
// the way to peers (src/forwarder/mod.rs).
import { eip191Hash, hex, keccak256, parityOfV, parseHex, recoverAddress, Signer } from "./crypto";

/**
 * src/ingress/mod.rs maybe_verify_signature (legacy form): `<address>:<signature>` over "0x" +
 * hex(keccak256(body)), EIP-191. Compared with that function and build_signature_header at 029b7c4,
 * built from source with the alloy crates it locks: headers written alike, and variants (case,
 * prefixes, v, length, s) accepted or refused alike.
 */
export function verifySignature(header: string | undefined, body: Buffer): string | undefined {
  if (header === undefined || !/^[\t\x20-\x7e]*$/.test(header)) {
    return undefined;
  }
  const colon = header.indexOf(":");
  if (colon < 0) {
    return undefined;
  }
  const claimed = parseHex(header.slice(0, colon));
  const signature = parseHex(header.slice(colon + 1));
  if (!signature || signature.length !== 65) {
    return undefined;
  }
  const parity = parityOfV(signature[64]);
  if (parity === undefined) {
    return undefined;
  }
  const digest = eip191Hash(Buffer.from(hex(keccak256(body)), "ascii"));
  const signer = recoverAddress(
    digest,
    BigInt(hex(signature.subarray(0, 32))),
    BigInt(hex(signature.subarray(32, 64))),
    parity,
  );
  return signer !== undefined && claimed?.length === 20 && hex(claimed) === signer ? signer : undefined;
}

/** src/forwarder/mod.rs build_signature_header: `{address:?}:{signature}`, both lowercase hex. */
export function signatureHeader(signer: Signer, body: Buffer): string {
  const digest = eip191Hash(Buffer.from(hex(keccak256(body)), "ascii"));
  return `${signer.address}:${hex(signer.signHash(digest))}`;
}
