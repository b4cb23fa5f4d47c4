// Section of the reliability report: what operators do to a running stack (issue 8), played on
// the sandbox by the same scenarios the end-to-end suite runs (sandbox/scenarios.ts).
import {
  changeHaproxyVersion,
  conflictingRegistration,
  generationMismatch,
  HEAL_BUDGET_MS,
  killFlowproxy,
  rebootAndCheck,
  restartBuilderhub,
  signerKeysOnVms,
  switchToGeneration2,
} from "../sandbox/scenarios";
import { RenderedStack } from "../sandbox/stack";
import { vmByName } from "../sandbox/topology";
import { Section } from "./reliability-checks";

export async function operationsSection(committed: RenderedStack): Promise<Section> {
  const section = new Section(
    "6. Operator scenarios",
    "Things an operator does to a running stack, on the sandbox: a pass means the scenario's evidence below was seen " +
      "(signed bundles, EIP-191 like a searcher's, sent to one proxy's public :443 and accepted by the other's system " +
      `endpoint, counted in FlowProxy's own metrics), within ${HEAL_BUDGET_MS / 1000} s where BuilderHub must heal. ` +
      "Reboots are real: systemd inside the VM shuts down and boots again, and the extension does not rerun, as on Azure; " +
      "HAProxy and mockhub come back by Docker's restart policy. " +
      "The last scenarios change the sandbox: a generation-2 FlowProxy, then a fresh sandbox whose VMs make their own keys.",
    ["evidence"],
  );
  const scenario = (name: string, play: () => Promise<string>) =>
    section.run(name, async () => ({ passed: true, evidence: [await play()] }));
  const east = vmByName("vm-eastus");
  await scenario("FlowProxy killed (SIGKILL) on vm-eastus", () => killFlowproxy(east));
  await scenario("BuilderHub's container restarted (the registry is in memory)", async () => (await restartBuilderhub()).evidence);
  await scenario("BuilderHub lists a signer without its certificate (FlowProxy's own registration first)", () =>
    conflictingRegistration(committed, String(committed.outputs.eastSignerAddress?.value)),
  );
  for (const name of ["vm-eastus", "vm-westeurope", "vm-builderhub"] as const) {
    await scenario(`reboot of ${name}`, () => rebootAndCheck(vmByName(name)));
  }
  await scenario("haProxyVersion changed under load (real Docker engine, image from the sandbox's Docker Hub)", async () =>
    (await changeHaproxyVersion()).evidence,
  );
  await scenario("a generation-2 build while flowProxyGeneration is 1", generationMismatch);
  await scenario("switch to generation 2 (flowProxyGeneration 2 and a 2.x build)", switchToGeneration2);
  await scenario("signerKeySource vm on a fresh sandbox", signerKeysOnVms);
  section.finish();
  return section;
}
