// The sandbox's networks: one bridge per VNet (no host address, so the host cannot reach the VNets),
// one "internet" bridge holding the host's 198.18.0.1, a namespace per VM, and a router namespace
// joining the VNets as peering does and relaying the VMs' outbound connections. Nothing routes off
// the machine: the router has no default route, the host does not forward (net.ipv4.ip_forward=0),
// the internet bridge drops any packet whose source the host would answer through another
// interface (strict reverse-path filter), and the host's routes make the sandbox's ranges
// unreachable except through its own bridge.
import * as fs from "fs";
import * as path from "path";
import { Cidr, cidrsOverlap, parseCidr } from "../../lib/cidr";
import { statePaths } from "../base/paths";
import { check, livePid, run, SandboxError, sleep, startDaemon, stopDaemon } from "../base/proc";
import type { DnsRecord, ReverseRecord } from "../../plan/evaluation";
import {
  DOCKER_HUB,
  INTERNET,
  NETNS_PREFIX,
  netnsOf,
  nicFqdnOf,
  ROUTER_NETNS,
  Vm,
  VNETS,
  Vnet,
} from "../base/topology";

const ip = (...args: string[]) => check("ip", args);

async function linkExists(name: string): Promise<boolean> {
  return (await run("ip", ["link", "show", name])).code === 0;
}

function netnsExists(name: string): boolean {
  return fs.existsSync(path.join("/run/netns", name));
}

/** Writes a sysctl in the host namespace, or in `netns` (whose /proc/sys/net is its own). */
async function sysctl(key: string, value: string, netns?: string): Promise<void> {
  const file = `/proc/sys/${key.replace(/\./g, "/")}`;
  if (netns) {
    await check("ip", ["netns", "exec", netns, "sh", "-c", `echo ${value} > ${file}`]);
  } else {
    fs.writeFileSync(file, value);
  }
}

/** Host-side links get no IPv6 address: no link-local chatter, and nothing for the host to be reached on. */
async function hostLinkUp(name: string): Promise<void> {
  await sysctl(`net.ipv6.conf.${name}.disable_ipv6`, "1");
  await ip("link", "set", name, "up");
}

async function ensureBridge(name: string): Promise<void> {
  if (!(await linkExists(name))) {
    await ip("link", "add", name, "type", "bridge");
  }
  await hostLinkUp(name);
}

async function ensureNetns(name: string): Promise<void> {
  if (!netnsExists(name)) {
    await ip("netns", "add", name);
  }
  // Before any interface exists in it, so they are all created without IPv6.
  await sysctl("net.ipv6.conf.default.disable_ipv6", "1", name);
  await sysctl("net.ipv6.conf.all.disable_ipv6", "1", name);
  await ip("-n", name, "link", "set", "lo", "up");
}

/** A veth pair from a host bridge into a namespace, with the namespace end addressed. */
async function ensureLeg(hostEnd: string, bridge: string, netns: string, inner: string, cidr: string): Promise<void> {
  if (!(await linkExists(hostEnd))) {
    await ip("link", "add", hostEnd, "type", "veth", "peer", "name", inner, "netns", netns);
  }
  await ip("link", "set", hostEnd, "master", bridge);
  await hostLinkUp(hostEnd);
  await ip("-n", netns, "addr", "replace", cidr, "dev", inner);
  await ip("-n", netns, "link", "set", inner, "up");
}

async function ensureRouter(): Promise<void> {
  await ensureNetns(ROUTER_NETNS);
  for (const vnet of Object.values(VNETS)) {
    await ensureLeg(
      vnet.routerHostVeth,
      vnet.bridge,
      ROUTER_NETNS,
      vnet.routerInterface,
      `${vnet.routerIp}/${vnet.prefixLength}`,
    );
    await ip(
      "-n",
      ROUTER_NETNS,
      "addr",
      "replace",
      `${vnet.dockerHubIp}/${vnet.prefixLength}`,
      "dev",
      vnet.routerInterface,
    );
  }
  await ensureLeg(
    INTERNET.routerHostVeth,
    INTERNET.bridge,
    ROUTER_NETNS,
    INTERNET.routerInterface,
    `${INTERNET.routerIp}/${INTERNET.prefixLength}`,
  );
  // Forwarding inside the router namespace only: this is the VNet peering. A VM's packet to the
  // internet bridge may be forwarded too, but the host drops it (its source fails the reverse-path
  // check) and could not answer it anyway; real outbound traffic goes through the relay.
  await sysctl("net.ipv4.ip_forward", "1", ROUTER_NETNS);
}

async function ensureVmNetwork(vm: Vm): Promise<void> {
  const netns = netnsOf(vm);
  const vnet = VNETS[vm.vnet];
  await ensureNetns(netns);
  await ensureLeg(vm.hostVeth, vnet.bridge, netns, "eth0", `${vm.privateIp}/${vnet.prefixLength}`);
  await ip("-n", netns, "route", "replace", "default", "via", vnet.routerIp, "dev", "eth0");
  if (vm.publicIp && vm.publicHostVeth) {
    await ensureLeg(vm.publicHostVeth, INTERNET.bridge, netns, "eth1", `${vm.publicIp}/${INTERNET.prefixLength}`);
  }
}

/**
 * The address ranges the sandbox owns. On the host each is an unreachable route (the internet
 * bridge's /24 is more specific and wins), so a host-side connection to a VM's private address
 * fails at once instead of leaving through the host's default route.
 */
const GUARDED_RANGES = [...Object.values(VNETS).map((v) => v.addressSpace), INTERNET.guardRange];

interface HostRoute {
  dst: string;
  dev?: string;
  type?: string;
}

async function hostRoutes(): Promise<HostRoute[]> {
  return JSON.parse(await check("ip", ["-j", "route", "show", "table", "main"])) as HostRoute[];
}

function asCidr(text: string): Cidr {
  const parsed = parseCidr(text.includes("/") ? text : `${text}/32`);
  if (typeof parsed === "string") {
    throw new SandboxError(`cannot read the host route ${text}: it ${parsed}`);
  }
  return parsed;
}

async function guardRanges(): Promise<void> {
  const ours = (route: HostRoute) =>
    (route.type === "unreachable" && GUARDED_RANGES.includes(route.dst)) || route.dev === INTERNET.bridge;
  for (const route of await hostRoutes()) {
    if (route.dst === "default" || ours(route)) {
      continue;
    }
    const clash = GUARDED_RANGES.find((range) => cidrsOverlap(asCidr(range), asCidr(route.dst)));
    if (clash) {
      throw new SandboxError(
        `the host's route to ${route.dst}${route.dev ? ` (dev ${route.dev})` : ""} overlaps the sandbox's ${clash}; the sandbox cannot run on this host's network`,
      );
    }
  }
  for (const range of GUARDED_RANGES) {
    await ip("route", "replace", "unreachable", range);
  }
}

async function removeGuards(): Promise<void> {
  const present = new Set((await hostRoutes()).filter((r) => r.type === "unreachable").map((r) => r.dst));
  for (const range of GUARDED_RANGES.filter((r) => present.has(r))) {
    await ip("route", "delete", "unreachable", range);
  }
}

/** The bridges, the router and the networks of `vms`. */
export async function ensureNetwork(vms: readonly Vm[]): Promise<void> {
  if (fs.readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim() !== "0") {
    throw new SandboxError(
      "the host forwards IPv4 (net.ipv4.ip_forward=1); the sandbox needs it off so nothing it sends can leave the machine: sysctl -w net.ipv4.ip_forward=0",
    );
  }
  await guardRanges();
  for (const vnet of Object.values(VNETS)) {
    await ensureBridge(vnet.bridge);
  }
  await ensureBridge(INTERNET.bridge);
  await ip("addr", "replace", `${INTERNET.hostIp}/${INTERNET.prefixLength}`, "dev", INTERNET.bridge);
  await ip("addr", "replace", `${DOCKER_HUB.hostIp}/32`, "dev", INTERNET.bridge);
  await sysctl(`net.ipv4.conf.${INTERNET.bridge}.rp_filter`, "1");
  await ensureRouter();
  for (const vm of vms) {
    await ensureVmNetwork(vm);
  }
}

/** Removes a VM's network namespace, and with it both ends of its veth pairs. */
export async function removeVmNetwork(vm: Vm): Promise<void> {
  if (netnsExists(netnsOf(vm))) {
    await ip("netns", "delete", netnsOf(vm));
  }
}

/** The sandbox's network namespaces that exist: the router's and every VM's, whichever fleet made them. */
function sandboxNamespaces(): string[] {
  return fs.existsSync("/run/netns")
    ? fs.readdirSync("/run/netns").filter((name) => name.startsWith(NETNS_PREFIX))
    : [];
}

// ---- DNS ----

/**
 * What the DNS server on one VNet answers: the private zone, the VNet's NIC names (of `vms`), and
 * the internet doubles' hostnames and Docker Hub's at the router, which relays them as Azure's
 * outbound access would.
 */
export function dnsRecordsFor(vnet: Vnet, privateZone: readonly DnsRecord[], vms: readonly Vm[]): DnsRecord[] {
  return [
    ...privateZone,
    ...vms.filter((vm) => vm.vnet === vnet.key).map((vm) => ({ fqdn: nicFqdnOf(vm), ip: vm.privateIp })),
    ...INTERNET.hostnames.map((fqdn) => ({ fqdn, ip: vnet.routerIp })),
    ...DOCKER_HUB.hostnames.map((fqdn) => ({ fqdn, ip: vnet.dockerHubIp })),
  ];
}

/**
 * A names its A records with `address=`, which gives no PTR record (host-record would make one from
 * each A record): the reverse names are the program's PTR records alone, as in Azure's reverse zones.
 * `address=` answers for names below the record's too, which no VM asks for.
 */
function dnsmasqConfig(vnet: Vnet, records: readonly DnsRecord[], reverse: readonly ReverseRecord[]): string {
  const files = statePaths.dns(vnet.key);
  return [
    "# The sandbox's DNS server for one VNet (Azure's resolver plus the private and reverse zones). No",
    "# upstream: any other name is NXDOMAIN.",
    "no-resolv",
    "no-hosts",
    "bind-interfaces",
    `listen-address=${vnet.routerIp}`,
    "local=/#/",
    "user=nobody",
    "group=nogroup",
    `pid-file=${files.pid}`,
    `log-facility=${files.log}`,
    "log-queries",
    ...records.map((r) => `address=/${r.fqdn}/${r.ip}`),
    ...reverse.map((r) => `ptr-record=${r.name},${r.target}`),
    "",
  ].join("\n");
}

async function stopDns(vnet: string): Promise<void> {
  const files = statePaths.dns(vnet);
  await stopDaemon(files.pid, files.config, 5000);
}

/** (Re)starts the DNS servers with the records of the rendered stack, whose VMs are `vms`. */
export async function startDns(
  stack: { dnsRecords: readonly DnsRecord[]; reverseRecords: readonly ReverseRecord[] },
  vms: readonly Vm[],
): Promise<void> {
  for (const vnet of Object.values(VNETS)) {
    const files = statePaths.dns(vnet.key);
    await stopDns(vnet.key);
    fs.mkdirSync(path.dirname(files.config), { recursive: true });
    fs.writeFileSync(
      files.config,
      dnsmasqConfig(vnet, dnsRecordsFor(vnet, stack.dnsRecords, vms), stack.reverseRecords),
    );
    // dnsmasq daemonizes; its PID file tells us the daemon's PID.
    await check("ip", ["netns", "exec", ROUTER_NETNS, "dnsmasq", `--conf-file=${files.config}`]);
  }
}

// ---- outbound access ----

const relayScript = () => path.join(statePaths.doubles, "outbound.js");

async function stopOutbound(): Promise<void> {
  await stopDaemon(statePaths.outbound.pid, relayScript(), 5000);
}

/** (Re)starts the router's relay to the internet doubles and Docker Hub (test/doubles/outbound.ts). */
export async function startOutbound(): Promise<void> {
  await stopOutbound();
  fs.mkdirSync(path.dirname(statePaths.outbound.pid), { recursive: true });
  const routes = Object.values(VNETS).flatMap((v) => [
    `${v.routerIp}=${INTERNET.hostIp}`,
    `${v.dockerHubIp}=${DOCKER_HUB.hostIp}`,
  ]);
  fs.writeFileSync(statePaths.outbound.log, "");
  // `ip netns exec` execs the program, so the recorded PID is the relay's own.
  startDaemon(
    "ip",
    ["netns", "exec", ROUTER_NETNS, process.execPath, relayScript(), String(INTERNET.relayPort), ...routes],
    { logFile: statePaths.outbound.log, pidFile: statePaths.outbound.pid },
  );
  // The host cannot connect to the router's VNet addresses, so readiness comes from the relay's log.
  const deadline = Date.now() + 10_000;
  while (!fs.readFileSync(statePaths.outbound.log, "utf8").includes("relaying")) {
    if (livePid(statePaths.outbound.pid, relayScript()) === undefined || Date.now() > deadline) {
      throw new SandboxError(
        `the outbound relay did not start: ${fs.readFileSync(statePaths.outbound.log, "utf8").trim() || "no output"}`,
      );
    }
    await sleep(50);
  }
}

// ---- teardown and status ----

export async function destroyNetwork(): Promise<void> {
  await stopOutbound();
  for (const vnet of Object.keys(VNETS)) {
    await stopDns(vnet);
  }
  // Deleting a namespace deletes its veth ends, and with them the host ends.
  for (const name of sandboxNamespaces()) {
    await ip("netns", "delete", name);
  }
  for (const vnet of Object.values(VNETS)) {
    if (await linkExists(vnet.bridge)) {
      await ip("link", "delete", vnet.bridge);
    }
  }
  if (await linkExists(INTERNET.bridge)) {
    await ip("link", "delete", INTERNET.bridge);
  }
  await removeGuards();
}

export interface NetworkStatus {
  bridges: Record<string, boolean>;
  namespaces: Record<string, boolean>;
  dns: Record<string, number | undefined>;
  outboundRelay?: number;
}

export async function networkStatus(): Promise<NetworkStatus> {
  const bridges: Record<string, boolean> = {};
  for (const name of [...Object.values(VNETS).map((v) => v.bridge), INTERNET.bridge]) {
    bridges[name] = await linkExists(name);
  }
  const namespaces = Object.fromEntries([ROUTER_NETNS, ...sandboxNamespaces()].map((n) => [n, netnsExists(n)]));
  const dns = Object.fromEntries(
    Object.keys(VNETS).map((v) => [v, livePid(statePaths.dns(v).pid, statePaths.dns(v).config)]),
  );
  return { bridges, namespaces, dns, outboundRelay: livePid(statePaths.outbound.pid, relayScript()) };
}
