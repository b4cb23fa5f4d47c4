// serde_json 1.0.145's (f7248be) Deserializer over a SliceRead (src/de.rs, src/read.rs), for
// exactly the calls serde's derive makes for mockhub's body, with the same error codes, messages
// (src/error.rs) and positions.
import { isHexDigit } from "./address";
import { rustDebugStr, ryuFormat } from "./rust-text";

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
export class JsonError extends Error {
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

export const custom = (text: string) => new JsonError(text, true);
// serde_json's de::Error impl wraps serde's Unexpected in JsonUnexpected: null for unit, ryu for floats.
export const invalidType = (unexpected: string, expected: string) =>
  custom(`invalid type: ${unexpected}, expected ${expected}`);
export const invalidValue = (unexpected: string, expected: string) =>
  custom(`invalid value: ${unexpected}, expected ${expected}`);
export const invalidLength = (length: number, expected: string) =>
  custom(`invalid length ${length}, expected ${expected}`);

export type ParserNumber =
  { kind: "u64"; value: bigint } | { kind: "i64"; value: bigint } | { kind: "f64"; value: number };

export function unexpectedNumber(n: ParserNumber): string {
  return n.kind === "f64" ? `floating point \`${ryuFormat(n.value)}\`` : `integer \`${n.value}\``;
}

const U64_MAX = (1n << 64n) - 1n;
const I32_MAX = 2 ** 31 - 1;
const POW10 = Array.from({ length: 309 }, (_, i) => Number(`1e${i}`));
// ignoreBOM: Rust's str::from_utf8 keeps a leading U+FEFF.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export const QUOTE = 0x22;
const BACKSLASH = 0x5c;
export const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

/** serde_json's Deserializer over a SliceRead. */
export class JsonReader {
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
    return c === 0x65 || c === 0x45
      ? this.parseExponent(positive, significand, exponent)
      : this.f64FromParts(positive, significand, exponent);
  }

  private parseDecimalOverflow(positive: boolean, significand: bigint, exponent: number): number {
    while (isDigit(this.peekOrNull())) {
      this.eat();
    }
    const c = this.peekOrNull();
    return c === 0x65 || c === 0x45
      ? this.parseExponent(positive, significand, exponent)
      : this.f64FromParts(positive, significand, exponent);
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
    return this.f64FromParts(
      positive,
      significand,
      clamp(positiveExponent ? startingExponent + exponent : startingExponent - exponent),
    );
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
    const simple: Record<number, number> = {
      0x22: 0x22,
      0x5c: 0x5c,
      0x2f: 0x2f,
      0x62: 0x08,
      0x66: 0x0c,
      0x6e: 0x0a,
      0x72: 0x0d,
      0x74: 0x09,
    };
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
    return this.peekError(
      c === 0x2c ? "TrailingComma" : c === undefined ? "EofWhileParsingObject" : "TrailingCharacters",
    );
  }

  parseObjectColon(): void {
    const c = this.whitespace();
    if (c !== 0x3a) {
      throw this.peekError(c === undefined ? "EofWhileParsingObject" : "ExpectedColon");
    }
    this.eat();
  }
}
