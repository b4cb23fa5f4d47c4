// How FlowProxy 029b7c4 reads a JSON-RPC request (src/jsonrpc.rs JsonRpcRequest::from_bytes: axum's
// Json::from_bytes, that is serde_json 1.0.145 into `JsonRpcRequest<serde_json::Value>`) and how it
// writes the request's id back. JSON.parse is laxer: it takes duplicate fields, lone surrogates,
// numbers out of range, any depth and a leading byte-order mark, and it loses integer ids past 2^53.
// Compared with src/jsonrpc.rs at 029b7c4 built from source with the crates it locks.

/** A JSON number as serde_json's Value keeps it (u64, i64 or f64), with the text serde_json writes for it. */
class JsonNumber {
  constructor(readonly text: string) {}
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | { [key: string]: JsonValue };

/** serde_json's Deserializer: remaining_depth starts at 128 and each array or object takes one. */
const RECURSION_LIMIT = 128;

class Refused extends Error {}

/** f64's Display in serde_json: ryu 1.0's format64 ("1.0", "1e-7", "1.5e16", "-0.0"). */
function formatF64(value: number): string {
  if (value === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  const sign = value < 0 ? "-" : "";
  const [mantissa, exponent] = Math.abs(value).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const length = digits.length;
  const kk = Number(exponent) + 1;
  const k = kk - length;
  if (k >= 0 && kk <= 16) return `${sign}${digits}${"0".repeat(k)}.0`;
  if (kk > 0 && kk <= 16) return `${sign}${digits.slice(0, kk)}.${digits.slice(kk)}`;
  if (kk > -5 && kk <= 0) return `${sign}0.${"0".repeat(-kk)}${digits}`;
  const scientific = length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
  return `${sign}${scientific}e${kk - 1}`;
}

/** A number token as serde_json parses it: integers as u64 or i64 when they fit ("-0" is f64), else f64. */
function number(token: string): JsonNumber {
  if (/^-?[0-9]+$/.test(token) && token !== "-0") {
    const n = BigInt(token);
    if (n >= 0n ? n < 1n << 64n : n >= -(1n << 63n)) return new JsonNumber(n.toString());
  }
  return new JsonNumber(formatF64(serdeF64(token)));
}

const U64_MAX = (1n << 64n) - 1n;
const I32_MAX = 2 ** 31 - 1;

/**
 * serde_json's f64 without its float_roundtrip feature (de.rs parse_integer, parse_long_integer,
 * parse_decimal, parse_decimal_overflow, parse_exponent, f64_from_parts): the digits that fit a u64
 * make the significand, later integer digits raise the exponent and later fraction digits are
 * dropped; then significand times or over a power of ten, which can be one ulp off the nearest.
 */
function serdeF64(token: string): number {
  const match = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?)([0-9]+))?$/.exec(token) as RegExpExecArray;
  const positive = match[1] === "";
  let significand = 0n;
  let exponent = 0;
  let overflowed = false;
  for (const d of match[2]) {
    if (!overflowed && significand * 10n + BigInt(d) <= U64_MAX) significand = significand * 10n + BigInt(d);
    else {
      overflowed = true;
      exponent++;
    }
  }
  for (const d of match[3] ?? "") {
    if (overflowed || significand * 10n + BigInt(d) > U64_MAX) {
      overflowed = true;
      continue;
    }
    significand = significand * 10n + BigInt(d);
    exponent--;
  }
  if (match[5] !== undefined) {
    const up = match[4] !== "-";
    let e = 0;
    for (const d of match[5]) {
      if (e >= Math.floor(I32_MAX / 10) && (e > Math.floor(I32_MAX / 10) || Number(d) > I32_MAX % 10)) {
        // parse_exponent_overflow: zero, or out of range upwards.
        if (significand === 0n || !up) return positive ? 0 : -0;
        throw new Refused("number out of range");
      }
      e = e * 10 + Number(d);
    }
    exponent = Math.max(-(2 ** 31), Math.min(I32_MAX, up ? exponent + e : exponent - e));
  }
  let f = Number(significand);
  for (;;) {
    const magnitude = Math.abs(exponent);
    if (magnitude <= 308) {
      if (exponent >= 0) {
        f *= Number(`1e${magnitude}`);
        if (!Number.isFinite(f)) throw new Refused("number out of range");
      } else {
        f /= Number(`1e${magnitude}`);
      }
      break;
    }
    if (f === 0) break;
    if (exponent >= 0) throw new Refused("number out of range");
    f /= 1e308;
    exponent += 308;
  }
  return positive ? f : -f;
}

class Reader {
  private at = 0;
  /**
   * Set while an unknown field is skipped: serde_json's ignore_value checks only the grammar (no
   * depth limit, no number range, surrogates unpaired or not).
   */
  ignoring = false;
  constructor(private readonly text: string) {}

  private space(): void {
    while (this.at < this.text.length && " \t\n\r".includes(this.text[this.at])) this.at++;
  }

  private expect(c: string): void {
    this.space();
    if (this.text[this.at] !== c) throw new Refused(`expected ${c}`);
    this.at++;
  }

  private peek(): string | undefined {
    this.space();
    return this.text[this.at];
  }

  string(): string {
    this.expect('"');
    let out = "";
    for (;;) {
      const c = this.text[this.at++];
      if (c === undefined) throw new Refused("EOF while parsing a string");
      if (c === '"') return out;
      if (c < " ") throw new Refused("control character in a string");
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = this.text[this.at++];
      const simple: Record<string, string> = {
        '"': '"',
        "\\": "\\",
        "/": "/",
        b: "\b",
        f: "\f",
        n: "\n",
        r: "\r",
        t: "\t",
      };
      if (e in simple) {
        out += simple[e];
        continue;
      }
      if (e !== "u") throw new Refused("invalid escape");
      const unit = this.hex4();
      if (this.ignoring) continue;
      if (unit >= 0xdc00 && unit <= 0xdfff) throw new Refused("lone trailing surrogate");
      if (unit >= 0xd800 && unit <= 0xdbff) {
        if (this.text.slice(this.at, this.at + 2) !== "\\u") throw new Refused("lone leading surrogate");
        this.at += 2;
        const low = this.hex4();
        if (low < 0xdc00 || low > 0xdfff) throw new Refused("lone leading surrogate");
        out += String.fromCharCode(unit, low);
        continue;
      }
      out += String.fromCharCode(unit);
    }
  }

  private hex4(): number {
    const digits = this.text.slice(this.at, this.at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) throw new Refused("invalid escape");
    this.at += 4;
    return parseInt(digits, 16);
  }

  value(depth: number): JsonValue {
    const c = this.peek();
    if (c === "{" || c === "[") {
      if (depth + 1 >= RECURSION_LIMIT && !this.ignoring) throw new Refused("recursion limit exceeded");
      return c === "{" ? this.object(depth + 1) : this.array(depth + 1);
    }
    if (c === '"') return this.string();
    const literal = /^(?:true|false|null|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)/.exec(
      this.text.slice(this.at),
    );
    if (!literal) throw new Refused("expected value");
    this.at += literal[0].length;
    if (this.ignoring) return null;
    return literal[0] === "true"
      ? true
      : literal[0] === "false"
        ? false
        : literal[0] === "null"
          ? null
          : number(literal[0]);
  }

  /** A Value map: a repeated key takes the later value. */
  private object(depth: number): { [key: string]: JsonValue } {
    const out: { [key: string]: JsonValue } = {};
    this.members((key) => (out[key] = this.value(depth)));
    return out;
  }

  members(member: (key: string) => void): void {
    this.expect("{");
    if (this.peek() === "}") {
      this.at++;
      return;
    }
    for (;;) {
      const key = this.string();
      this.expect(":");
      member(key);
      const next = this.peek();
      this.at++;
      if (next === "}") return;
      if (next !== ",") throw new Refused("expected , or }");
    }
  }

  array(depth: number): JsonValue[] {
    const out: JsonValue[] = [];
    this.expect("[");
    if (this.peek() === "]") {
      this.at++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      const next = this.peek();
      this.at++;
      if (next === "]") return out;
      if (next !== ",") throw new Refused("expected , or ]");
    }
  }

  end(): void {
    this.space();
    if (this.at !== this.text.length) throw new Refused("trailing characters");
  }
}

export interface JsonRpcRequest {
  id: null | string | JsonNumber;
  jsonrpc: string;
  method: string;
  params?: JsonValue[];
}

const FIELDS = ["id", "jsonrpc", "method", "params"] as const;

/**
 * `JsonRpcRequest<Value>` as serde derives it: an object whose id, jsonrpc and method are required
 * and appear once (unknown fields are skipped), or an array of the four in declaration order; id a
 * string, number or null (deserialize_id), params null or an array. Undefined when serde_json
 * refuses the bytes: FlowProxy then answers Parse error.
 */
export function readJsonRpcRequest(body: Buffer): JsonRpcRequest | undefined {
  let text: string;
  try {
    // The byte-order mark stays: serde_json does not skip it.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    return undefined;
  }
  try {
    const reader = new Reader(text);
    const fields = new Map<string, JsonValue>();
    const first = text.trimStart()[0];
    if (first === "[") {
      const items = reader.array(1);
      if (items.length !== FIELDS.length) throw new Refused("invalid length");
      items.forEach((item, i) => fields.set(FIELDS[i], item));
    } else {
      reader.members((key) => {
        const known = (FIELDS as readonly string[]).includes(key);
        if (known && fields.has(key)) throw new Refused(`duplicate field \`${key}\``);
        reader.ignoring = !known;
        const value = reader.value(1);
        reader.ignoring = false;
        if (known) fields.set(key, value);
      });
    }
    reader.end();
    const id = fields.get("id");
    const jsonrpc = fields.get("jsonrpc");
    const method = fields.get("method");
    const params = fields.get("params");
    if (id === undefined || !(id === null || typeof id === "string" || id instanceof JsonNumber)) return undefined;
    if (typeof jsonrpc !== "string" || typeof method !== "string") return undefined;
    if (params !== undefined && params !== null && !Array.isArray(params)) return undefined;
    return { id, jsonrpc, method, params: params ?? undefined };
  } catch (err) {
    if (err instanceof Refused) return undefined;
    throw err;
  }
}

/** The id written back as serde_json writes a Value. */
export function writeJsonId(id: unknown): string {
  return id instanceof JsonNumber ? id.text : JSON.stringify(id ?? null);
}

/** A parsed Value as JSON.parse would give it, numbers as JavaScript numbers. */
export function plainJson(value: JsonValue): unknown {
  if (value instanceof JsonNumber) return Number(value.text);
  if (Array.isArray(value)) return value.map(plainJson);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainJson(v)]));
  return value;
}
