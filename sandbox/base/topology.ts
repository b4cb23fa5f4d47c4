// The sandbox's one table of names and addresses. The network, the DNS server, the CLI, the
// end-to-end suite and the benchmarks all read them from here. The VNets are the stack's default
// plan (lib/contract.ts); the VMs and their private addresses are the fleet the sandbox's region
// table makes (lib/fleet.ts, as the program declares it); the bridges, veths and the "internet" are
// the sandbox's own.
//
// Everything lives either on loopback or inside network namespaces this sandbox creates: the VNet
// bridges have no host address, and the "internet" is a bridge holding the host's 198.18.0.1
// (RFC 2544 benchmark range), where the GitHub double listens, the FlowProxy VMs' public IPs and
// the router's relay address. Nothing routes off the machine: the router namespace that joins the
// two VNets has no default route, and reaches the internet bridge only through a TCP relay.
import { formatIpv4, parseCidr } from "../../lib/cidr";
import { DEFAULT_REGIONS, flowproxyVmName, RegionPlan, Role } from "../../lib/contract";
import { fleetPlan, plannedAddress } from "../../lib/fleet";
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
  /** FlowProxy VMs only: the prefix of their stack outputs (east, east2). */
  outputName?: string;
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

/**
 * The sandbox's region table: the default regions, eastus with two FlowProxy VMs, so proxies of one
 * region peer with each other as well as across regions. The sandbox's stack configuration deploys
 * it (stack-config.ts); a test may deploy the same regions with other counts.
 */
export const SANDBOX_REGIONS: readonly RegionPlan[] = DEFAULT_REGIONS.map((region, i) =>
  i === 0 ? { ...region, proxies: 2 } : region,
);

/** The most FlowProxy VMs a sandbox region takes: its public IPs are numbered within ten of each other. */
const MAX_SANDBOX_PROXIES = 9;

/**
 * The VMs a table of the sandbox's regions makes, BuilderHub first (its extension must finish
 * before the FlowProxy VMs register with it), each where the plan places it. A FlowProxy VM's
 * sandbox wiring follows from its region and number, so it is the same in every table: the nth
 * proxy of the kth region has the public IP 198.18.0.(10k + n - 1), from .10.
 */
export function fleetVms(regions: readonly RegionPlan[]): Vm[] {
  const table = regions.map((region) => {
    if (
      !Object.values(VNETS).some(
        (v) => v.key === region.name && v.subnet === region.subnetCidr && v.addressSpace === region.vnetCidr,
      )
    ) {
      throw new SandboxError(
        `the sandbox's networks are those of its own regions (${Object.keys(VNETS).join(", ")}); ${region.name} ${region.vnetCidr} ${region.subnetCidr} is not one`,
      );
    }
    const proxies = region.proxies ?? 1;
    if (proxies > MAX_SANDBOX_PROXIES)
      throw new SandboxError(
        `the sandbox runs at most ${MAX_SANDBOX_PROXIES} FlowProxy VMs in a region; ${region.name} asks for ${proxies}`,
      );
    return { ...region, proxies };
  });
  return fleetPlan(table).map((vm): Vm => {
    const placed = {
      name: vm.vmName,
      role: vm.role,
      vnet: table[vm.region].name,
      privateIp: plannedAddress(table, vm),
    };
    if (vm.role === "builderhub") return { ...placed, hostVeth: "fps-bh0" };
    const leg = `fps-r${vm.region}p${vm.number}`;
    return {
      ...placed,
      hostVeth: `${leg}v`,
      publicIp: `198.18.0.${10 * (vm.region + 1) + vm.number - 1}`,
      publicHostVeth: `${leg}i`,
      outputName: vm.outputName,
    };
  });
}

/**
 * The region table a stack configuration deploys (its `regions`, as JSON): the sandbox's own when
 * it sets none, or sets one the program will refuse anyway.
 */
export function regionsOfConfig(regionsJson: string | undefined): readonly RegionPlan[] {
  try {
    const parsed: unknown = regionsJson === undefined ? undefined : JSON.parse(regionsJson);
    return Array.isArray(parsed) ? (parsed as RegionPlan[]) : SANDBOX_REGIONS;
  } catch {
    return SANDBOX_REGIONS;
  }
}

/** The VMs of the sandbox's own stack (SANDBOX_REGIONS). */
export const VMS: readonly Vm[] = fleetVms(SANDBOX_REGIONS);

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

/** Every VM the sandbox's regions can hold, whatever their counts: a grown region's VMs too. */
const EVERY_VM: readonly Vm[] = fleetVms(
  SANDBOX_REGIONS.map((region) => ({ ...region, proxies: MAX_SANDBOX_PROXIES })),
);

export function vmByName(name: string): Vm {
  const vm = VMS.find((v) => v.name === name) ?? EVERY_VM.find((v) => v.name === name);
  if (!vm) {
    throw new SandboxError(`unknown sandbox VM "${name}"; known: ${VMS.map((v) => v.name).join(", ")}`);
  }
  return vm;
}

/**
 * Each sandbox region's first FlowProxy VM (vm-eastus, vm-westeurope): the proxies a stack of one
 * proxy per region has, between which the scenarios send flow across regions.
 */
export const FIRST_PROXIES: readonly Vm[] = SANDBOX_REGIONS.map((region) => vmByName(flowproxyVmName(region.location)));

/** The VMs of `names` the sandbox's regions can hold, in the order fleetVms lists them. */
export function vmsNamed(names: Iterable<string>): Vm[] {
  const wanted = new Set(names);
  return EVERY_VM.filter((vm) => wanted.has(vm.name));
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
