// The names of the stack's outputs, made in one place: the program exports them (index.ts), verify
// finds a deployed stack's VMs by them (verify/layout.ts), and docs/STACK.md's table is checked
// against them (test/unit/lib/outputs.test.ts).
import { BUILDERHUB } from "./contract";

/** The prefix of a FlowProxy VM's outputs: the region's name, then the VM's number after the first (east, east2). */
export const proxyOutputName = (regionName: string, number = 1): string =>
  number === 1 ? regionName : `${regionName}${number}`;

const capitalized = (s: string) => s[0].toUpperCase() + s.slice(1);

const PUBLIC_IP_SUFFIX = "PublicIp";

/** The outputs of one VM under its prefix. */
export function vmOutputNames(prefix: string) {
  return {
    publicIp: `${prefix}${PUBLIC_IP_SUFFIX}`,
    privateIp: `${prefix}PrivateIp`,
    /** The ssh command for the VM: straight to its public IP, or through the jump host for BuilderHub. */
    ssh: `ssh${capitalized(prefix)}`,
    privateFqdn: `${prefix}PrivateFqdn`,
    nicPrivateFqdn: `${prefix}NicPrivateFqdn`,
    signerAddress: `${prefix}SignerAddress`,
  };
}

const builderhubVm = vmOutputNames(BUILDERHUB.dnsLabel);

/** BuilderHub's outputs: no public IP and no signer of its own, but a sentence on how to reach it and, with monitoring, the tunnel. */
export const BUILDERHUB_OUTPUTS = {
  privateIp: builderhubVm.privateIp,
  privateFqdn: builderhubVm.privateFqdn,
  nicPrivateFqdn: builderhubVm.nicPrivateFqdn,
  /** `ssh -J` through the first proxy of its region. */
  ssh: builderhubVm.ssh,
  /** How to reach BuilderHub in a sentence: the jump host, and Tailscale when configured. */
  sshNote: `${BUILDERHUB.dnsLabel}SshNote`,
  /** With monitoring on: the `ssh -L` command that brings Prometheus's page to the operator's machine. */
  prometheusTunnel: "prometheusTunnel",
};

/** The FlowProxy VM prefix of an output name, when it is a `<prefix>PublicIp`; every proxy, and only a proxy, has one. */
export function proxyPrefixOf(outputName: string): string | undefined {
  return new RegExp(`^([a-z][A-Za-z0-9]*)${PUBLIC_IP_SUFFIX}$`).exec(outputName)?.[1];
}
