// The program's VM auto-shutdown schedules, taken as Azure takes them: each is checked as Azure checks
// a Microsoft.DevTestLab schedule of a VM, and refused, with the reason, where Azure would refuse
// it. The sandbox runs no daily stop: a sandbox lives for a test, not overnight.
//
// What Azure takes, and where that is written:
// - The resource: Microsoft.DevTestLab/schedules in a resource group, GlobalSchedules_CreateOrUpdate
//   of the DevTestLab REST spec 2018-09-15 (Azure/azure-rest-api-specs, specification/devtestlabs/
//   resource-manager/Microsoft.DevTestLab/stable/2018-09-15/DTL.json), the version azure-native
//   3.28.0 uses; "Microsoft.DevTestLab schedules" in Microsoft's template reference shows a VM's
//   auto-shutdown with it: taskType ComputeVmShutdownTask, dailyRecurrence.time "0100" (HHMM),
//   timeZoneId "Pacific Standard Time", targetResourceId the VM's id.
// - The name: a VM's schedule is shutdown-computevm-<vm> in the VM's resource group; Azure answers
//   400 Bad Request to any other name, and takes only ComputeVmShutdownTask on a daily recurrence
//   (terraform-provider-azurerm#5536, which found both by testing against Azure).
// - The time zone: one of the Windows ids the spec's timeZoneId names (lib/windows-time-zones.ts).
// The refusals' wording is ours; the HTTP status is Azure's.
import { HHMM } from "../../lib/config";
import { AUTO_SHUTDOWN } from "../../lib/contract";
import { windowsTimeZoneId } from "../../lib/windows-time-zones";
import type { EvaluatedResource, Evaluation } from "../../plan/evaluation";
import { resourcesById } from "../../plan/evaluation";
import { SandboxError } from "../base/proc";

const SCHEDULE = "azure-native:devtestlab:GlobalSchedule";
const VIRTUAL_MACHINE = "azure-native:compute:VirtualMachine";

export interface ShutdownSchedule {
  /** The VM it stops. */
  vmName: string;
  /** HHMM, in timeZoneId. */
  time: string;
  timeZoneId: string;
  enabled: boolean;
}

type Fields = Record<string, unknown>;

const fields = (value: unknown): Fields =>
  value && typeof value === "object" && !Array.isArray(value) ? (value as Fields) : {};

function refused(schedule: EvaluatedResource, status: string, why: string): SandboxError {
  return new SandboxError(
    `${schedule.name}: Azure would refuse the schedule ${JSON.stringify(schedule.inputs.name)} (${status}): ${why}`,
  );
}

/** One schedule as Azure would take it, or its refusal. */
function readSchedule(stack: Evaluation, schedule: EvaluatedResource): ShutdownSchedule {
  const p = schedule.inputs;
  const targets = resourcesById(stack, VIRTUAL_MACHINE, p.targetResourceId);
  if (targets.length !== 1) {
    throw refused(
      schedule,
      "404 Not Found",
      `its targetResourceId ${JSON.stringify(p.targetResourceId)} names no VM of the stack`,
    );
  }
  const vm = targets[0];
  const vmName = String(vm.state.name);
  if (p.resourceGroupName !== vm.inputs.resourceGroupName) {
    throw refused(
      schedule,
      "400 Bad Request",
      `it is in the resource group ${JSON.stringify(p.resourceGroupName)}, its VM ${vmName} in ${JSON.stringify(vm.inputs.resourceGroupName)}; a VM's schedule lives in the VM's group`,
    );
  }
  if (p.name !== AUTO_SHUTDOWN.scheduleName(vmName)) {
    throw refused(
      schedule,
      "400 Bad Request",
      `the auto-shutdown of ${vmName} must be named ${AUTO_SHUTDOWN.scheduleName(vmName)}`,
    );
  }
  if (p.taskType !== AUTO_SHUTDOWN.taskType) {
    throw refused(
      schedule,
      "400 Bad Request",
      `taskType ${JSON.stringify(p.taskType)}: a VM's schedule runs ${AUTO_SHUTDOWN.taskType} only`,
    );
  }
  if (p.weeklyRecurrence !== undefined || p.hourlyRecurrence !== undefined) {
    throw refused(
      schedule,
      "400 Bad Request",
      "a VM's auto-shutdown recurs daily only (dailyRecurrence), never weekly or hourly",
    );
  }
  const time = fields(p.dailyRecurrence).time;
  if (typeof time !== "string" || !HHMM.test(time)) {
    throw refused(
      schedule,
      "400 Bad Request",
      `dailyRecurrence.time ${JSON.stringify(time)} is not a time of day as HHMM (0000 to 2359)`,
    );
  }
  const timeZoneId = typeof p.timeZoneId === "string" ? windowsTimeZoneId(p.timeZoneId) : undefined;
  if (timeZoneId === undefined) {
    throw refused(
      schedule,
      "400 Bad Request",
      `timeZoneId ${JSON.stringify(p.timeZoneId)} is not a Windows time zone id`,
    );
  }
  const status = p.status ?? "Enabled";
  if (status !== "Enabled" && status !== "Disabled") {
    throw refused(schedule, "400 Bad Request", `status ${JSON.stringify(status)} is neither Enabled nor Disabled`);
  }
  return { vmName, time, timeZoneId, enabled: status === "Enabled" };
}

/** The stack's auto-shutdown schedules, one per VM at most; throws Azure's refusal of the first it would refuse. */
export function autoShutdownSchedules(stack: Evaluation): ShutdownSchedule[] {
  const schedules = stack.resources.filter((r) => r.type === SCHEDULE).map((r) => readSchedule(stack, r));
  const twice = schedules.find((s, i) => schedules.findIndex((other) => other.vmName === s.vmName) !== i);
  if (twice) {
    const name = AUTO_SHUTDOWN.scheduleName(twice.vmName);
    throw new SandboxError(
      `the stack declares two auto-shutdown schedules of ${twice.vmName}; Azure keeps one, ${name}, and each write replaces the other's`,
    );
  }
  return schedules;
}
