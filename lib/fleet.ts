// The VMs a region table makes, in one place: each one's name, role, region and address in its
// subnet, and the reverse DNS names of the subnets. The program declares its VMs from this table,
// and the plan's mocks and the sandbox place them by it, so no other file numbers VMs or addresses.
import { cidrSize, formatIpv4, parseCidr, parseIpv4 } from "./cidr";
import { BUILDERHUB, flowproxyVmName, proxySiteName, Role } from "./contract";
import { proxyOutputName } from "./outputs";

/** What the fleet needs of a region-table entry. */
export interface FleetRegion {
  name: string;
  location: string;
  subnetCidr: string;
  proxies: number;
}

export interface FleetVm {
  vmName: string;
  role: Role;
  /** Its region's place in the table; BuilderHub's is 0. */
  region: number;
  /** A FlowProxy VM's number in its region, from 1; BuilderHub's is 1. */
  number: number;
  /** FlowProxy VMs: where their public IP and NSG names put them (eastus, eastus-2). */
  site: string;
  /** FlowProxy VMs: the prefix of their stack outputs (east, east2). */
  outputName: string;
  /** The address the plan gives it: this many addresses past its subnet's network address. */
  hostNumber: number;
}

/** Azure keeps a subnet's network address, the next three (gateway and DNS) and its broadcast address. */
export const AZURE_RESERVED_ADDRESSES = 5;
/** The first address Azure hands out: .4 of a /24. */
const FIRST_HOST = 4;

/** How many NICs Azure can place in a subnet. */
export function usableAddresses(subnetCidr: string): number {
  const subnet = parseCidr(subnetCidr);
  return typeof subnet === "string" ? 0 : Math.max(0, cidrSize(subnet) - AZURE_RESERVED_ADDRESSES);
}

/** How many VMs a region's subnet holds: its proxies, and BuilderHub in the first region. */
export const vmsInRegion = (region: Pick<FleetRegion, "proxies">, index: number): number =>
  region.proxies + (index === 0 ? 1 : 0);

/**
 * Every VM of the table, BuilderHub first (the others register with it), then each region's
 * FlowProxy VMs in order. Azure hands out a subnet's addresses from .4 in the order NICs are made:
 * a region's first proxy, then BuilderHub in the first region, then the proxies a region grew by,
 * which is the order a stack made with one proxy per region and grown later gets them in.
 */
export function fleetPlan(regions: readonly FleetRegion[]): FleetVm[] {
  const proxies = regions.flatMap((region, i) =>
    Array.from({ length: region.proxies }, (_, k): FleetVm => {
      const number = k + 1;
      const builderhubBefore = i === 0 && number > 1 ? 1 : 0;
      return {
        vmName: flowproxyVmName(region.location, number),
        role: "flowproxy",
        region: i,
        number,
        site: proxySiteName(region.location, number),
        outputName: proxyOutputName(region.name, number),
        hostNumber: FIRST_HOST + k + builderhubBefore,
      };
    }),
  );
  if (regions.length === 0) return proxies;
  const builderhub: FleetVm = {
    vmName: BUILDERHUB.vmName,
    role: "builderhub",
    region: 0,
    number: 1,
    site: regions[0].location,
    outputName: BUILDERHUB.dnsLabel,
    hostNumber: FIRST_HOST + Math.min(1, regions[0].proxies),
  };
  return [builderhub, ...proxies];
}

/** The address the plan gives a VM of the table (plan/mocks.ts, the sandbox). */
export function plannedAddress(regions: readonly FleetRegion[], vm: FleetVm): string {
  const subnet = parseCidr(regions[vm.region].subnetCidr);
  if (typeof subnet === "string") throw new Error(`subnetCidr ${regions[vm.region].subnetCidr} ${subnet}`);
  return formatIpv4(subnet.base + vm.hostNumber);
}

const octetsOf = (value: number): number[] => [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256);

/**
 * The reverse DNS zone of a subnet: the in-addr.arpa name of the whole octets its prefix fixes, so
 * 10.10.1.0/24 (and a /28 inside it) gives 1.10.10.in-addr.arpa and 10.10.0.0/23 gives 10.10.in-addr.arpa.
 */
export function reverseZoneOf(subnetCidr: string): string {
  const subnet = parseCidr(subnetCidr);
  if (typeof subnet === "string") throw new Error(`subnetCidr ${subnetCidr} ${subnet}`);
  const fixed = octetsOf(subnet.base).slice(0, Math.max(1, Math.floor(subnet.prefix / 8)));
  return `${fixed.reverse().join(".")}.in-addr.arpa`;
}

/** An address's PTR record within `zone`, relative to it: 10.10.1.4 in 1.10.10.in-addr.arpa is "4". */
export function reverseRecordName(ip: string, zone: string): string {
  const value = parseIpv4(ip);
  if (value === undefined) throw new Error(`"${ip}" is no IPv4 address`);
  const full = `${octetsOf(value).reverse().join(".")}.in-addr.arpa`;
  if (!full.endsWith(`.${zone}`)) throw new Error(`${ip} lies outside the reverse zone ${zone}`);
  return full.slice(0, -(zone.length + 1));
}
