// IPv4 address and CIDR arithmetic for validating the address plan before any resource exists.

export interface Cidr {
  text: string;
  base: number;
  prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIpv4(text: string): number | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o, i) => o > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith("0")))) return undefined;
  return octets.reduce((acc, o) => acc * 256 + o, 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/** Parses "a.b.c.d/n"; the error string says what is wrong in words a config author understands. */
export function parseCidr(text: string): Cidr | string {
  const [addr, prefixText, ...rest] = text.split("/");
  if (rest.length > 0 || prefixText === undefined) return "is not in CIDR form a.b.c.d/n";
  const base = parseIpv4(addr);
  if (base === undefined) return `has an invalid IPv4 address "${addr}"`;
  if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) return `has an invalid prefix length "/${prefixText}"`;
  const prefix = Number(prefixText);
  const size = 2 ** (32 - prefix);
  if (base % size !== 0) {
    return `has host bits set; the network is ${formatIpv4(base - (base % size))}/${prefix}`;
  }
  return { text, base, prefix };
}

/**
 * An address range as an NSG rule or policy reads it: an address (a /32) or a CIDR whose host bits
 * are dropped, as Azure keeps a rule's prefix. Undefined for anything else (a service tag, "*").
 */
export function parseAddressRange(text: string): Cidr | undefined {
  const [addr, prefixText, ...rest] = text.trim().split("/");
  const address = parseIpv4(addr);
  if (rest.length > 0 || address === undefined) return undefined;
  if (prefixText !== undefined && (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32)) return undefined;
  const prefix = prefixText === undefined ? 32 : Number(prefixText);
  const size = 2 ** (32 - prefix);
  return { text, base: address - (address % size), prefix };
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return (
    inner.prefix >= outer.prefix &&
    inner.base >= outer.base &&
    inner.base + cidrSize(inner) <= outer.base + cidrSize(outer)
  );
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + cidrSize(b) && b.base < a.base + cidrSize(a);
}
