// mockhub's startup: what simulation/mockhub/src/main.rs at b56e719 (fn main) reads from its
// environment before it binds (SYSTEM_PORT, ENABLE_TLS), and the panic it dies of otherwise.

/** What `std::env::var("SYSTEM_PORT").expect(..).parse::<u16>().expect(..)` does with a value. */
type SystemPort = { ok: true; port: number } | { ok: false; panic: string };

/**
 * Rust's u16::from_str (core::num, from_str_radix with radix 10, Rust 1.89 of the image's
 * rust:1.89-slim builder): an optional "+", then ASCII digits only; "" is Empty, a lone sign or any
 * other byte InvalidDigit, more than 65535 PosOverflow. With more than four digits each step first
 * multiplies (may overflow), then checks the digit, so "99999x" is PosOverflow, not InvalidDigit.
 */
function parseU16(
  text: string,
): { ok: true; value: number } | { ok: false; kind: "Empty" | "InvalidDigit" | "PosOverflow" } {
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
function systemPortFrom(value: string | undefined): SystemPort {
  if (value === undefined) {
    return { ok: false, panic: rustPanic("src/main.rs:18:10", "SYSTEM_PORT is not set: NotPresent") };
  }
  const parsed = parseU16(value);
  if (!parsed.ok) {
    return {
      ok: false,
      panic: rustPanic(
        "src/main.rs:20:10",
        `SYSTEM_PORT must be a valid port number: ParseIntError { kind: ${parsed.kind} }`,
      ),
    };
  }
  return { ok: true, port: parsed.value };
}

/** `std::env::var("ENABLE_TLS").map_or(false, |v| v.parse().unwrap_or(false))`: bool::from_str takes "true" and "false" only. */
function enableTlsFrom(value: string | undefined): boolean {
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

/** What main.rs reads from its environment before it binds, or the panic it dies of (exit 101). */
export function settingsFrom(
  env: NodeJS.ProcessEnv,
): { ok: true; systemPort: number; enableTls: boolean } | { ok: false; panic: string } {
  const systemPort = systemPortFrom(env.SYSTEM_PORT);
  return systemPort.ok
    ? { ok: true, systemPort: systemPort.port, enableTls: enableTlsFrom(env.ENABLE_TLS) }
    : systemPort;
}
