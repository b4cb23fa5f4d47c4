// What the sandbox deploys, from the program itself: plan/evaluate.ts evaluates it with the
// sandbox's configuration and the sandbox VMs' addresses, and the sandbox runs the extensions, DNS
// records, NSGs and OS profiles of that evaluation. Nothing here re-types them. The evaluations run
// in a process of their own (plan/evaluator-process.ts): the sandbox spawns hundreds of commands,
// each a fork of this process, and the end-to-end suite drives it from node:test.
import { scriptVariable } from "../../lib/provision";
import {
  AddressPlan,
  decodeScript,
  Evaluation,
  EvaluationRequest,
  ExtensionInfo,
  ProgramFailure,
  ProgramRefusal,
} from "../../plan/evaluation";
import { EvaluatorProcess } from "../../plan/evaluator-process";
import { SandboxError } from "../base/proc";
import { fleetVms, nicFqdnOf, regionsOfConfig, Vm } from "../base/topology";

const evaluator = new EvaluatorProcess();

/** Where the mocks place each VM: the sandbox VMs' own addresses. */
export function sandboxAddresses(vms: readonly Vm[]): AddressPlan {
  return Object.fromEntries(
    vms.map((vm) => [
      vm.name,
      { privateIp: vm.privateIp, ...(vm.publicIp ? { publicIp: vm.publicIp } : {}), nicFqdn: nicFqdnOf(vm) },
    ]),
  );
}

/** The sandbox VMs a stack configuration deploys: the fleet of its region table. */
export const vmsOfRequest = (request: EvaluationRequest): Vm[] => fleetVms(regionsOfConfig(request.config.regions));

/**
 * Evaluates the program for the sandbox. `projectDir` evaluates another copy of the program
 * (plan/evaluate.ts withEditedProject), so a changed file can be deployed without touching the checkout.
 */
export async function evaluateForSandbox(request: EvaluationRequest, projectDir?: string): Promise<Evaluation> {
  try {
    return await evaluator.evaluate({ ...request, projectDir, addresses: sandboxAddresses(vmsOfRequest(request)) });
  } catch (err) {
    if (err instanceof ProgramRefusal) throw new SandboxError(err.message);
    if (err instanceof ProgramFailure) throw new SandboxError(err.message);
    throw err;
  }
}

/**
 * The extensions in the order Azure may run them: each batch waits for the previous one. An
 * extension waits for another when it depends on that one's resource; extensions with no
 * dependency between them run in parallel, so a missing dependency shows up here as it would on Azure.
 */
export function extensionBatches(extensions: readonly ExtensionInfo[]): ExtensionInfo[][] {
  const waitsFor = (a: ExtensionInfo, b: ExtensionInfo) => a !== b && a.dependsOn.includes(b.resource);
  const batches: ExtensionInfo[][] = [];
  let remaining = [...extensions];
  while (remaining.length > 0) {
    const ready = remaining.filter((a) => !remaining.some((b) => waitsFor(a, b)));
    if (ready.length === 0) {
      throw new SandboxError(
        `the extensions depend on each other in a cycle: ${remaining.map((e) => e.vmName).join(", ")}`,
      );
    }
    batches.push(ready);
    remaining = remaining.filter((e) => !ready.includes(e));
  }
  return batches;
}

/** The signer key a VM's extension carries (SIGNER_KEY of its script): the stack's, with signerKeySource "stack". */
export function signerKeyOf(stack: Evaluation, vmName: string): string {
  const extension = stack.extensions.find((e) => e.vmName === vmName);
  const key = extension && scriptVariable(decodeScript(extension.script), "SIGNER_KEY");
  if (!key) throw new SandboxError(`the stack gives ${vmName} no signer key (is signerKeySource "stack"?)`);
  return key;
}
