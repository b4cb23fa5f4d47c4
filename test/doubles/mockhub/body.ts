// The request body of mockhub's register_credentials: axum's Json<BuilderHubOrderflowProxyCredentials>.
//
// axum 0.8.4 axum/src/json.rs: Json::from_request checks the content type first (415, mime.ts), buffers the
// body within axum-core 0.5.2's default limit of 2 MiB (ext_traits/request.rs, 413), then runs
// serde_path_to_error::deserialize over serde_json::Deserializer::from_slice and does not call
// Deserializer::end(), so bytes after the first complete value are ignored. Errors of serde_json's
// categories Syntax and Eof answer 400, Data 422 (axum/src/extract/rejection.rs); the body is the
// rejection's text, ": ", then serde_path_to_error's Display (lib.rs: "<path>: " unless the path is
// only unknown segments) and serde_json's (error.rs: "<message> at line L column C").
//
// What follows is serde's derive for this struct over serde_json 1.0.145's SliceRead parser
// (json-reader.ts) and serde_path_to_error 0.1.20's path tracking (json-access.ts).
import type { BuilderCredentials } from "../../../lib/contract";
import { addressFromHex, serializeAddress } from "./address";
import { displayPath, MapAccess, Segment, SeqAccess, Track } from "./json-access";
import {
  custom,
  invalidLength,
  invalidType,
  invalidValue,
  isDigit,
  JsonError,
  JsonReader,
  ParserNumber,
  QUOTE,
  unexpectedNumber,
} from "./json-reader";

/** Status and text/plain body of an axum rejection. */
interface Rejection {
  status: number;
  body: string;
}

type DecodedRegistration =
  { ok: true; credentials: BuilderCredentials; address: Uint8Array } | ({ ok: false } & Rejection);

export const BODY_LIMIT = 2_097_152;
export const MISSING_JSON_CONTENT_TYPE = "Expected request with `Content-Type: application/json`";
export const LENGTH_LIMIT = "Failed to buffer the request body: length limit exceeded";
const STRUCT_EXPECTED = "struct BuilderHubOrderflowProxyCredentials";
const ADDRESS_EXPECTED = "20 bytes, represented as a hex string of length 40, an array of u8, or raw bytes";

/** Option<String>: serde_json deserialize_option, then deserialize_str with serde's StringVisitor. */
function deserializeOptionalString(r: JsonReader): string | null {
  if (r.whitespace() === 0x6e) {
    r.eat();
    r.parseIdent("ull");
    return null;
  }
  const c = r.whitespace();
  if (c === undefined) {
    throw r.peekError("EofWhileParsingValue");
  }
  if (c !== QUOTE) {
    throw r.peekInvalidType("a string");
  }
  r.eat();
  return r.parseStr();
}

/** u8 in a byte array: serde_json deserialize_number with serde's u8 visitor (visit_u64/i64, no floats). */
function deserializeU8(r: JsonReader): number {
  const c = r.whitespace();
  if (c === undefined) {
    throw r.peekError("EofWhileParsingValue");
  }
  let n: ParserNumber;
  if (c === 0x2d) {
    r.eat();
    n = r.parseInteger(false);
  } else if (isDigit(c)) {
    n = r.parseInteger(true);
  } else {
    throw r.peekInvalidType("u8");
  }
  if (n.kind === "u64" && n.value <= 255n) {
    return Number(n.value);
  }
  throw r.fixPosition(
    n.kind === "f64" ? invalidType(unexpectedNumber(n), "u8") : invalidValue(unexpectedNumber(n), "u8"),
  );
}

/**
 * Address: alloy's FixedBytes<20> Deserialize (bits/serde.rs) calls deserialize_any with a visitor
 * that takes a hex string or an array of 20 u8 (a 21st element that is a u8 is an error; one that
 * is not is skipped unnoticed).
 */
function deserializeAddress(r: JsonReader, track: Track, path: Segment[]): Uint8Array {
  const c = r.whitespace();
  if (c === undefined) {
    throw r.peekError("EofWhileParsingValue");
  }
  let err: JsonError | undefined;
  let address: Uint8Array | undefined;
  if (c === 0x6e || c === 0x74 || c === 0x66) {
    r.eat();
    r.parseIdent(c === 0x6e ? "ull" : c === 0x74 ? "rue" : "alse");
    err = invalidType(c === 0x6e ? "null" : `boolean \`${c === 0x74}\``, ADDRESS_EXPECTED);
  } else if (c === 0x2d || isDigit(c)) {
    if (c === 0x2d) {
      r.eat();
    }
    err = invalidType(unexpectedNumber(r.parseInteger(c !== 0x2d)), ADDRESS_EXPECTED);
  } else if (c === QUOTE) {
    r.eat();
    const decoded = addressFromHex(r.parseStr());
    if (typeof decoded === "string") {
      err = custom(decoded);
    } else {
      address = decoded;
    }
  } else if (c === 0x5b) {
    r.eat();
    try {
      address = addressFromBytes(r, track, path);
    } catch (e) {
      if (!(e instanceof JsonError)) {
        throw e;
      }
      err = e;
    }
    // serde_json reads the end of the sequence even after the visitor failed.
    const endErr = r.endSeq();
    err ??= endErr;
  } else if (c === 0x7b) {
    r.eat();
    err = invalidType("map", ADDRESS_EXPECTED);
    r.endMap();
  } else {
    throw r.peekError("ExpectedSomeValue");
  }
  if (err) {
    throw r.fixPosition(err);
  }
  return address as Uint8Array;
}

function addressFromBytes(r: JsonReader, track: Track, path: Segment[]): Uint8Array {
  const seq = new SeqAccess(r, track, path);
  const bytes = new Uint8Array(20);
  for (let i = 0; i < 20; i++) {
    const byte = seq.next(() => deserializeU8(r));
    if (byte === undefined) {
      throw invalidLength(i, "exactly 20 bytes");
    }
    bytes[i] = byte;
  }
  let extra: number | undefined;
  try {
    extra = seq.next(() => deserializeU8(r));
  } catch (e) {
    if (!(e instanceof JsonError)) {
      throw e;
    }
  }
  if (extra !== undefined) {
    throw invalidLength(21, "exactly 20 bytes");
  }
  return bytes;
}

interface Decoded {
  tls_cert: string | null;
  address: Uint8Array;
}

/** serde's derive for BuilderHubOrderflowProxyCredentials through serde_json's deserialize_struct. */
function deserializeCredentials(r: JsonReader, track: Track): Decoded {
  const root: Segment[] = [];
  const c = r.whitespace();
  if (c === undefined) {
    throw r.peekError("EofWhileParsingValue");
  }
  if (c !== 0x5b && c !== 0x7b) {
    throw r.peekInvalidType(STRUCT_EXPECTED);
  }
  r.eat();
  let value: Decoded | undefined;
  let err: JsonError | undefined;
  try {
    value = c === 0x5b ? visitSeq(r, track, root) : visitMap(r, track, root);
  } catch (e) {
    if (!(e instanceof JsonError)) {
      throw e;
    }
    err = e;
  }
  // Like serde_json, the end of the sequence or map is read even after the visitor failed.
  const endErr = c === 0x5b ? r.endSeq() : r.endMap();
  if (err ?? endErr) {
    throw r.fixPosition((err ?? endErr) as JsonError);
  }
  return value as Decoded;
}

/** serde_derive's visit_seq: [tls_cert, ecdsa_pubkey_address], both required in this form. */
function visitSeq(r: JsonReader, track: Track, path: Segment[]): Decoded {
  const seq = new SeqAccess(r, track, path);
  const expected = `${STRUCT_EXPECTED} with 2 elements`;
  const tls = seq.next(() => deserializeOptionalString(r));
  if (tls === undefined) {
    throw invalidLength(0, expected);
  }
  const address = seq.next((p) => deserializeAddress(r, track, p));
  if (address === undefined) {
    throw invalidLength(1, expected);
  }
  return { tls_cert: tls, address };
}

/** serde_derive's visit_map: unknown keys are skipped, a repeated key is an error, a missing Option is None. */
function visitMap(r: JsonReader, track: Track, path: Segment[]): Decoded {
  const map = new MapAccess(r, track, path);
  let tls: { value: string | null } | undefined;
  let address: Uint8Array | undefined;
  for (let key = map.nextKey(); key !== undefined; key = map.nextKey()) {
    if (key === "tls_cert") {
      if (tls) {
        throw custom("duplicate field `tls_cert`");
      }
      tls = { value: map.nextValue(() => deserializeOptionalString(r)) };
    } else if (key === "ecdsa_pubkey_address") {
      if (address) {
        throw custom("duplicate field `ecdsa_pubkey_address`");
      }
      address = map.nextValue((p) => deserializeAddress(r, track, p));
    } else {
      map.nextValue(() => r.ignoreValue());
    }
  }
  if (!address) {
    throw custom("missing field `ecdsa_pubkey_address`");
  }
  return { tls_cert: tls ? tls.value : null, address };
}

/** The body as axum 0.8.4's Json::from_bytes takes it (no end(): trailing bytes are ignored). */
export function decodeBody(body: Uint8Array): DecodedRegistration {
  const r = new JsonReader(body);
  const track = new Track();
  try {
    const decoded = track.run([], () => deserializeCredentials(r, track));
    return {
      ok: true,
      credentials: { tls_cert: decoded.tls_cert, ecdsa_pubkey_address: serializeAddress(decoded.address) },
      address: decoded.address,
    };
  } catch (err) {
    if (!(err instanceof JsonError)) {
      throw err;
    }
    const text = `${displayPath(track.path ?? [])}${err.display()}`;
    return err.data
      ? { ok: false, status: 422, body: `Failed to deserialize the JSON body into the target type: ${text}` }
      : { ok: false, status: 400, body: `Failed to parse the request body as JSON: ${text}` };
  }
}
