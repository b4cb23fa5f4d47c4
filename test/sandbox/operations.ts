// Section 6 of the reliability report: what operators do to a running stack, played on the sandbox
// (sandbox/scenarios/operations.ts). Reboots are real: systemd inside the VM shuts down and boots
// again, and no extension reruns, as on Azure. The last scenarios change the sandbox most: a
// generation-2 FlowProxy, then a fresh sandbox whose VMs make their own keys.
import assert from "node:assert/strict";
import { BUILDERHUB } from "../../lib/contract";
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
} from "../../sandbox/scenarios/operations";
import { describeLoad } from "../../sandbox/probe";
import { flowproxyVms, vmByName } from "../../sandbox/topology";
import { reportSection } from "../support/evidence";
import { firstUp, signerOutput } from "./bring-up";

const [east] = flowproxyVms();

reportSection(
  {
    title: "6. Operator scenarios",
    intro:
      "Things an operator does to a running stack, on the sandbox: a pass means the scenario's evidence below was seen " +
      "(signed bundles, EIP-191 like a searcher's, sent to one proxy's public :443 and accepted by the other's system " +
      `endpoint, counted in FlowProxy's own metrics), within ${HEAL_BUDGET_MS / 1000} s where BuilderHub must heal. ` +
      "Reboots are real: systemd inside the VM shuts down and boots again, and the extension does not rerun, as on Azure; " +
      "HAProxy and mockhub come back by Docker's restart policy. " +
      "The last scenarios change the sandbox: a generation-2 FlowProxy, then a fresh sandbox whose VMs make their own keys.",
    columns: ["evidence"],
  },
  (check) => {
    check("a haProxyVersion change pulls the other HAProxy, checks the config with it and replaces the container with every request in flight answered; a digest pin pulls", async () => {
      const change = await changeHaproxyVersion();
      const { sent, ok, failures } = change.load;
      assert.equal(failures.ECONNREFUSED, undefined, "the new container listens before the old one stops");
      assert.ok(sent >= 300, `only ${sent} requests were sent during the change`);
      assert.equal(ok, sent, `${ok} of ${sent} answered 200 during the change (${describeLoad(change.load)})`);
      return [change.evidence];
    });
    check("FlowProxy killed is restarted by systemd, registering its certificate first", async () => [await killFlowproxy(east)]);
    check("BuilderHub restarted forgets every proxy; the registry heals within 2 minutes and system flow flows again", async () => [
      (await restartBuilderhub()).evidence,
    ]);
    check("a BuilderHub that lists another certificate for a signer is reported by provisioning and in the journal, never passed", async () => [
      await conflictingRegistration(firstUp().stack, signerOutput(east)),
    ]);
    for (const vm of [...flowproxyVms(), vmByName(BUILDERHUB.vmName)]) {
      check(`a reboot of ${vm.name} brings everything back with the same keys, certificate and registration, without rerunning its extension`, async () => [
        await rebootAndCheck(vm),
      ]);
    }
    check("a generation-2 artifact under flowProxyGeneration 1 is refused, naming the key and the value; FlowProxy keeps running", async () => [
      await generationMismatch(),
    ]);
    check("generation 2: HAProxy's system frontend turns to TCP and signed flow crosses over the TCP system API", async () => [await switchToGeneration2()]);
    check("signerKeySource vm: each VM makes its key with Foundry's cast, registers it, and signed flow crosses with it", async () => [await signerKeysOnVms()]);
  },
);
