// The policies of the pack: each wraps a rule from rules.ts with its name, description and
// enforcement level. Kept apart from index.ts, which starts the policy server, so tests can run
// these exact objects against rendered resources.
import type { Policies, ReportViolation, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { UBUNTU_IMAGE } from "../lib/contract";
import {
  ResourceLike,
  TYPES,
  builderhubPublicIp,
  isProductionStack,
  nsgPortsOutsideSpec,
  passwordLoginEnabled,
  regionsWithoutFlowProxy,
  secretsInPublicSettings,
  secretsInStackOutputs,
  sshOpenToWorld,
  stackFromUrn,
  subnetsOverfull,
  unsupportedImage,
  vmSizeUnknown,
  vnetCidrsOf,
} from "./rules";

/** The parts of the engine's arguments the rules read. */
type ResourceArgs = Pick<ResourceValidationArgs, "type" | "name" | "props" | "urn">;
type StackArgs = { resources: Pick<StackValidationArgs["resources"][number], "type" | "name" | "props" | "urn">[] };

function resourcePolicy(check: (resource: ResourceLike, args: ResourceArgs) => string[]) {
  return (args: ResourceArgs, report: ReportViolation) => {
    for (const message of check({ type: args.type, name: args.name, props: args.props }, args))
      report(message, args.urn);
  };
}

const stackOf = (args: ResourceArgs) => stackFromUrn(args.urn);

export const policies: Policies = [
  {
    name: "ssh-not-open-to-internet",
    description:
      "SSH (22/tcp) is not open to the whole internet. Advisory; the production twin of this rule is mandatory.",
    enforcementLevel: "advisory",
    validateResource: resourcePolicy((r, args) => (isProductionStack(stackOf(args)) ? [] : sshOpenToWorld(r))),
  },
  {
    name: "ssh-not-open-to-internet-production",
    description: "On stacks named like production (/prod/i), SSH (22/tcp) must not be open to the whole internet.",
    enforcementLevel: "mandatory",
    validateResource: resourcePolicy((r, args) => (isProductionStack(stackOf(args)) ? sshOpenToWorld(r) : [])),
  },
  {
    name: "builderhub-no-public-ip",
    description: "BuilderHub never gets a public IP: it is reached through the VNets only.",
    enforcementLevel: "mandatory",
    validateResource: resourcePolicy(builderhubPublicIp),
  },
  {
    name: "no-secret-in-extension-settings",
    description: "No secret in a VM extension's public settings; secrets go in protectedSettings.",
    enforcementLevel: "mandatory",
    validateResource: resourcePolicy(secretsInPublicSettings),
  },
  {
    name: "no-secret-in-stack-outputs",
    description: "No stack output holds a secret (tokens, keys, private keys).",
    enforcementLevel: "mandatory",
    validateStack: (args: StackArgs, report: ReportViolation) => {
      for (const stack of args.resources.filter((r) => r.type === TYPES.stack)) {
        for (const message of secretsInStackOutputs(stack)) report(message, stack.urn);
      }
    },
  },
  {
    name: "vm-password-login-disabled",
    description: "Every VM keeps password login disabled (SSH keys only, no admin password).",
    enforcementLevel: "mandatory",
    validateResource: resourcePolicy(passwordLoginEnabled),
  },
  {
    name: "nsg-spec-ports-only",
    description:
      "NSGs open only the spec's ports: 22, 80, 443, 5544 and ICMP from the VNets; BuilderHub 3000, 22 and ICMP from the VNets.",
    enforcementLevel: "mandatory",
    validateStack: (args: StackArgs, report: ReportViolation) => {
      const vnetCidrs = vnetCidrsOf(args.resources);
      for (const r of args.resources.filter((x) => x.type === TYPES.nsg || x.type === TYPES.securityRule)) {
        for (const message of nsgPortsOutsideSpec(r, vnetCidrs)) report(message, r.urn);
      }
    },
  },
  {
    name: "vm-image-supported-ubuntu",
    description: `VMs boot ${UBUNTU_IMAGE.publisher} ${UBUNTU_IMAGE.offer} ${UBUNTU_IMAGE.sku} (Ubuntu 22.04 LTS), the release the provisioning supports.`,
    enforcementLevel: "mandatory",
    validateResource: resourcePolicy(unsupportedImage),
  },
  {
    name: "vm-size-azure-name",
    description:
      "Every VM's size is an Azure size name (Standard_...), as each region's vmSize and the stack's vmSize must be.",
    enforcementLevel: "mandatory",
    validateResource: resourcePolicy(vmSizeUnknown),
  },
  {
    name: "region-runs-a-flowproxy",
    description: "Every region's VNet has at least one FlowProxy VM in its location.",
    enforcementLevel: "mandatory",
    validateStack: (args: StackArgs, report: ReportViolation) => {
      for (const message of regionsWithoutFlowProxy(args.resources)) report(message);
    },
  },
  {
    name: "subnet-fits-its-vms",
    description: "A region's subnet has an address for each of its NICs: its size less the 5 addresses Azure keeps.",
    enforcementLevel: "mandatory",
    validateStack: (args: StackArgs, report: ReportViolation) => {
      for (const message of subnetsOverfull(args.resources)) report(message);
    },
  },
];
