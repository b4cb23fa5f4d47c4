// Cost control: with autoShutdownTime, every VM of the fleet (each proxy of each region and
// BuilderHub) gets Azure's auto-shutdown, a schedule of its own in its resource group aimed at it;
// without the key there is none. The time zone reaches Azure as Windows spells it.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { EvaluatedResource, Evaluation } from "../../../plan/evaluation";
import { PlanGraph } from "../../../plan/graph";
import { formatPlan } from "../../../plan/text";
import { autoShutdownRequest, evaluated, grownRequest } from "../../support/program";

const SCHEDULE = "azure-native:devtestlab:GlobalSchedule";
const VM = "azure-native:compute:VirtualMachine";

const schedules = (stack: Evaluation): EvaluatedResource[] => stack.resources.filter((r) => r.type === SCHEDULE);
const vms = (stack: Evaluation): EvaluatedResource[] => stack.resources.filter((r) => r.type === VM);

describe("auto-shutdown", () => {
  let withKey: Evaluation;
  let withoutKey: Evaluation;
  before(async () => {
    [withKey, withoutKey] = await Promise.all([evaluated(autoShutdownRequest()), evaluated(grownRequest())]);
  });

  test("every VM, each proxy of every region and BuilderHub, gets one schedule", () => {
    const targets = schedules(withKey)
      .map((s) => String(s.inputs.targetResourceId).split("/").pop())
      .sort();
    assert.deepEqual(targets, ["vm-builderhub", "vm-eastus", "vm-eastus-2", "vm-westeurope"]);
    assert.deepEqual(
      targets,
      vms(withKey)
        .map((vm) => vm.state.name)
        .sort(),
    );
  });

  test("each schedule is named shutdown-computevm-<vm>, in its VM's resource group and region, aimed at the VM's id", () => {
    for (const schedule of schedules(withKey)) {
      const vm = vms(withKey).find((v) => v.name === schedule.options.dependsOn.find((d) => d.startsWith("vm-")))!;
      assert.ok(vm, `${schedule.name} waits for its VM`);
      assert.equal(schedule.inputs.name, `shutdown-computevm-${String(vm.inputs.vmName)}`);
      assert.equal(schedule.state.name, schedule.inputs.name, "Azure answers with that name");
      assert.equal(
        schedule.inputs.targetResourceId,
        `/subscriptions/00000000-0000-0000-0000-000000000000/mock/${VM}/${String(vm.inputs.vmName)}`,
      );
      assert.equal(schedule.inputs.resourceGroupName, vm.inputs.resourceGroupName, `${schedule.name}'s group`);
      assert.equal(schedule.inputs.location, vm.inputs.location, `${schedule.name}'s region`);
    }
  });

  test("each schedule stops its VM daily at the configured time and Windows time zone", () => {
    for (const schedule of schedules(withKey)) {
      const { taskType, dailyRecurrence, timeZoneId, status, weeklyRecurrence, hourlyRecurrence } = schedule.inputs;
      assert.deepEqual(
        { taskType, dailyRecurrence, timeZoneId, status, weeklyRecurrence, hourlyRecurrence },
        {
          taskType: "ComputeVmShutdownTask",
          dailyRecurrence: { time: "1900" },
          timeZoneId: "W. Europe Standard Time",
          status: "Enabled",
          weeklyRecurrence: undefined,
          hourlyRecurrence: undefined,
        },
        schedule.name,
      );
    }
  });

  test("a schedule's fixed Azure name is replaced delete-first and goes with its resource group", () => {
    for (const schedule of schedules(withKey)) {
      assert.equal(schedule.options.deleteBeforeReplace, true, schedule.name);
      assert.match(schedule.options.deletedWith, /^rg-/, schedule.name);
    }
  });

  test("the plan shows each schedule's Azure name, VM, time and time zone", () => {
    const text = formatPlan(new PlanGraph(withKey), {
      project: "flowproxy-staging",
      stack: "dev",
      configFile: "-",
      placeholders: [],
    });
    assert.match(
      text,
      /^ {6}shutdown-computevm-vm-eastus-2: ComputeVmShutdownTask of vm-eastus-2 daily at 1900 W\. Europe Standard Time, Enabled$/m,
    );
  });

  test("without autoShutdownTime no VM has a schedule, so removing the key removes them", () => {
    assert.deepEqual(schedules(withoutKey), []);
    assert.equal(vms(withoutKey).length, vms(withKey).length, "the same fleet");
  });
});
