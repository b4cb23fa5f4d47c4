// What Azure needs from the stack beyond what Pulumi's mocks enforce, as checks that list what is
// wrong (nothing when all is well). Shared by the unit tests and the reliability report, so both
// prove the same rules; the ordering rules are in vnet-writes.ts.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { decodeScript, EvaluatedResource, Evaluation } from "../../plan/evaluation";
import { spawnAsync } from "./processes";
import { escapeRegExp } from "./vnet-writes";

const ofType = (result: Evaluation, type: string): EvaluatedResource[] =>
  result.resources.filter((r) => r.type === `azure-native:${type}`);

/** Types that live only inside a region's resource group and go with it. */
const GROUP_CONTENTS = [
  "network:VirtualNetwork",
  "network:Subnet",
  "network:NetworkSecurityGroup",
  "network:PublicIPAddress",
  "network:NetworkInterface",
  "compute:VirtualMachine",
];
/** Types that reach across groups; Pulumi deletes them itself, before the groups. */
const ACROSS_GROUPS = [
  "network:VirtualNetworkPeering",
  "privatedns:VirtualNetworkLink",
  "privatedns:PrivateRecordSet",
  "privatedns:PrivateZone",
];
/** Types whose Azure name is fixed or that Azure allows once per VNet: replaced delete-first. */
const DELETE_FIRST = [
  "compute:VirtualMachine",
  "network:NetworkInterface",
  "network:PublicIPAddress",
  "network:NetworkSecurityGroup",
  "compute:VirtualMachineExtension",
  "privatedns:PrivateZone",
  "privatedns:PrivateRecordSet",
  "privatedns:VirtualNetworkLink",
  "network:VirtualNetworkPeering",
];

/** The subnets, by how each states its outbound access (one with both is in both lists). */
export interface SubnetOutbound {
  subnets: string[];
  defaultOutboundAccess: string[];
  natGateway: string[];
}

export function subnetOutbound(result: Evaluation): SubnetOutbound {
  const subnets = ofType(result, "network:Subnet");
  const inputsOf = (s: EvaluatedResource) =>
    s.inputs as { defaultOutboundAccess?: boolean; natGateway?: { id?: string } };
  return {
    subnets: subnets.map((s) => s.name),
    defaultOutboundAccess: subnets.filter((s) => inputsOf(s).defaultOutboundAccess === true).map((s) => s.name),
    natGateway: subnets.filter((s) => Boolean(inputsOf(s).natGateway?.id)).map((s) => s.name),
  };
}

/** Every subnet states its outbound access: default outbound access on, or a NAT gateway. */
export function outboundProblems(result: Evaluation): string[] {
  const { subnets, defaultOutboundAccess, natGateway } = subnetOutbound(result);
  return subnets
    .filter((name) => !defaultOutboundAccess.includes(name) && !natGateway.includes(name))
    .map((name) => `${name} leaves its outbound access to the API version`);
}

/** How many resources each rule of replacementProblems was held to. */
export interface ReplacementReviewed {
  vms: number;
  nics: number;
  extensions: number;
  groupContents: number;
  acrossGroups: number;
  deleteFirst: number;
}

/** The options that let a VM be replaced and the stack be destroyed on Azure. */
export function replacementProblems(result: Evaluation): string[] {
  return replacementReview(result).problems;
}

/** replacementProblems, with what each rule looked at. */
export function replacementReview(result: Evaluation): { problems: string[]; reviewed: ReplacementReviewed } {
  const problems: string[] = [];
  const reviewed: ReplacementReviewed = {
    vms: 0,
    nics: 0,
    extensions: 0,
    groupContents: 0,
    acrossGroups: 0,
    deleteFirst: 0,
  };
  const groupOf = (r: EvaluatedResource) =>
    result.resources.find(
      (g) => g.type === "azure-native:resources:ResourceGroup" && g.state.name === r.inputs.resourceGroupName,
    )?.name;
  for (const vm of ofType(result, "compute:VirtualMachine")) {
    if (!vm.options.replaceOnChanges.includes("storageProfile.imageReference"))
      problems.push(`${vm.name} is not replaced on a new image`);
    const nics =
      (vm.inputs.networkProfile as { networkInterfaces?: { deleteOption?: string }[] }).networkInterfaces ?? [];
    reviewed.vms++;
    reviewed.nics += nics.length;
    if (nics.some((n) => n.deleteOption !== "Detach"))
      problems.push(`${vm.name} does not leave its NIC to the VM that replaces it`);
  }
  for (const ext of ofType(result, "compute:VirtualMachineExtension")) {
    const vm = result.resources.find(
      (r) => r.type === "azure-native:compute:VirtualMachine" && r.state.name === ext.inputs.vmName,
    );
    reviewed.extensions++;
    if (!vm || ext.options.deletedWith !== vm.name) problems.push(`${ext.name} is not deleted with its VM`);
  }
  for (const type of GROUP_CONTENTS) {
    for (const r of ofType(result, type)) {
      reviewed.groupContents++;
      if (r.options.deletedWith !== groupOf(r)) problems.push(`${r.name} is not deleted with its resource group`);
    }
  }
  for (const type of ACROSS_GROUPS) {
    for (const r of ofType(result, type)) {
      reviewed.acrossGroups++;
      if (r.options.deletedWith !== "") problems.push(`${r.name} reaches across groups but is left to a deletion`);
    }
  }
  for (const type of DELETE_FIRST) {
    for (const r of ofType(result, type)) {
      reviewed.deleteFirst++;
      if (!r.options.deleteBeforeReplace) problems.push(`${r.name} is not replaced delete-first`);
    }
  }
  return { problems, reviewed };
}

/** Raising provisioningRun must rerun every extension (a new tag) with the same script. */
export function provisioningRunProblems(before: Evaluation, raised: Evaluation): string[] {
  return before.extensions.flatMap((ext) => {
    const after = raised.extensions.find((e) => e.vmName === ext.vmName);
    if (!after) return [`${ext.vmName} has no extension after provisioningRun was raised`];
    return [
      ...(after.forceUpdateTag === ext.forceUpdateTag
        ? [`${ext.vmName} keeps its forceUpdateTag, so Azure would not rerun it`]
        : []),
      ...(after.script !== ext.script ? [`${ext.vmName} runs a different script`] : []),
    ];
  });
}

/** What the rendered script must do on a VM's first boot under the CustomScript extension. */
export function firstBootProblems(base64Script: string): string[] {
  const script = decodeScript(base64Script);
  const problems: string[] = [];
  if (!/^provision\(\) \{\n(?:.*\n)*? {2}export HOME=\$\{HOME:-\/root\}\n(?:.*\n)*? {2}run_steps "\$@"/m.test(script)) {
    problems.push("provision does not set HOME before the steps");
  }
  const up = script.split("\n").filter((line) => /^\s*(if ! )?tailscale up /.test(line));
  if (up.length !== 1 || !/ --accept-dns=false /.test(up[0]) || !/ --timeout="\$TAILSCALE_UP_TIMEOUT"/.test(up[0])) {
    problems.push("tailscale up runs without --accept-dns=false or --timeout");
  }
  if (!/^readonly TAILSCALE_UP_TIMEOUT=\d+s$/m.test(script))
    problems.push("TAILSCALE_UP_TIMEOUT is not a number of seconds");
  if (!/^\s+tailscale set --accept-dns=false \|\| die /m.test(script))
    problems.push("a VM that joined before keeps the tailnet's DNS");
  const locks = /^readonly APT_LOCKS=\((.*)\)$/m.exec(script)?.[1].split(" ") ?? [];
  for (const lock of [
    "/var/lib/dpkg/lock-frontend",
    "/var/lib/dpkg/lock",
    "/var/lib/apt/lists/lock",
    "/var/cache/apt/archives/lock",
  ]) {
    if (!locks.includes(lock)) problems.push(`${lock} is not waited for`);
  }
  const aptCalls = script.split("\n").filter((line) => /\bapt_get(_when_free)? (update|install)/.test(line));
  if (aptCalls.length < 2 || aptCalls.some((line) => !/apt_get_when_free (update|install)/.test(line))) {
    problems.push("an apt-get runs without waiting for apt's locks");
  }
  if (!/wait_for_apt &&\n\s+sh "\$STATE_DIR\/tailscale-install.sh"/.test(script))
    problems.push("Tailscale's installer runs apt-get without waiting");
  return problems;
}

export interface LockWait {
  lockFile: string;
  status: number | null;
  stdout: string;
  seconds: number;
}

/**
 * Runs the script's wait_for_locks on a file another process holds a lock on, as apt-daily would,
 * for `holdSeconds`; the script waits at most `waitSeconds`.
 */
export async function waitForHeldLock(
  base64Script: string,
  holdSeconds: number,
  waitSeconds: number,
): Promise<LockWait> {
  const definitions = decodeScript(base64Script).replace(/^main "\$@"\n$/m, "");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "apt-lock-"));
  const lockFile = path.join(dir, "lock");
  fs.writeFileSync(lockFile, "");
  // Its own process group, so flock and its sleep end together.
  const holder = spawn("flock", [lockFile, "sleep", String(holdSeconds)], { stdio: "ignore", detached: true });
  try {
    const { ino } = fs.statSync(lockFile);
    for (let i = 0; i < 100 && !fs.readFileSync("/proc/locks", "utf8").includes(`:${ino} `); i++)
      await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const body = `${definitions}\ntrap report_failure EXIT\nSTEP_NAME=ensure_base_packages\nwait_for_locks ${waitSeconds} "$1"\n`;
    const child = await spawnAsync("bash", ["-c", body, "bash", lockFile]);
    return { lockFile, status: child.status, stdout: child.stdout, seconds: (Date.now() - started) / 1000 };
  } finally {
    try {
      process.kill(-holder.pid!, "SIGTERM");
    } catch {
      // It ended on its own.
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What is wrong with a wait for a lock held past the wait: the step must fail, naming the lock. */
export function heldLockProblems(wait: LockWait): string[] {
  const problems: string[] = [];
  const last = wait.stdout.trimEnd().split("\n").pop() ?? "";
  if (wait.status !== 1)
    problems.push(`exit ${wait.status}, not 1, while ${wait.lockFile} was held: ${last || "(no output)"}`);
  if (!wait.stdout.split("\n").includes(`  waiting for ${wait.lockFile}, which another apt or dpkg run holds`)) {
    problems.push(`no line says it is waiting for ${wait.lockFile}`);
  }
  const failed = new RegExp(
    `^FAILED: vm-eastus, step 0/0 \\(ensure base packages\\): ${escapeRegExp(wait.lockFile)} was still locked after [2-9]\\.\\d{3} s`,
  );
  if (!failed.test(last))
    problems.push(`the last line does not fail the step naming ${wait.lockFile} after 2-9 s: ${last}`);
  return problems;
}

/** What is wrong with a wait for a lock freed within the wait: the step must go on, saying when. */
export function freedLockProblems(wait: LockWait): string[] {
  const problems: string[] = [];
  if (wait.status !== 0)
    problems.push(
      `exit ${wait.status}, not 0, waiting for ${wait.lockFile}: ${wait.stdout.trimEnd().split("\n").pop() ?? ""}`,
    );
  if (!/apt's locks are free after \d+\.\d{3} s/.test(wait.stdout))
    problems.push(`no line says ${wait.lockFile} is free`);
  return problems;
}
