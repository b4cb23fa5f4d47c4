// Rust's Debug text and dtolnay/ryu 1.0.20's (86988bd) float text, as mockhub's error messages
// show them.

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
export function rustDebugStr(s: string): string {
  return `"${[...s].map((ch) => rustEscape(ch, '"')).join("")}"`;
}

/** `{:?}` of `byte as char` (const-hex's InvalidHexCharacter). */
export function rustDebugChar(byte: number): string {
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
