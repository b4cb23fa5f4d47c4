// The sandbox's one table of names and addresses. The network, the DNS server, the CLI, the
// end-to-end suite and the benchmarks all read them from here.
//
// Everything lives either on loopback or inside network namespaces this sandbox creates: the VNet
// bridges have no host address, and the "internet" is a bridge holding the host's 198.18.0.1
// (RFC 2544 benchmark range), where the GitHub double listens, the FlowProxy VMs' public IPs and
// the router's relay address. Nothing routes off the machine: the router namespace that joins the
// two VNets has no default route, and reaches the internet bridge only through a TCP relay.
import { SandboxError } from "./proc";

export type VnetKey = "east" | "west";
export type VmName = "vm-builderhub" | "vm-eastus" | "vm-westeurope";
export type VmRole = "builderhub" | "flowproxy";

export interface Vnet {
  key: VnetKey;
  /** Linux bridge in the host namespace, deliberately without a host address. */
  bridge: string;
  addressSpace: string;
  subnet: string;
  prefixLength: number;
  /**
   * The router namespace's leg on this VNet: the VMs' default gateway, their DNS server, and where
   * their connections to the internet doubles go (Azure's outbound access, relayed by the router).
   */
  routerIp: string;
  /**
   * The router's second address on this VNet, where Docker Hub's name points and whose connections
   * it relays to the registry (Azure reserves .1 to .3 of a subnet, so no VM gets it).
   */
  dockerHubIp: string;
  /** Name of the router's interface on this VNet, inside the router namespace. */
  routerInterface: string;
  /** Host end of the router's veth pair. */
  routerHostVeth: string;
  /**
   * Azure names every NIC under its VNet's <random>.internal.cloudapp.net suffix, resolvable only
   * inside that VNet; the sandbox's DNS server on this VNet answers only its own VNet's names.
   */
  nicDnsSuffix: string;
}

export interface Vm {
  name: VmName;
  role: VmRole;
  vnet: VnetKey;
  privateIp: string;
  /** Host end of the VM's VNet veth pair; the VM end is eth0. */
  hostVeth: string;
  /** FlowProxy VMs only: their "public IP" on the internet bridge, behind the VM end eth1. */
  publicIp?: string;
  publicHostVeth?: string;
}

export interface Internet {
  bridge: string;
  hostIp: string;
  prefixLength: number;
  /** The whole RFC 2544 range: unreachable from the host except the bridge's own /24. */
  guardRange: string;
  /** The router's leg on the internet bridge, from which it relays the VMs' outbound connections. */
  routerIp: string;
  routerInterface: string;
  routerHostVeth: string;
  /** The port the outbound relay carries to the host: the internet doubles speak HTTPS only. */
  relayPort: number;
  /** Hostnames the internet doubles answer for; the sandbox DNS points them all at hostIp. */
  hostnames: readonly string[];
}

export const NETNS_PREFIX = "fps-";
export const ROUTER_NETNS = `${NETNS_PREFIX}router`;

export const VNETS: Readonly<Record<VnetKey, Vnet>> = {
  east: {
    key: "east",
    bridge: "fps-br-east",
    addressSpace: "10.10.0.0/16",
    subnet: "10.10.1.0/24",
    prefixLength: 24,
    routerIp: "10.10.1.1",
    dockerHubIp: "10.10.1.2",
    routerInterface: "east",
    routerHostVeth: "fps-rt-east",
    nicDnsSuffix: "east.sandbox.internal.cloudapp.net",
  },
  west: {
    key: "west",
    bridge: "fps-br-west",
    addressSpace: "10.20.0.0/16",
    subnet: "10.20.1.0/24",
    prefixLength: 24,
    routerIp: "10.20.1.1",
    dockerHubIp: "10.20.1.2",
    routerInterface: "west",
    routerHostVeth: "fps-rt-west",
    nicDnsSuffix: "west.sandbox.internal.cloudapp.net",
  },
};

/** BuilderHub comes first: its extension must finish before the FlowProxy VMs register with it. */
export const VMS: readonly Vm[] = [
  { name: "vm-builderhub", role: "builderhub", vnet: "east", privateIp: "10.10.1.5", hostVeth: "fps-bh0" },
  {
    name: "vm-eastus",
    role: "flowproxy",
    vnet: "east",
    privateIp: "10.10.1.4",
    hostVeth: "fps-eus0",
    publicIp: "198.18.0.10",
    publicHostVeth: "fps-eus1",
  },
  {
    name: "vm-westeurope",
    role: "flowproxy",
    vnet: "west",
    privateIp: "10.20.1.4",
    hostVeth: "fps-weu0",
    publicIp: "198.18.0.20",
    publicHostVeth: "fps-weu1",
  },
];

export const INTERNET: Internet = {
  bridge: "fps-br-inet",
  hostIp: "198.18.0.1",
  prefixLength: 24,
  guardRange: "198.18.0.0/15",
  routerIp: "198.18.0.2",
  routerInterface: "inet",
  routerHostVeth: "fps-rt-inet",
  relayPort: 443,
  hostnames: [
    "api.github.com",
    "github.com",
    "pipelines.actions.githubusercontent.com",
    "raw.githubusercontent.com",
    "foundry.paradigm.xyz",
    "tailscale.com",
    "pkgs.tailscale.com",
  ],
};

/**
 * Docker Hub as the VMs see it: Debian's docker-registry on the host's second address on the
 * internet bridge, serving TLS for Docker Hub's own name with a certificate from the sandbox CA, so
 * `docker pull haproxy:TAG` in a VM goes where it goes on Azure, by name. The router relays
 * connections to each VNet's `dockerHubIp` to it, as it relays the other doubles.
 */
export const DOCKER_HUB = {
  hostIp: "198.18.0.3",
  port: 443,
  hostnames: ["registry-1.docker.io"],
} as const;

/** Ports the FlowProxy VMs expose through HAProxy (haproxy.cfg is the lead's; these are its binds). */
export const PUBLIC_PORTS = { http: 80, https: 443, system: 5544 } as const;

/** The BuilderHub mock's API port inside the VNets. */
export const BUILDERHUB_PORT = 3000;

export function vmByName(name: string): Vm {
  const vm = VMS.find((v) => v.name === name);
  if (!vm) {
    throw new SandboxError(`unknown sandbox VM "${name}"; known: ${VMS.map((v) => v.name).join(", ")}`);
  }
  return vm;
}

export function netnsOf(vm: Vm): string {
  return `${NETNS_PREFIX}${vm.name}`;
}

export function nicFqdnOf(vm: Vm): string {
  return `${vm.name}.${VNETS[vm.vnet].nicDnsSuffix}`;
}

export function flowproxyVms(): Vm[] {
  return VMS.filter((vm) => vm.role === "flowproxy");
}
