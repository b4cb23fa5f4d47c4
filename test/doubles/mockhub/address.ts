// Addresses as mockhub's alloy-primitives 1.3.1 reads and writes them: alloy-rs/core v1.3.1
// (aadc490) crates/primitives/src/bits/, with const-hex 1.16.0 decoding the hex.
import { keccak_256 } from "@noble/hashes/sha3";
import { rustDebugChar } from "./rust-text";

/** serde.rs: FixedBytes serializes (human-readable) as "0x" and lowercase hex, no checksum. */
export function serializeAddress(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

/** address.rs: Display (to_string) is the EIP-55 checksum; main.rs uses it as a name of last resort. */
export function displayAddress(bytes: Uint8Array): string {
  const lower = Buffer.from(bytes).toString("hex");
  const hash = Buffer.from(keccak_256(Buffer.from(lower, "ascii"))).toString("hex");
  return `0x${[...lower].map((c, i) => (parseInt(hash[i], 16) >= 8 ? c.toUpperCase() : c)).join("")}`;
}

/**
 * serde.rs visit_str -> FromHex (macros.rs) -> const_hex::decode_to_array, in const-hex 1.16.0 as
 * simulation/mockhub/Cargo.lock@b56e719 pins it (src/lib.rs decode_to_slice_inner, strip_prefix,
 * invalid_hex_error): the length must be even (counted with any prefix), then a lowercase "0x" is
 * stripped, then exactly 40 hex digits of either case must remain; no checksum is checked. The error
 * is the first problem's Display text, which 1.16.0's src/error.rs writes in lowercase (compared with
 * mockhub built from b56e719).
 */
export function addressFromHex(text: string): Uint8Array | string {
  const input = Buffer.from(text, "utf8");
  if (input.length % 2 !== 0) {
    return "odd number of digits";
  }
  const stripped = input.length >= 2 && input[0] === 0x30 && input[1] === 0x78 ? input.subarray(2) : input;
  if (stripped.length !== 40) {
    return "invalid string length";
  }
  for (let index = 0; index < stripped.length; index++) {
    if (!isHexDigit(stripped[index])) {
      return `invalid character ${rustDebugChar(stripped[index])} at position ${index}`;
    }
  }
  return Buffer.from(stripped.toString("latin1"), "hex");
}

export function isHexDigit(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
}
