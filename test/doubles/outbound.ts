// Stand-in for Azure's outbound access (SNAT) in the sandbox: runs in the router namespace and
// relays TCP connections that VMs make to the internet doubles, from the router's own address on
// the internet bridge. Test code: it never ships to Azure. The sandbox has no NAT and no route off
// the machine; this relay reaches exactly the host's internet-side addresses it is given (the
// GitHub double's and Docker Hub's), so a VM without a public IP (BuilderHub) can still download
// what Azure would let it download.
//
// Usage: outbound.js PORT LISTEN_IP=TARGET_IP...
import * as net from "node:net";

export function startRelay(listenHost: string, port: number, targetHost: string): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: targetHost, port });
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, listenHost, () => resolve(server));
  });
}

async function main(): Promise<void> {
  const [portText, ...routeTexts] = process.argv.slice(2);
  const port = Number(portText);
  const routes = routeTexts.map((text) => text.split("="));
  if (!Number.isInteger(port) || routes.length === 0 || routes.some((r) => r.length !== 2 || !r[0] || !r[1])) {
    console.error("usage: outbound.js PORT LISTEN_IP=TARGET_IP...");
    process.exit(2);
  }
  const servers = await Promise.all(routes.map(([listen, target]) => startRelay(listen, port, target)));
  console.log(`relaying ${routes.map(([listen, target]) => `${listen}:${port} to ${target}:${port}`).join(", ")}`);
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      servers.forEach((s) => s.close());
      process.exit(0);
    });
  }
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`cannot start the relay: ${err.message}`);
    process.exit(1);
  });
}
