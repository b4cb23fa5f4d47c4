// What the scenarios hand to the counterparts of their checks (test/support/counterparts.ts): a check
// run on its subject broken on purpose, and what it said; and the breakages more than one uses.
import { flowproxyUnit } from "../../../sandbox/probe";
import type { Vm } from "../../../sandbox/base/topology";
import { vmCheck } from "../../../sandbox/machines/vm";

/** What was broken, what the check failed with (empty when it passed), and what that must name. */
export interface BrokenRun {
  broke: string;
  failure: string[];
  naming: string[];
}

/** What `check` failed with; empty when it passed. */
export async function failureOf(check: () => Promise<unknown>): Promise<string[]> {
  try {
    await check();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/** A drop-in for `vm`'s FlowProxy unit (or `unit`), loaded (not restarted) while `use` runs. */
export async function withUnitDropIn<T>(
  vm: Vm,
  settings: string,
  use: () => Promise<T>,
  unit = flowproxyUnit(vm),
): Promise<T> {
  const dropIn = `/run/systemd/system/${unit}.d/zz-counterpart.conf`;
  await vmCheck(vm, [
    "sh",
    "-c",
    'mkdir -p "$(dirname "$1")" && printf "%s" "$2" > "$1" && systemctl daemon-reload',
    "sh",
    dropIn,
    settings,
  ]);
  try {
    return await use();
  } finally {
    await vmCheck(vm, ["sh", "-c", 'rm -f "$1" && systemctl daemon-reload', "sh", dropIn]);
  }
}
