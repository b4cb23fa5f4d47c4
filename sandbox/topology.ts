// The sandbox's one table of names and addresses. The network, the DNS server, the CLI, the
// end-to-end suite and the benchmarks all read them from here. The VNets, the VMs and their private
// addresses are the stack's default plan (lib/contract.ts); the bridges, veths and the "internet"
// are the sandbox's own.
//
// Everything lives either on loopback or inside network namespaces this sandbox creates: the VNet
// bridges have no host address, and the "internet" is a bridge holding the host's 198.18.0.1
// (RFC 2544 benchmark range), where the GitHub double listens, the FlowProxy VMs' public IPs and
// the router's relay address. Nothing routes off the machine: the router namespace that joins the
// two VNets has no default route, and reaches the internet bridge only through a TCP relay.
import { formatIpv4, parseCidr } from "../lib/cidr";
import { BUILDERHUB, DEFAULT_REGIONS, flowproxyVmName, HOST_NUMBER, Role } from "../lib/contract";
import { SandboxError } from "./proc";

export interface Vnet {
  /** The region's name in the stack's region table ("east"), which names its outputs too. */
  key: string;
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
  name: string;
  role: Role;
  /** The key of its VNet in VNETS. */
  vnet: string;
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

/** The nth address of a subnet (its network address is the 0th). */
function hostOf(subnetCidr: string, n: number): string {
  const subnet = parseCidr(subnetCidr);
  if (typeof subnet === "string") throw new SandboxError(`the default region table's subnet ${subnetCidr} ${subnet}`);
  return formatIpv4(subnet.base + n);
}

/** The default region table's VNets (lib/contract.ts): the sandbox deploys the stack's default configuration. */
export const VNETS: Readonly<Record<string, Vnet>> = Object.fromEntries(
  DEFAULT_REGIONS.map((region) => [
    region.name,
    {
      key: region.name,
      bridge: `fps-br-${region.name}`,
      addressSpace: region.vnetCidr,
      subnet: region.subnetCidr,
      prefixLength: Number(region.subnetCidr.split("/")[1]),
      routerIp: hostOf(region.subnetCidr, 1),
      dockerHubIp: hostOf(region.subnetCidr, 2),
      routerInterface: region.name,
      routerHostVeth: `fps-rt-${region.name}`,
      nicDnsSuffix: `${region.name}.sandbox.internal.cloudapp.net`,
    },
  ]),
);

/** The sandbox's own names and public addresses for each FlowProxy VM, in region order. */
const PROXY_WIRING = [
  { hostVeth: "fps-eus0", publicIp: "198.18.0.10", publicHostVeth: "fps-eus1" },
  { hostVeth: "fps-weu0", publicIp: "198.18.0.20", publicHostVeth: "fps-weu1" },
];

/**
 * BuilderHub comes first: its extension must finish before the FlowProxy VMs register with it.
 * Each VM is where the plan places it (HOST_NUMBER); BuilderHub lives in the first region.
 */
export const VMS: readonly Vm[] = [
  {
    name: BUILDERHUB.vmName,
    role: "builderhub",
    vnet: DEFAULT_REGIONS[0].name,
    privateIp: hostOf(DEFAULT_REGIONS[0].subnetCidr, HOST_NUMBER.builderhub),
    hostVeth: "fps-bh0",
  },
  ...DEFAULT_REGIONS.map(
    (region, i): Vm => ({
      name: flowproxyVmName(region.location),
      role: "flowproxy",
      vnet: region.name,
      privateIp: hostOf(region.subnetCidr, HOST_NUMBER.flowproxy),
      ...PROXY_WIRING[i],
    }),
  ),
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
 * Docker Hub as the VMs see it: the Docker Hub double (its token service and the authorization and
 * pull rate limit of its registry) on the host's second address on the internet bridge, in front of
 * Debian's docker-registry on loopback, serving TLS for Docker Hub's own names with a certificate
 * from the sandbox CA, so `docker login` and `docker pull haproxy:TAG` in a VM go where they go on
 * Azure, by name: dockerd talks to registry-1.docker.io and the realm its challenge names,
 * auth.docker.io (index.docker.io is only the key the docker client files the login under). The
 * router relays connections to each VNet's `dockerHubIp` to it, as it relays the other doubles.
 */
export const DOCKER_HUB = {
  hostIp: "198.18.0.3",
  port: 443,
  hostnames: ["registry-1.docker.io", "auth.docker.io"],
} as const;

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
