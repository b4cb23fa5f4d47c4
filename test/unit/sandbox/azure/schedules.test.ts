// The sandbox's stand-in for Azure's auto-shutdown schedules (sandbox/azure/schedules.ts) takes the
// program's schedules and refuses, naming why, each schedule Azure refuses: another name than
// shutdown-computevm-<vm>, a target that is no VM of the stack, a schedule outside its VM's
// resource group, another task or recurrence, a time that is not HHMM, a time zone that is no
// Windows id. The program refuses such input itself, so each refusal is of the program's
// evaluation changed after it, as a changed index.ts could send it.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { EvaluatedResource, Evaluation } from "../../../../plan/evaluation";
import { SandboxError } from "../../../../sandbox/base/proc";
import { autoShutdownSchedules } from "../../../../sandbox/azure/schedules";
import { SANDBOX_REGIONS } from "../../../../sandbox/base/topology";
import { autoShutdownRequest, evaluated } from "../../../support/program";

describe("the sandbox's auto-shutdown schedules", () => {
  let stack: Evaluation;
  before(async () => {
    stack = await evaluated(autoShutdownRequest());
  });

  /** The evaluation with vm-eastus-2's schedule changed by `edit`. */
  const edited = (edit: (schedule: EvaluatedResource) => void): Evaluation => {
    const copy = structuredClone(stack);
    edit(copy.resources.find((r) => r.name === "shutdown-vm-eastus-2")!);
    return copy;
  };
  const refusal = (edit: (schedule: EvaluatedResource) => void, expected: RegExp) =>
    assert.throws(
      () => autoShutdownSchedules(edited(edit)),
      (err: unknown) => err instanceof SandboxError && expected.test(err.message),
    );

  test("takes the program's schedule of every VM of the sandbox's regions", () => {
    assert.equal(
      autoShutdownRequest().config.regions,
      JSON.stringify(SANDBOX_REGIONS),
      "the sandbox's own region table",
    );
    assert.deepEqual(
      autoShutdownSchedules(stack).sort((a, b) => a.vmName.localeCompare(b.vmName)),
      ["vm-builderhub", "vm-eastus", "vm-eastus-2", "vm-westeurope"].map((vmName) => ({
        vmName,
        time: "1900",
        timeZoneId: "W. Europe Standard Time",
        enabled: true,
      })),
    );
  });

  test("refuses a schedule named other than shutdown-computevm-<vm>", () =>
    refusal(
      (s) => (s.inputs.name = "nightly-vm-eastus-2"),
      /"nightly-vm-eastus-2" \(400 Bad Request\): the auto-shutdown of vm-eastus-2 must be named shutdown-computevm-vm-eastus-2$/,
    ));

  test("refuses a schedule whose target is no VM of the stack", () =>
    refusal(
      (s) => (s.inputs.targetResourceId = String(s.inputs.targetResourceId).replace(/vm-eastus-2$/, "vm-eastus-9")),
      /\(404 Not Found\): its targetResourceId ".*\/vm-eastus-9" names no VM of the stack$/,
    ));

  test("refuses a schedule outside its VM's resource group", () =>
    refusal(
      (s) => (s.inputs.resourceGroupName = "rg-flowproxy-staging-dev-westeurope"),
      /in the resource group "rg-flowproxy-staging-dev-westeurope", its VM vm-eastus-2 in "rg-flowproxy-staging-dev-eastus"/,
    ));

  test("refuses another task than ComputeVmShutdownTask", () =>
    refusal(
      (s) => (s.inputs.taskType = "LabVmsShutdownTask"),
      /taskType "LabVmsShutdownTask": a VM's schedule runs ComputeVmShutdownTask only$/,
    ));

  test("refuses a weekly recurrence", () =>
    refusal((s) => (s.inputs.weeklyRecurrence = { time: "1900", weekdays: ["Friday"] }), /recurs daily only/));

  test("refuses a time that is not HHMM", () =>
    refusal(
      (s) => (s.inputs.dailyRecurrence = { time: "19:00" }),
      /dailyRecurrence\.time "19:00" is not a time of day as HHMM/,
    ));

  test("refuses an IANA time zone name", () =>
    refusal(
      (s) => (s.inputs.timeZoneId = "Europe/Berlin"),
      /timeZoneId "Europe\/Berlin" is not a Windows time zone id$/,
    ));
});
