// The content type axum 0.8.4's (aa7fc3f) Json extractor accepts (json.rs json_content_type),
// parsed as hyperium/mime 0.3.17 parses it.

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
  return (
    parsed !== undefined && parsed.type === "application" && (parsed.subtype === "json" || parsed.suffix === "json")
  );
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
  const next = (): [number, number] | undefined =>
    position < s.length ? [position, s.charCodeAt(position++)] : undefined;
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
