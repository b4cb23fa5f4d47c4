// The VMs a stack deployed, read from its outputs alone, by the names lib/outputs.ts gives them: per
// FlowProxy VM <name>PublicIp, ssh<Name>, <name>PrivateFqdn and <name>SignerAddress (<name> is its
// region's name, and its number after the region's first VM: east, east2), plus BuilderHub's
// sshBuilderhub and builderhubNicPrivateFqdn. A region or a proxy added to the config adds its
// outputs, and the verify checks it too.
import { BUILDERHUB_OUTPUTS, proxyPrefixOf, vmOutputNames } from "../lib/outputs";
import { VerifyError } from "./target";

export interface ProxyVm {
  name: string;
  region: string;
  publicIp: string;
  /** The ssh command the stack prints for it. */
  ssh: string;
  /** Its private address, where BuilderHub's Prometheus scrapes it when monitoring is on. */
  privateIp?: string;
  /** The signer address, or undefined when the VM made its key (signerKeySource vm). */
  signer?: string;
}

export interface BuilderhubVm {
  name: string;
  /** The `ssh -J` command of sshBuilderhub: BuilderHub has no public IP. */
  ssh: string;
}

export interface Layout {
  builderhub: BuilderhubVm;
  proxies: ProxyVm[];
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** The first label of an FQDN: the program names DNS records and NIC labels after their VM. */
const firstLabel = (fqdn: string) => fqdn.split(".")[0];

export function layoutOf(outputs: Record<string, string>, description: string): Layout {
  const required = (key: string): string => {
    const value = outputs[key];
    if (value === undefined || value.trim() === "") {
      const why = value === undefined ? "has no output" : "has an empty output";
      throw new VerifyError(
        `${description} ${why} ${key}; run \`pulumi up\` with this checkout's program, which exports it`,
      );
    }
    return value.trim();
  };
  const regions = Object.keys(outputs)
    .map(proxyPrefixOf)
    .filter((region): region is string => region !== undefined);
  if (regions.length === 0) {
    throw new VerifyError(`${description} has no <region>PublicIp output: is it a deployed flowproxy-staging stack?`);
  }
  const proxies = regions.map((region): ProxyVm => {
    const names = vmOutputNames(region);
    const signer = required(names.signerAddress);
    return {
      name: firstLabel(required(names.privateFqdn)),
      region,
      publicIp: required(names.publicIp),
      ssh: required(names.ssh),
      privateIp: outputs[names.privateIp] || undefined,
      signer: ADDRESS.test(signer) ? signer : undefined,
    };
  });
  const builderhub = {
    name: firstLabel(required(BUILDERHUB_OUTPUTS.nicPrivateFqdn)),
    ssh: required(BUILDERHUB_OUTPUTS.ssh),
  };
  return { builderhub, proxies };
}
