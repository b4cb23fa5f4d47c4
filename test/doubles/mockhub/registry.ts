// mockhub's registry: simulation/mockhub/src/main.rs at b56e719 (Registry, register_credentials,
// get_builders), and the reverse lookup that names each builder (dns-lookup 3.0.1, e360789).
import * as dns from "node:dns";
import type { BuilderCredentials, BuilderListing } from "../../../lib/contract";
import { displayAddress } from "./address";

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
  return new Promise((resolve, reject) =>
    dns.lookupService(ip, 0, (err, hostname) => (err ? reject(err) : resolve(hostname))),
  );
}

/** main.rs: the first label of the reverse name, else the signer address as Display prints it (EIP-55). */
export async function builderName(
  ip: string,
  address: Uint8Array,
  lookup: (ip: string) => Promise<string>,
): Promise<string> {
  try {
    return (await lookup(ip)).split(".")[0];
  } catch {
    return displayAddress(address);
  }
}
