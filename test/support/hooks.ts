// What the tests of the VMs' hooks (provision/*.sh run on their own) share: the settings file a hook
// reads, BuilderHub's double as the VM runs it, and a proxy's registration from an address of its own.
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { BUILDERHUB_API } from "../../lib/contract";
import { startMockhub } from "../doubles/mockhub/server";

/** A hook's settings file as provisioning writes it: NAME=value a line. */
export function writeHookSettings(file: string, settings: Record<string, string>): void {
  fs.writeFileSync(
    file,
    Object.entries(settings)
      .map(([name, value]) => `${name}=${value}`)
      .join("\n"),
  );
}

/** A FlowProxy registration sent from `fromAddress` (a loopback address of its own), which BuilderHub lists it at. */
export function registerFrom(
  endpoint: string,
  fromAddress: string,
  registration: { tls_cert: string; ecdsa_pubkey_address: string },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${endpoint}${BUILDERHUB_API.register}`,
      { method: "POST", localAddress: fromAddress, headers: { "content-type": "application/json" } },
      (response) => {
        response.resume();
        response.on("end", () =>
          response.statusCode === 200 ? resolve() : reject(new Error(`registration answered ${response.statusCode}`)),
        );
      },
    );
    request.on("error", reject);
    request.end(JSON.stringify(registration));
  });
}

/**
 * BuilderHub's double as vm-builderhub runs it (TLS required, proxies on `systemPort`), on a free
 * loopback port with an empty registry, naming each registration by `lookup` as the VNet's reverse
 * DNS would.
 */
export async function startBuilderhubDouble(
  systemPort: number,
  lookup: (ip: string) => Promise<string>,
): Promise<{ server: http.Server; endpoint: string }> {
  const server = await startMockhub({
    systemPort,
    enableTls: true,
    host: "127.0.0.1",
    port: 0,
    lookup,
    log: () => undefined,
  });
  return { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
