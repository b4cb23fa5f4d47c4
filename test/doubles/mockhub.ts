// Stand-in for the BuilderHub mock `mempirate/mockhub:v0.0.6` in the sandbox's vm-builderhub,
// where it runs as the image mempirate/mockhub:v0.0.6 of the sandbox's Docker Hub (sandbox/internet/docker-hub.ts).
// Test code: it never ships to Azure.
//
// The contract is upstream's program at one revision, no more lenient and no more convenient:
//   BuilderNet/FlowProxy simulation/mockhub/src/main.rs at b56e719 (branch jonas/feat/azure-staging,
//   2025-11-05), built by simulation/mockhub/Dockerfile at the same commit. Its Cargo.lock there pins
//   axum 0.8.4 (axum-core 0.5.2), serde_json 1.0.145, serde 1.0.226, serde_path_to_error 0.1.20,
//   alloy-primitives 1.3.1 (const-hex 1.16.0), dns-lookup 3.0.1, mime 0.3.17 and ryu 1.0.20; the
//   behaviours below cite those crates' sources at those versions: tokio-rs/axum axum-v0.8.4
//   (aa7fc3f) and axum-core-v0.5.2 (1481a82), serde-rs/json v1.0.145 (f7248be), serde-rs/serde
//   v1.0.226 (19b5bb2), dtolnay/path-to-error 0.1.20 (9685afd), alloy-rs/core v1.3.1 (aadc490),
//   keeperofdakeys/dns-lookup 3.0.1 (e360789), hyperium/mime v0.3.17 (ce5062d), dtolnay/ryu 1.0.20
//   (86988bd). (The Dockerfile copies Cargo.toml but not
//   Cargo.lock, so the published image resolved its dependencies when it was built; the lock file
//   is the best record of what it got.)
//
// What it does, in short (each part below names the upstream file it follows):
// - Listens on 0.0.0.0:3000. SYSTEM_PORT must parse as a u16 or the program panics (exit 101);
//   ENABLE_TLS is "true" or anything else (false).
// - POST /api/l1-builder/v1/register_credentials/orderflow_proxy takes axum's Json of
//   {tls_cert: string|null, ecdsa_pubkey_address: Address} and answers 200 with an empty body. The
//   registry lives in memory, keyed by signer address; the first registration of a signer wins and
//   later ones change nothing (still 200). A restart forgets every builder.
// - GET /api/l1-builder/v1/builders lists every entry (a DashMap's iteration order, which is
//   arbitrary: callers must not rely on the order; this double happens to keep insertion order).
// - Unknown paths answer 404, other methods 405 with an Allow header, as axum's router does.
// - HTTP/1.1 as hyper serves it (see "HTTP/1.1" below).
//
// Compared with upstream: its tests (test/unit/doubles/mockhub.test.ts) take a mockhub
// binary (MOCKHUB_BINARY) or URL (MOCKHUB_UNDER_TEST) instead of this double, and were played on
// mockhub v0.0.6 built from its source at b56e719 with the Cargo.lock's crates, by Rust 1.95 (whose
// panic message also names the thread's id: the tests compare it without the id). The differences
// found, each fixed here:
// - const-hex 1.16.0's error texts are lowercase ("odd number of digits", "invalid string length",
//   "invalid character 'g' at position 39"); this double had them capitalised.
// - std's panic message starts with an empty line (rustPanic).
// - hyper: no Host header needed; its automatic 400/431/414 answers with content-length: 0; only
//   HTTP/1.0 and 1.1; at most 100 headers and a head within its buffer; Transfer-Encoding ending in
//   chunked only; no idle timeout on kept-alive connections (Node's server differed in each).
// - `OPTIONS *` answered 500 here (the target did not parse as a URL); upstream's router says 404.
// Two of the tests' own expectations were wrong and were corrected there: the float printed for an
// integer over u64, and a content type with trailing whitespace (which never reaches axum).
//
// Not reproduced: the tracing log format (the log lines only carry the same facts), a backtrace
// under RUST_BACKTRACE, environment values that are not valid Unicode, and what Node's HTTP parser
// decides before this code runs (listed under "HTTP/1.1" below).
//
// The sandbox-only fault switch at the end of this file is test machinery, not upstream behaviour.
import * as dns from "node:dns";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type * as stream from "node:stream";
import { keccak_256 } from "@noble/hashes/sha3";
import { BUILDERHUB, BUILDERHUB_API, BuilderCredentials, BuilderListing } from "../../lib/contract";
import { MOCKHUB_INJECTED_FILE, MOCKHUB_STATE_DIR } from "../../sandbox/internet/doubles-interface";

// main.rs's routes and its bind, SocketAddr::from(([0, 0, 0, 0], 3000)), as the contract records them.
const { register: REGISTER_PATH, builders: BUILDERS_PATH } = BUILDERHUB_API;
export const MOCKHUB_HOST = "0.0.0.0";

// ---- startup: SYSTEM_PORT and ENABLE_TLS (main.rs, fn main) ----

/** What `std::env::var("SYSTEM_PORT").expect(..).parse::<u16>().expect(..)` does with a value. */
export type SystemPort = { ok: true; port: number } | { ok: false; panic: string };

/**
 * Rust's u16::from_str (core::num, from_str_radix with radix 10, Rust 1.89 of the image's
 * rust:1.89-slim builder): an optional "+", then ASCII digits only; "" is Empty, a lone sign or any
 * other byte InvalidDigit, more than 65535 PosOverflow. With more than four digits each step first
 * multiplies (may overflow), then checks the digit, so "99999x" is PosOverflow, not InvalidDigit.
 */
export function parseU16(text: string): { ok: true; value: number } | { ok: false; kind: "Empty" | "InvalidDigit" | "PosOverflow" } {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length === 0) {
    return { ok: false, kind: "Empty" };
  }
  if (bytes.length === 1 && (bytes[0] === 0x2b || bytes[0] === 0x2d)) {
    return { ok: false, kind: "InvalidDigit" };
  }
  const digits = bytes[0] === 0x2b ? bytes.subarray(1) : bytes;
  const mayOverflow = digits.length > 4;
  let value = 0;
  for (const byte of digits) {
    const multiplied = value * 10;
    if (byte < 0x30 || byte > 0x39) {
      return { ok: false, kind: "InvalidDigit" };
    }
    if (mayOverflow && multiplied > 0xffff) {
      return { ok: false, kind: "PosOverflow" };
    }
    value = multiplied + (byte - 0x30);
    if (mayOverflow && value > 0xffff) {
      return { ok: false, kind: "PosOverflow" };
    }
  }
  return { ok: true, value };
}

/**
 * The panic text main.rs produces: `.expect()` on the Result reports "<message>: <error as Debug>"
 * at the `expect` call (src/main.rs lines 18 and 20, column 10), in Rust 1.89's format (no thread id).
 */
export function systemPortFrom(value: string | undefined): SystemPort {
  if (value === undefined) {
    return { ok: false, panic: rustPanic("src/main.rs:18:10", "SYSTEM_PORT is not set: NotPresent") };
  }
  const parsed = parseU16(value);
  if (!parsed.ok) {
    return {
      ok: false,
      panic: rustPanic("src/main.rs:20:10", `SYSTEM_PORT must be a valid port number: ParseIntError { kind: ${parsed.kind} }`),
    };
  }
  return { ok: true, port: parsed.value };
}

/** `std::env::var("ENABLE_TLS").map_or(false, |v| v.parse().unwrap_or(false))`: bool::from_str takes "true" and "false" only. */
export function enableTlsFrom(value: string | undefined): boolean {
  return value === "true";
}

/**
 * std's default panic hook in Rust 1.89 (the image's rust:1.89-slim builder): since rust-lang/rust
 * #122565 (Rust 1.83) it starts the message with a newline so that it begins a line of its own
 * (compared with mockhub built from b56e719; the thread id after the name came later, in 1.91).
 */
export function rustPanic(location: string, message: string): string {
  return `\nthread 'main' panicked at ${location}:\n${message}\nnote: run with \`RUST_BACKTRACE=1\` environment variable to display a backtrace\n`;
}

// ---- addresses (alloy-rs/core v1.3.1, crates/primitives/src/bits/) ----

/** serde.rs: FixedBytes serializes (human-readable) as "0x" and lowercase hex, no checksum. */
function serializeAddress(bytes: Uint8Array): string {
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
function addressFromHex(text: string): Uint8Array | string {
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

function isHexDigit(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
}

// ---- Rust's Debug and ryu's float text, as error messages show them ----

// Rust's char::escape_debug escapes what core::unicode::printable calls unprintable (control,
// format, surrogate, private-use, unassigned, separators but the space) and grapheme extenders.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}\p{Grapheme_Extend}]/u;

function rustEscape(ch: string, quote: '"' | "'"): string {
  switch (ch) {
    case "\0":
      return "\\0";
    case "\t":
      return "\\t";
    case "\r":
      return "\\r";
    case "\n":
      return "\\n";
    case "\\":
      return "\\\\";
    case quote:
      return `\\${quote}`;
  }
  if (ch !== " " && UNPRINTABLE.test(ch)) {
    return `\\u{${(ch.codePointAt(0) as number).toString(16)}}`;
  }
  return ch;
}

/** `{:?}` of a str (serde's Unexpected::Str shows `string {:?}`). */
function rustDebugStr(s: string): string {
  return `"${[...s].map((ch) => rustEscape(ch, '"')).join("")}"`;
}

/** `{:?}` of `byte as char` (const-hex's InvalidHexCharacter). */
function rustDebugChar(byte: number): string {
  return `'${rustEscape(String.fromCharCode(byte), "'")}'`;
}

/** dtolnay/ryu 1.0.20 src/pretty/mod.rs format64, which serde_json's JsonUnexpected uses for floats. */
export function ryuFormat(value: number): string {
  const sign = value < 0 || Object.is(value, -0) ? "-" : "";
  if (value === 0) {
    return `${sign}0.0`;
  }
  // toExponential() gives the shortest digits that round-trip, as ryu's d2d does.
  const [mantissa, exponent] = Math.abs(value).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const length = digits.length;
  const kk = Number(exponent) + 1; // 10^(kk-1) <= v < 10^kk
  const k = kk - length;
  let text: string;
  if (k >= 0 && kk <= 16) {
    text = `${digits}${"0".repeat(k)}.0`;
  } else if (kk > 0 && kk <= 16) {
    text = `${digits.slice(0, kk)}.${digits.slice(kk)}`;
  } else if (kk > -5 && kk <= 0) {
    text = `0.${"0".repeat(-kk)}${digits}`;
  } else if (length === 1) {
    text = `${digits}e${kk - 1}`;
  } else {
    text = `${digits[0]}.${digits.slice(1)}e${kk - 1}`;
  }
  return sign + text;
}

// ---- the request body: axum's Json<BuilderHubOrderflowProxyCredentials> ----
//
// axum 0.8.4 axum/src/json.rs: Json::from_request checks the content type first (415), buffers the
// body within axum-core 0.5.2's default limit of 2 MiB (ext_traits/request.rs, 413), then runs
// serde_path_to_error::deserialize over serde_json::Deserializer::from_slice and does not call
// Deserializer::end(), so bytes after the first complete value are ignored. Errors of serde_json's
// categories Syntax and Eof answer 400, Data 422 (axum/src/extract/rejection.rs); the body is the
// rejection's text, ": ", then serde_path_to_error's Display (lib.rs: "<path>: " unless the path is
// only unknown segments) and serde_json's (error.rs: "<message> at line L column C").
//
// What follows mirrors serde_json 1.0.145's SliceRead parser (src/de.rs, src/read.rs) for exactly
// the calls serde's derive makes for this struct, with the same error codes and positions, and
// serde_path_to_error 0.1.20's path tracking (src/de.rs, src/path.rs).

/** Status and text/plain body of an axum rejection. */
export interface Rejection {
  status: number;
  body: string;
}

export type DecodedRegistration = { ok: true; credentials: BuilderCredentials; address: Uint8Array } | ({ ok: false } & Rejection);

export const BODY_LIMIT = 2_097_152;
const MISSING_JSON_CONTENT_TYPE = "Expected request with `Content-Type: application/json`";
const LENGTH_LIMIT = "Failed to buffer the request body: length limit exceeded";
const STRUCT_EXPECTED = "struct BuilderHubOrderflowProxyCredentials";
const ADDRESS_EXPECTED = "20 bytes, represented as a hex string of length 40, an array of u8, or raw bytes";

// serde_json src/error.rs: the messages of ErrorCode and whether they are data errors (422) or
// syntax/EOF errors (400).
const CODES = {
  EofWhileParsingList: "EOF while parsing a list",
  EofWhileParsingObject: "EOF while parsing an object",
  EofWhileParsingString: "EOF while parsing a string",
  EofWhileParsingValue: "EOF while parsing a value",
  ExpectedColon: "expected `:`",
  ExpectedListCommaOrEnd: "expected `,` or `]`",
  ExpectedObjectCommaOrEnd: "expected `,` or `}`",
  ExpectedSomeIdent: "expected ident",
  ExpectedSomeValue: "expected value",
  InvalidEscape: "invalid escape",
  InvalidNumber: "invalid number",
  NumberOutOfRange: "number out of range",
  InvalidUnicodeCodePoint: "invalid unicode code point",
  ControlCharacterWhileParsingString: "control character (\\u0000-\\u001F) found while parsing a string",
  KeyMustBeAString: "key must be a string",
  LoneLeadingSurrogateInHexEscape: "lone leading surrogate in hex escape",
  TrailingComma: "trailing comma",
  TrailingCharacters: "trailing characters",
  UnexpectedEndOfHexEscape: "unexpected end of hex escape",
} as const;
type Code = keyof typeof CODES;

/** A serde_json::Error: line 0 means "no position yet" (fix_position fills it in). */
class JsonError extends Error {
  constructor(
    readonly text: string,
    readonly data: boolean,
    readonly line = 0,
    readonly column = 0,
  ) {
    super(text);
  }

  display(): string {
    return this.line === 0 ? this.text : `${this.text} at line ${this.line} column ${this.column}`;
  }
}

const custom = (text: string) => new JsonError(text, true);
// serde_json's de::Error impl wraps serde's Unexpected in JsonUnexpected: null for unit, ryu for floats.
const invalidType = (unexpected: string, expected: string) => custom(`invalid type: ${unexpected}, expected ${expected}`);
const invalidValue = (unexpected: string, expected: string) => custom(`invalid value: ${unexpected}, expected ${expected}`);
const invalidLength = (length: number, expected: string) => custom(`invalid length ${length}, expected ${expected}`);

type ParserNumber = { kind: "u64"; value: bigint } | { kind: "i64"; value: bigint } | { kind: "f64"; value: number };

function unexpectedNumber(n: ParserNumber): string {
  return n.kind === "f64" ? `floating point \`${ryuFormat(n.value)}\`` : `integer \`${n.value}\``;
}

const U64_MAX = (1n << 64n) - 1n;
const I32_MAX = 2 ** 31 - 1;
const POW10 = Array.from({ length: 309 }, (_, i) => Number(`1e${i}`));
// ignoreBOM: Rust's str::from_utf8 keeps a leading U+FEFF.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

/** serde_json's Deserializer over a SliceRead. */
class JsonReader {
  index = 0;

  constructor(private readonly input: Uint8Array) {}

  peek(): number | undefined {
    return this.index < this.input.length ? this.input[this.index] : undefined;
  }

  peekOrNull(): number {
    return this.peek() ?? 0;
  }

  eat(): void {
    this.index++;
  }

  next(): number | undefined {
    const c = this.peek();
    if (c !== undefined) {
      this.index++;
    }
    return c;
  }

  /** read.rs position_of_index: 1-based line, column = bytes since the line's start. */
  private at(code: string, index: number, data = false): JsonError {
    let startOfLine = 0;
    let line = 1;
    for (let i = 0; i < index; i++) {
      if (this.input[i] === 0x0a) {
        startOfLine = i + 1;
        line++;
      }
    }
    return new JsonError(code, data, line, index - startOfLine);
  }

  /** de.rs `error`: caused by the byte just consumed. */
  error(code: Code): JsonError {
    return this.at(CODES[code], this.index);
  }

  /** de.rs `peek_error`: caused by the byte not yet consumed. */
  peekError(code: Code): JsonError {
    return this.at(CODES[code], Math.min(this.input.length, this.index + 1));
  }

  /** de.rs fix_position: an error without a position gets the current one. */
  fixPosition(err: JsonError): JsonError {
    return err.line === 0 ? this.at(err.text, this.index, err.data) : err;
  }

  whitespace(): number | undefined {
    for (;;) {
      const c = this.peek();
      if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) {
        this.eat();
      } else {
        return c;
      }
    }
  }

  parseIdent(rest: string): void {
    for (const expected of Buffer.from(rest, "ascii")) {
      const c = this.next();
      if (c === undefined) {
        throw this.error("EofWhileParsingValue");
      }
      if (c !== expected) {
        throw this.error("ExpectedSomeIdent");
      }
    }
  }

  // -- numbers (de.rs parse_integer and what it calls, without float_roundtrip) --

  parseInteger(positive: boolean): ParserNumber {
    const first = this.next();
    if (first === undefined) {
      throw this.error("EofWhileParsingValue");
    }
    if (first === 0x30) {
      if (isDigit(this.peekOrNull())) {
        throw this.peekError("InvalidNumber");
      }
      return this.parseNumber(positive, 0n);
    }
    if (!isDigit(first)) {
      throw this.error("InvalidNumber");
    }
    let significand = BigInt(first - 0x30);
    for (;;) {
      const c = this.peekOrNull();
      if (!isDigit(c)) {
        return this.parseNumber(positive, significand);
      }
      const next = significand * 10n + BigInt(c - 0x30);
      if (next > U64_MAX) {
        return { kind: "f64", value: this.parseLongInteger(positive, significand) };
      }
      this.eat();
      significand = next;
    }
  }

  private parseNumber(positive: boolean, significand: bigint): ParserNumber {
    const c = this.peekOrNull();
    if (c === 0x2e) {
      return { kind: "f64", value: this.parseDecimal(positive, significand, 0) };
    }
    if (c === 0x65 || c === 0x45) {
      return { kind: "f64", value: this.parseExponent(positive, significand, 0) };
    }
    if (positive) {
      return { kind: "u64", value: significand };
    }
    // `(significand as i64).wrapping_neg()`; -0 and anything below i64::MIN become floats.
    if (significand === 0n || significand > 1n << 63n) {
      return { kind: "f64", value: -Number(significand) };
    }
    return { kind: "i64", value: -significand };
  }

  private parseDecimal(positive: boolean, significand: bigint, exponentBefore: number): number {
    this.eat();
    let exponentAfter = 0;
    for (let c = this.peekOrNull(); isDigit(c); c = this.peekOrNull()) {
      const next = significand * 10n + BigInt(c - 0x30);
      if (next > U64_MAX) {
        return this.parseDecimalOverflow(positive, significand, exponentBefore + exponentAfter);
      }
      this.eat();
      significand = next;
      exponentAfter--;
    }
    if (exponentAfter === 0) {
      throw this.peekError(this.peek() === undefined ? "EofWhileParsingValue" : "InvalidNumber");
    }
    const exponent = exponentBefore + exponentAfter;
    const c = this.peekOrNull();
    return c === 0x65 || c === 0x45 ? this.parseExponent(positive, significand, exponent) : this.f64FromParts(positive, significand, exponent);
  }

  private parseDecimalOverflow(positive: boolean, significand: bigint, exponent: number): number {
    while (isDigit(this.peekOrNull())) {
      this.eat();
    }
    const c = this.peekOrNull();
    return c === 0x65 || c === 0x45 ? this.parseExponent(positive, significand, exponent) : this.f64FromParts(positive, significand, exponent);
  }

  private parseExponent(positive: boolean, significand: bigint, startingExponent: number): number {
    this.eat();
    let positiveExponent = true;
    const sign = this.peekOrNull();
    if (sign === 0x2b || sign === 0x2d) {
      this.eat();
      positiveExponent = sign === 0x2b;
    }
    const first = this.next();
    if (first === undefined) {
      throw this.error("EofWhileParsingValue");
    }
    if (!isDigit(first)) {
      throw this.error("InvalidNumber");
    }
    let exponent = first - 0x30;
    for (let c = this.peekOrNull(); isDigit(c); c = this.peekOrNull()) {
      this.eat();
      const next = exponent * 10 + (c - 0x30);
      if (next > I32_MAX) {
        if (significand !== 0n && positiveExponent) {
          throw this.error("NumberOutOfRange");
        }
        while (isDigit(this.peekOrNull())) {
          this.eat();
        }
        return positive ? 0 : -0;
      }
      exponent = next;
    }
    const clamp = (x: number) => Math.max(-I32_MAX - 1, Math.min(I32_MAX, x));
    return this.f64FromParts(positive, significand, clamp(positiveExponent ? startingExponent + exponent : startingExponent - exponent));
  }

  private parseLongInteger(positive: boolean, significand: bigint): number {
    let exponent = 0;
    for (;;) {
      const c = this.peekOrNull();
      if (isDigit(c)) {
        this.eat();
        exponent++;
      } else if (c === 0x2e) {
        return this.parseDecimal(positive, significand, exponent);
      } else if (c === 0x65 || c === 0x45) {
        return this.parseExponent(positive, significand, exponent);
      } else {
        return this.f64FromParts(positive, significand, exponent);
      }
    }
  }

  private f64FromParts(positive: boolean, significand: bigint, exponent: number): number {
    let f = Number(significand);
    for (;;) {
      const pow = POW10[Math.abs(exponent)];
      if (pow !== undefined) {
        if (exponent >= 0) {
          f *= pow;
          if (!Number.isFinite(f)) {
            throw this.error("NumberOutOfRange");
          }
        } else {
          f /= pow;
        }
        break;
      }
      if (f === 0) {
        break;
      }
      if (exponent >= 0) {
        throw this.error("NumberOutOfRange");
      }
      f /= 1e308;
      exponent += 308;
    }
    return positive ? f : -f;
  }

  // -- strings (read.rs SliceRead::parse_str_bytes with validation, parse_escape) --

  private skipToEscape(): void {
    while (this.index < this.input.length) {
      const c = this.input[this.index];
      if (c === QUOTE || c === BACKSLASH || c < 0x20) {
        return;
      }
      this.index++;
    }
  }

  /** After the opening quote: the string's contents, which must be UTF-8. */
  parseStr(): string {
    const scratch: Uint8Array[] = [];
    let start = this.index;
    for (;;) {
      this.skipToEscape();
      if (this.index === this.input.length) {
        throw this.error("EofWhileParsingString");
      }
      const c = this.input[this.index];
      if (c === QUOTE) {
        const bytes = Buffer.concat([...scratch, this.input.subarray(start, this.index)]);
        this.index++;
        try {
          return UTF8.decode(bytes);
        } catch {
          throw this.error("InvalidUnicodeCodePoint");
        }
      }
      if (c === BACKSLASH) {
        scratch.push(this.input.subarray(start, this.index));
        this.index++;
        this.parseEscape(scratch);
        start = this.index;
      } else {
        this.index++;
        throw this.error("ControlCharacterWhileParsingString");
      }
    }
  }

  private parseEscape(scratch: Uint8Array[]): void {
    const c = this.next();
    if (c === undefined) {
      throw this.error("EofWhileParsingString");
    }
    const simple: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09 };
    if (simple[c] !== undefined) {
      scratch.push(Uint8Array.of(simple[c]));
      return;
    }
    if (c !== 0x75) {
      throw this.error("InvalidEscape");
    }
    const n = this.decodeHexEscape();
    if (n >= 0xdc00 && n <= 0xdfff) {
      throw this.error("LoneLeadingSurrogateInHexEscape");
    }
    if (n < 0xd800 || n > 0xdbff) {
      scratch.push(Buffer.from(String.fromCharCode(n), "utf8"));
      return;
    }
    for (const expected of [BACKSLASH, 0x75]) {
      const c2 = this.peek();
      if (c2 === undefined) {
        throw this.error("EofWhileParsingString");
      }
      this.eat();
      if (c2 !== expected) {
        throw this.error("UnexpectedEndOfHexEscape");
      }
    }
    const n2 = this.decodeHexEscape();
    if (n2 < 0xdc00 || n2 > 0xdfff) {
      throw this.error("LoneLeadingSurrogateInHexEscape");
    }
    scratch.push(Buffer.from(String.fromCharCode(n, n2), "utf8"));
  }

  private decodeHexEscape(): number {
    if (this.input.length - this.index < 4) {
      this.index = this.input.length;
      throw this.error("EofWhileParsingString");
    }
    const digits = this.input.subarray(this.index, this.index + 4);
    this.index += 4;
    if (!digits.every(isHexDigit)) {
      throw this.error("InvalidEscape");
    }
    return parseInt(Buffer.from(digits).toString("latin1"), 16);
  }

  // -- values that are skipped (de.rs ignore_value and friends, read.rs ignore_str) --

  ignoreValue(): void {
    const frames: number[] = [];
    let enclosing: number | undefined;
    for (;;) {
      const peek = this.whitespace();
      if (peek === undefined) {
        throw this.peekError("EofWhileParsingValue");
      }
      let opened: number | undefined;
      if (peek === 0x6e || peek === 0x74 || peek === 0x66) {
        this.eat();
        this.parseIdent(peek === 0x6e ? "ull" : peek === 0x74 ? "rue" : "alse");
      } else if (peek === 0x2d) {
        this.eat();
        this.ignoreInteger();
      } else if (isDigit(peek)) {
        this.ignoreInteger();
      } else if (peek === QUOTE) {
        this.eat();
        this.ignoreStr();
      } else if (peek === 0x5b || peek === 0x7b) {
        if (enclosing !== undefined) {
          frames.push(enclosing);
        }
        enclosing = undefined;
        this.eat();
        opened = peek;
      } else {
        throw this.peekError("ExpectedSomeValue");
      }

      let acceptComma: boolean;
      let frame: number;
      if (opened !== undefined) {
        [acceptComma, frame] = [false, opened];
      } else if (enclosing !== undefined) {
        [acceptComma, frame] = [true, enclosing];
      } else {
        const popped = frames.pop();
        if (popped === undefined) {
          return;
        }
        [acceptComma, frame] = [true, popped];
      }

      for (;;) {
        const c = this.whitespace();
        if (c === 0x2c && acceptComma) {
          this.eat();
          break;
        }
        const closes = (c === 0x5d && frame === 0x5b) || (c === 0x7d && frame === 0x7b);
        if (!closes) {
          if (c === undefined) {
            throw this.peekError(frame === 0x5b ? "EofWhileParsingList" : "EofWhileParsingObject");
          }
          if (acceptComma) {
            throw this.peekError(frame === 0x5b ? "ExpectedListCommaOrEnd" : "ExpectedObjectCommaOrEnd");
          }
          break;
        }
        this.eat();
        const popped = frames.pop();
        if (popped === undefined) {
          return;
        }
        frame = popped;
        acceptComma = true;
      }

      if (frame === 0x7b) {
        const quote = this.whitespace();
        if (quote !== QUOTE) {
          throw this.peekError(quote === undefined ? "EofWhileParsingObject" : "KeyMustBeAString");
        }
        this.eat();
        this.ignoreStr();
        const colon = this.whitespace();
        if (colon !== 0x3a) {
          throw this.peekError(colon === undefined ? "EofWhileParsingObject" : "ExpectedColon");
        }
        this.eat();
      }
      enclosing = frame;
    }
  }

  private ignoreInteger(): void {
    const first = this.next() ?? 0;
    if (first === 0x30) {
      if (isDigit(this.peekOrNull())) {
        throw this.peekError("InvalidNumber");
      }
    } else if (isDigit(first)) {
      while (isDigit(this.peekOrNull())) {
        this.eat();
      }
    } else {
      throw this.error("InvalidNumber");
    }
    const c = this.peekOrNull();
    if (c === 0x2e) {
      this.eat();
      if (!isDigit(this.peekOrNull())) {
        throw this.peekError("InvalidNumber");
      }
      while (isDigit(this.peekOrNull())) {
        this.eat();
      }
    }
    const e = this.peekOrNull();
    if (e === 0x65 || e === 0x45) {
      this.eat();
      const sign = this.peekOrNull();
      if (sign === 0x2b || sign === 0x2d) {
        this.eat();
      }
      if (!isDigit(this.next() ?? 0)) {
        throw this.error("InvalidNumber");
      }
      while (isDigit(this.peekOrNull())) {
        this.eat();
      }
    }
  }

  private ignoreStr(): void {
    for (;;) {
      this.skipToEscape();
      if (this.index === this.input.length) {
        throw this.error("EofWhileParsingString");
      }
      const c = this.input[this.index];
      if (c === QUOTE) {
        this.index++;
        return;
      }
      if (c !== BACKSLASH) {
        // Unlike parse_str, ignore_str reports a control character before consuming it.
        throw this.error("ControlCharacterWhileParsingString");
      }
      this.index++;
      const escaped = this.next();
      if (escaped === undefined) {
        throw this.error("EofWhileParsingString");
      }
      if (escaped === 0x75) {
        this.decodeHexEscape();
      } else if (![0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74].includes(escaped)) {
        throw this.error("InvalidEscape");
      }
    }
  }

  // -- the shapes around values (de.rs end_seq, end_map, parse_object_colon, peek_invalid_type) --

  /** de.rs peek_invalid_type: reads the value to name it in "invalid type: ...". */
  peekInvalidType(expected: string): JsonError {
    const c = this.peekOrNull();
    let err: JsonError;
    if (c === 0x6e || c === 0x74 || c === 0x66) {
      this.eat();
      this.parseIdent(c === 0x6e ? "ull" : c === 0x74 ? "rue" : "alse");
      err = invalidType(c === 0x6e ? "null" : `boolean \`${c === 0x74}\``, expected);
    } else if (c === 0x2d) {
      this.eat();
      err = invalidType(unexpectedNumber(this.parseInteger(false)), expected);
    } else if (isDigit(c)) {
      err = invalidType(unexpectedNumber(this.parseInteger(true)), expected);
    } else if (c === QUOTE) {
      this.eat();
      err = invalidType(`string ${rustDebugStr(this.parseStr())}`, expected);
    } else if (c === 0x5b) {
      err = invalidType("sequence", expected);
    } else if (c === 0x7b) {
      err = invalidType("map", expected);
    } else {
      return this.peekError("ExpectedSomeValue");
    }
    return this.fixPosition(err);
  }

  endSeq(): JsonError | undefined {
    const c = this.whitespace();
    if (c === 0x5d) {
      this.eat();
      return undefined;
    }
    if (c === 0x2c) {
      this.eat();
      return this.peekError(this.whitespace() === 0x5d ? "TrailingComma" : "TrailingCharacters");
    }
    return this.peekError(c === undefined ? "EofWhileParsingList" : "TrailingCharacters");
  }

  endMap(): JsonError | undefined {
    const c = this.whitespace();
    if (c === 0x7d) {
      this.eat();
      return undefined;
    }
    return this.peekError(c === 0x2c ? "TrailingComma" : c === undefined ? "EofWhileParsingObject" : "TrailingCharacters");
  }

  parseObjectColon(): void {
    const c = this.whitespace();
    if (c !== 0x3a) {
      throw this.peekError(c === undefined ? "EofWhileParsingObject" : "ExpectedColon");
    }
    this.eat();
  }
}

// serde_path_to_error 0.1.20: where an error happened. Seq segments print as "[i]", map keys as
// the key, keys that were never read as "?"; the first path recorded wins (Track::trigger), even
// for an error a visitor later swallows.
type Segment = { index: number } | { key: string } | "unknown";

class Track {
  path?: Segment[];

  trigger(path: Segment[]): void {
    this.path ??= path;
  }

  /** Runs a step that path_to_error wraps: any error leaving it records `path` (if none yet). */
  run<T>(path: Segment[], step: () => T): T {
    try {
      return step();
    } catch (err) {
      if (err instanceof JsonError) {
        this.trigger(path);
      }
      throw err;
    }
  }
}

function displayPath(path: Segment[]): string {
  if (path.every((s) => s === "unknown")) {
    return "";
  }
  let text = "";
  path.forEach((segment, i) => {
    if (segment === "unknown") {
      text += `${i > 0 ? "." : ""}?`;
    } else if ("index" in segment) {
      text += `[${segment.index}]`;
    } else {
      text += `${i > 0 ? "." : ""}${segment.key}`;
    }
  });
  return `${text}: `;
}

/** serde_json's SeqAccess (has_next_element), wrapped by path_to_error's SeqAccess. */
class SeqAccess {
  private first = true;
  private index = 0;

  constructor(
    private readonly r: JsonReader,
    private readonly track: Track,
    private readonly path: Segment[],
  ) {}

  next<T>(element: (path: Segment[]) => T): T | undefined {
    const elementPath = [...this.path, { index: this.index++ }];
    return this.track.run(this.path, () => (this.hasNext() ? this.track.run(elementPath, () => element(elementPath)) : undefined));
  }

  private hasNext(): boolean {
    const c = this.r.whitespace();
    if (c === undefined) {
      throw this.r.peekError("EofWhileParsingList");
    }
    if (c === 0x5d) {
      return false;
    }
    if (this.first) {
      this.first = false;
      return true;
    }
    if (c !== 0x2c) {
      throw this.r.peekError("ExpectedListCommaOrEnd");
    }
    this.r.eat();
    const after = this.r.whitespace();
    if (after === 0x5d) {
      throw this.r.peekError("TrailingComma");
    }
    if (after === undefined) {
      throw this.r.peekError("EofWhileParsingValue");
    }
    return true;
  }
}

/** serde_json's MapAccess (has_next_key, MapKey), wrapped by path_to_error's MapAccess and CaptureKey. */
class MapAccess {
  private first = true;
  private key?: string;

  constructor(
    private readonly r: JsonReader,
    private readonly track: Track,
    private readonly path: Segment[],
  ) {}

  nextKey(): string | undefined {
    try {
      if (!this.hasNext()) {
        return undefined;
      }
      this.r.eat();
      this.key = this.r.parseStr();
      return this.key;
    } catch (err) {
      if (err instanceof JsonError) {
        this.track.trigger([...this.path, this.key === undefined ? "unknown" : { key: this.key }]);
        this.key = undefined;
      }
      throw err;
    }
  }

  nextValue<T>(value: (path: Segment[]) => T): T {
    const valuePath: Segment[] = [...this.path, this.key === undefined ? "unknown" : { key: this.key }];
    this.key = undefined;
    return this.track.run(this.path, () => {
      this.r.parseObjectColon();
      return this.track.run(valuePath, () => value(valuePath));
    });
  }

  private hasNext(): boolean {
    const c = this.r.whitespace();
    if (c === undefined) {
      throw this.r.peekError("EofWhileParsingObject");
    }
    if (c === 0x7d) {
      return false;
    }
    if (this.first) {
      this.first = false;
      if (c !== QUOTE) {
        throw this.r.peekError("KeyMustBeAString");
      }
      return true;
    }
    if (c !== 0x2c) {
      throw this.r.peekError("ExpectedObjectCommaOrEnd");
    }
    this.r.eat();
    const after = this.r.whitespace();
    if (after === QUOTE) {
      return true;
    }
    throw this.r.peekError(after === 0x7d ? "TrailingComma" : after === undefined ? "EofWhileParsingValue" : "KeyMustBeAString");
  }
}

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
  throw r.fixPosition(n.kind === "f64" ? invalidType(unexpectedNumber(n), "u8") : invalidValue(unexpectedNumber(n), "u8"));
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

// hyperium/mime 0.3.17 (ce5062d) src/parse.rs `parse` and src/lib.rs type_/subtype/suffix.
const isToken = (c: number) => c < 128 && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(String.fromCharCode(c));

/**
 * axum 0.8.4 json.rs json_content_type: the header must be visible ASCII (HeaderValue::to_str),
 * parse as a mime, and be application/json or application/<anything>+json (case-insensitive).
 */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined || !/^[\t\x20-\x7e]*$/.test(header)) {
    return false;
  }
  const parsed = parseMime(header);
  return parsed !== undefined && parsed.type === "application" && (parsed.subtype === "json" || parsed.suffix === "json");
}

function parseMime(s: string): { type: string; subtype: string; suffix?: string } | undefined {
  if (s === "*/*") {
    return { type: "*", subtype: "*" };
  }
  const lower = s.toLowerCase();
  let i = 0;
  while (i < s.length && isToken(s.charCodeAt(i))) {
    i++;
  }
  if (i === 0 || i === s.length || s[i] !== "/") {
    return undefined; // MissingSlash or InvalidToken
  }
  const slash = i;
  const start = i + 1;
  let plus: number | undefined;
  for (i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b && i > start) {
      plus = i;
    } else if (c === 0x3b && i > start) {
      break;
    } else if (!isToken(c)) {
      return undefined;
    }
  }
  const end = i;
  if (end < s.length && !mimeParamsValid(s, end)) {
    return undefined;
  }
  return {
    type: lower.slice(0, slash),
    subtype: lower.slice(start, plus ?? end),
    suffix: plus === undefined ? undefined : lower.slice(plus + 1, end),
  };
}

/** params_from_str after the ";" at `semicolon`, reading the same byte iterator as `parse`. */
function mimeParamsValid(s: string, semicolon: number): boolean {
  let position = semicolon + 1;
  const next = (): [number, number] | undefined => (position < s.length ? [position, s.charCodeAt(position++)] : undefined);
  let start = semicolon + 1;
  params: while (start < s.length) {
    for (;;) {
      const item = next();
      if (item === undefined) {
        return false; // MissingEqual
      }
      const [i, c] = item;
      if (c === 0x20 && i === start) {
        start = i + 1;
        continue params;
      }
      if (isToken(c)) {
        continue;
      }
      if (c === 0x3d && i > start) {
        start = i + 1;
        break;
      }
      return false;
    }
    let quoted = false;
    for (;;) {
      const item = next();
      if (quoted) {
        if (item === undefined) {
          return false; // MissingQuote
        }
        const [i, c] = item;
        if (c === 0x22 && i > start) {
          break;
        }
        if (c > 31 && c !== 127) {
          continue;
        }
        return false;
      }
      if (item === undefined) {
        start = s.length;
        break;
      }
      const [i, c] = item;
      if (c === 0x22 && i === start) {
        quoted = true;
        start = i + 1;
      } else if (c === 0x3b && i > start) {
        start = i + 1;
        break;
      } else if (!isToken(c)) {
        return false;
      }
    }
    if (quoted) {
      for (;;) {
        const item = next();
        if (item === undefined) {
          start = s.length;
          break;
        }
        const [i, c] = item;
        if (c === 0x3b) {
          start = i + 1;
          break;
        }
        if (c !== 0x20) {
          return false;
        }
      }
    }
  }
  return true;
}

/** Everything axum's Json extractor does with a request's content type and body. */
export function parseRegistration(contentType: string | undefined, body: Uint8Array | string): DecodedRegistration {
  if (!isJsonContentType(contentType)) {
    return { ok: false, status: 415, body: MISSING_JSON_CONTENT_TYPE };
  }
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  if (bytes.length > BODY_LIMIT) {
    return { ok: false, status: 413, body: LENGTH_LIMIT };
  }
  return decodeBody(bytes);
}

// ---- the registry (main.rs: Registry, register_credentials, get_builders) ----

export class Registry {
  // DashMap<Address, BuilderHubBuilder>: keyed by the 20 bytes, so case and 0x do not matter.
  private readonly builders = new Map<string, BuilderListing>();

  constructor(
    readonly systemPort: number,
    readonly enableTls: boolean,
  ) {}

  /** The entry main.rs builds for a registration from `sourceIp` whose reverse name gave `name`. */
  entry(sourceIp: string, name: string, credentials: BuilderCredentials): BuilderListing {
    return {
      name,
      ip: `${sourceIp}:${this.systemPort}`,
      dns_name: sourceIp,
      orderflow_proxy: credentials,
      // `creds.tls_cert.clone().unwrap_or_default()` when ENABLE_TLS is true, else String::new().
      instance: { tls_cert: this.enableTls ? (credentials.tls_cert ?? "") : "" },
    };
  }

  /** The first registration of a signer wins: later ones change nothing. Returns whether it was added. */
  register(builder: BuilderListing): boolean {
    const key = builder.orderflow_proxy.ecdsa_pubkey_address.toLowerCase();
    if (this.builders.has(key)) {
      return false;
    }
    this.builders.set(key, builder);
    return true;
  }

  list(): BuilderListing[] {
    return [...this.builders.values()];
  }
}

/**
 * dns-lookup 3.0.1 src/lookup.rs lookup_addr: getnameinfo(NI_NUMERICSERV | NI_NAMEREQD), so an
 * address without a name is an error, not its numeric form. Node's dns.lookupService calls the
 * same libc getnameinfo with NI_NAMEREQD (nsswitch: /etc/hosts, then DNS).
 */
export function reverseLookup(ip: string): Promise<string> {
  return new Promise((resolve, reject) => dns.lookupService(ip, 0, (err, hostname) => (err ? reject(err) : resolve(hostname))));
}

/** main.rs: the first label of the reverse name, else the signer address as Display prints it (EIP-55). */
export async function builderName(ip: string, address: Uint8Array, lookup: (ip: string) => Promise<string>): Promise<string> {
  try {
    return (await lookup(ip)).split(".")[0];
  } catch {
    return displayAddress(address);
  }
}

// ---- HTTP/1.1: hyper 1.7.0 under axum::serve (both as simulation/mockhub/Cargo.lock@b56e719 pins) ----
//
// What hyper's server does before axum sees a request, where Node's HTTP server does otherwise
// (found by running these tests against mockhub built from b56e719):
// - no Host header is needed (Node answers 400 without one by default);
// - a request it cannot parse gets an automatic answer, src/proto/h1/role.rs `on_error`: 400 (431
//   for a head too large), `connection: close`, `content-length: 0` and no body, then the connection
//   closes (Node's default answer has no content-length);
// - httparse 1.10.1 reads only HTTP/1.0 and HTTP/1.1 (Node also takes HTTP/0.9 and HTTP/2.0 request
//   lines): any other version is a parse error, 400;
// - role.rs parses at most DEFAULT_MAX_HEADERS (100) headers, more is 431; the head must fit in
//   src/proto/h1/io.rs DEFAULT_MAX_BUFFER_SIZE (8192 + 4096 * 100 bytes), more is 431 (Node's
//   default limit is 16 KiB; hyper checks the limit between reads, so it may take a head of up to
//   twice the limit, which this double refuses); a request target longer than the http crate's
//   (1.3.1 src/uri/mod.rs) MAX_LEN, u16::MAX - 1, is 414;
// - role.rs: a request with a Transfer-Encoding whose last coding is not `chunked`, or any
//   Transfer-Encoding in HTTP/1.0, is 400 (Node reads such a body to the end of the connection);
// - axum 0.8.4 src/serve/mod.rs gives hyper no timer, and without one hyper's src/common/time.rs
//   `check` drops the default 30 s header timeout: nothing times out, no idle kept-alive connection
//   (Node closes one after 5 s and says so in a Keep-Alive header), no header, no request.
// Not reproduced (Node's parser decides before any of our code runs): hyper answers an HTTP/1.0
// request with an HTTP/1.0 status line (Node always writes HTTP/1.1); it routes any token as a method
// (`FOO`, `get`: 405 on our paths, where Node's parser answers 400); CONNECT gets axum's 404 (Node
// drops the connection); the HTTP/2 preface is dropped unanswered (Node answers 400); an answer that
// keeps the connection says nothing of it (Node adds `connection: keep-alive`).

const HYPER_MAX_HEADERS = 100;
const HYPER_MAX_BUFFER_SIZE = 8192 + 4096 * 100;
const HTTP_URI_MAX_LEN = 65_535 - 1;

/** The status of hyper's automatic answer to a request Node parsed but hyper would not, if any. */
function refusedByHyper(req: http.IncomingMessage): number | undefined {
  if (req.httpVersionMajor !== 1 || (req.httpVersionMinor !== 0 && req.httpVersionMinor !== 1)) {
    return 400;
  }
  if (req.rawHeaders.length / 2 > HYPER_MAX_HEADERS) {
    return 431;
  }
  if ((req.url ?? "").length > HTTP_URI_MAX_LEN) {
    return 414;
  }
  const codings = req.rawHeaders.filter((_, i) => i % 2 === 1 && req.rawHeaders[i - 1].toLowerCase() === "transfer-encoding");
  if (codings.length > 0 && (req.httpVersionMinor === 0 || (codings[codings.length - 1].split(",").pop() ?? "").trim().toLowerCase() !== "chunked")) {
    return 400;
  }
  return undefined;
}

/** Connections whose last answer was hyper's refusal, closing once it is sent. */
const answeredAndClosing = new WeakSet<stream.Duplex>();

/** role.rs on_error's answer to what Node's parser refused (a head too large: 431; anything else: 400). */
function answerParseError(err: NodeJS.ErrnoException, socket: stream.Duplex): void {
  if (answeredAndClosing.has(socket)) {
    socket.end();
    return;
  }
  if (!socket.writable || err.code === "ECONNRESET") {
    socket.destroy();
    return;
  }
  const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\ndate: ${new Date().toUTCString()}\r\n\r\n`);
}

// ---- HTTP: axum's router (axum 0.8.4 src/routing/method_routing.rs) ----

export interface MockhubOptions {
  /** SYSTEM_PORT, already parsed. */
  systemPort: number;
  /** ENABLE_TLS, already parsed (unset means false). */
  enableTls?: boolean;
  host?: string;
  port?: number;
  /** The reverse lookup main.rs does; tests may give their own. */
  lookup?: (ip: string) => Promise<string>;
  /** Log lines (the tracing output's facts); console.log by default. */
  log?: (line: string) => void;
  /** Sandbox only: the directory of the fault switch (see the end of this file). Nothing else is stored. */
  stateDir?: string;
}

function reply(res: http.ServerResponse, status: number, body = "", headers: http.OutgoingHttpHeaders = {}): void {
  const text = Buffer.from(body, "utf8");
  res.writeHead(status, { ...headers, "content-length": text.length });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on("data", (chunk: Buffer) => {
      length += chunk.length;
      if (length <= BODY_LIMIT) {
        chunks.push(chunk);
      }
    });
    req.on("end", () => resolve(length > BODY_LIMIT ? undefined : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * The path axum routes on: the request target as sent (no decoding, no trailing-slash redirect),
 * query aside; an absolute-form target routes on its path, anything else (`*`) on itself.
 */
function routedPath(target: string): string {
  if (target.startsWith("/")) {
    return target.split("?")[0];
  }
  try {
    return new URL(target).pathname;
  } catch {
    return target;
  }
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, registry: Registry, options: MockhubOptions): Promise<void> {
  const log = options.log ?? console.log;
  const lookup = options.lookup ?? reverseLookup;
  const refused = refusedByHyper(req);
  if (refused !== undefined) {
    // hyper answers and closes without reading further: what Node's parser finds after this is not answered.
    answeredAndClosing.add(req.socket);
    req.resume();
    res.writeHead(refused, { connection: "close", "content-length": 0 });
    res.end();
    return;
  }
  const urlPath = routedPath(req.url ?? "/");
  const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  const sourceIp = req.socket.remoteAddress ?? "";

  if (urlPath === BUILDERS_PATH) {
    // get(handler) also answers HEAD (the body is dropped); any other method is 405.
    if (req.method !== "GET" && req.method !== "HEAD") {
      reply(res, 405, "", { allow: "GET,HEAD" });
      return;
    }
    log(`INFO get_builders{addr=${peer}}: mockhub: Getting builders`);
    const builders = registry.list();
    log(`INFO get_builders{addr=${peer}}: mockhub: Found ${builders.length} builders`);
    reply(res, 200, JSON.stringify(builders), { "content-type": "application/json" });
    return;
  }
  if (urlPath === REGISTER_PATH) {
    if (req.method !== "POST") {
      reply(res, 405, "", { allow: "POST" });
      return;
    }
    // The Json extractor looks at the content type before it reads the body.
    const contentType = req.headers["content-type"];
    if (!isJsonContentType(contentType)) {
      req.resume();
      reply(res, 415, MISSING_JSON_CONTENT_TYPE, { "content-type": "text/plain; charset=utf-8" });
      return;
    }
    const body = await readBody(req);
    const parsed = body === undefined ? ({ ok: false, status: 413, body: LENGTH_LIMIT } as const) : decodeBody(body);
    if (!parsed.ok) {
      reply(res, parsed.status, parsed.body, { "content-type": "text/plain; charset=utf-8" });
      return;
    }
    log(`INFO register_credentials{addr=${peer}}: mockhub: Registering credentials for builder: ${parsed.credentials.ecdsa_pubkey_address}`);
    // The name is looked up for every registration, before the registry is asked.
    const name = await builderName(sourceIp, parsed.address, lookup);
    registry.register(registry.entry(sourceIp, name, parsed.credentials));
    reply(res, 200);
    return;
  }
  reply(res, 404);
}

export function startMockhub(options: MockhubOptions): Promise<http.Server> {
  const registry = new Registry(options.systemPort, options.enableTls ?? false);
  const faults = options.stateDir === undefined ? undefined : new FaultSwitch(options.stateDir);
  const server = http.createServer({ requireHostHeader: false, maxHeaderSize: HYPER_MAX_BUFFER_SIZE, requestTimeout: 0 }, (req, res) => {
    const serve = () =>
      handle(req, res, registry, options).catch((err: Error) => {
        console.error(`request failed: ${err.message}`);
        if (!res.headersSent) {
          reply(res, 500);
        }
      });
    if (faults) {
      faults.apply(req, res, () => void serve());
    } else {
      void serve();
    }
  });
  // No timer under hyper (see "HTTP/1.1" above): nothing times out.
  server.headersTimeout = 0;
  server.keepAliveTimeout = 0;
  server.on("clientError", answerParseError);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? BUILDERHUB.port, options.host ?? MOCKHUB_HOST, () => resolve(server));
  });
}

/** main.rs `TcpListener::bind(addr).await.unwrap()` (line 38, column 50): io::Error as Debug. */
function bindPanic(err: NodeJS.ErrnoException): string {
  const known: Record<string, [number, string, string]> = {
    EADDRINUSE: [98, "AddrInUse", "Address already in use"],
    EACCES: [13, "PermissionDenied", "Permission denied"],
    EADDRNOTAVAIL: [99, "AddrNotAvailable", "Cannot assign requested address"],
  };
  const [code, kind, message] = known[err.code ?? ""] ?? [0, "Other", err.message];
  return rustPanic("src/main.rs:38:50", `called \`Result::unwrap()\` on an \`Err\` value: Os { code: ${code}, kind: ${kind}, message: ${JSON.stringify(message)} }`);
}

/** What main.rs reads from its environment before it binds, or the panic it dies of (exit 101). */
export function settingsFrom(env: NodeJS.ProcessEnv): { ok: true; systemPort: number; enableTls: boolean } | { ok: false; panic: string } {
  const systemPort = systemPortFrom(env.SYSTEM_PORT);
  return systemPort.ok ? { ok: true, systemPort: systemPort.port, enableTls: enableTlsFrom(env.ENABLE_TLS) } : systemPort;
}

function main(): void {
  const settings = settingsFrom(process.env);
  if (!settings.ok) {
    process.stderr.write(settings.panic);
    process.exit(101);
  }
  const { systemPort, enableTls } = settings;
  startMockhub({ systemPort, enableTls, stateDir: MOCKHUB_STATE_DIR }).then(
    () => console.log(`INFO mockhub: Listening on ${MOCKHUB_HOST}:${BUILDERHUB.port} tls_enabled=${enableTls}`),
    (err: NodeJS.ErrnoException) => {
      process.stderr.write(bindPanic(err));
      process.exit(101);
    },
  );
}

// ---- sandbox-only fault switch: test machinery, NOT upstream behaviour ----
//
// The sandbox's reliability tests make BuilderHub misbehave through the file `fault` in
// MOCKHUB_STATE_DIR (sandbox/internet/doubles-interface.ts; setMockhubFault in sandbox/probe.ts). It holds one
// line, read on every request:
//   down             every connection is closed without an answer
//   flap AGENT       every other request whose User-Agent is AGENT answers 503, starting with the
//                    first; everyone else is served. Aimed, so that the peers' polls and the
//                    registration timers cannot take the 503s meant for the request under test.
//   slow             every answer is delayed by 15 s
//   error            every request answers 500
// Without the file (or with it empty) the double is exactly the contract above. Every injected
// answer appends a line "STATUS METHOD PATH AGENT" to the file MOCKHUB_INJECTED_FILE beside it, so a test can
// show the fault met the request it was aimed at.

export const SLOW_DELAY_MS = 15_000;

class FaultSwitch {
  /** Requests of the flap's agent seen since the fault file last changed. */
  private aimedRequests = 0;
  private lastFault = "";

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  private current(): string {
    try {
      return fs.readFileSync(path.join(this.dir, "fault"), "utf8").trim();
    } catch {
      return "";
    }
  }

  private inject(req: http.IncomingMessage, res: http.ServerResponse, status: number, fault: string): void {
    req.resume();
    fs.appendFileSync(path.join(this.dir, MOCKHUB_INJECTED_FILE), `${status} ${req.method} ${req.url} ${req.headers["user-agent"] ?? "-"}\n`);
    reply(res, status, `fault injected: ${fault}`, { "content-type": "text/plain; charset=utf-8" });
  }

  apply(req: http.IncomingMessage, res: http.ServerResponse, serve: () => void): void {
    const fault = this.current();
    if (fault !== this.lastFault) {
      this.lastFault = fault;
      this.aimedRequests = 0;
    }
    const [kind, agent] = fault.split(/\s+/, 2);
    if (kind === "down") {
      req.socket.destroy();
    } else if (kind === "error") {
      this.inject(req, res, 500, fault);
    } else if (kind === "flap" && agent !== undefined && req.headers["user-agent"] === agent && this.aimedRequests++ % 2 === 0) {
      this.inject(req, res, 503, fault);
    } else if (kind === "slow") {
      setTimeout(serve, SLOW_DELAY_MS);
    } else {
      serve();
    }
  }
}

if (require.main === module) {
  main();
}
