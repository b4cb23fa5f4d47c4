// `pnpm run verify --sandbox` proven honest: it passes on a healthy sandbox, and each fault an
// operator could meet on a deployed stack makes it fail naming the VM and the check. Shared by the
// end-to-end suite and the reliability report. The verify runs as a user runs it: the real CLI in a
// child process, its --json read back.
import assert from "node:assert/strict";
import * as path from "node:path";
import { CONTAINERS, PORTS, UNITS, VM_PATHS } from "../../lib/contract";
import type { CheckResult } from "../../verify/checks";
import { PROJECT_DIR } from "../../plan/evaluation";
import { eventually, flowproxyUnit, servesLivez } from "../probe";
import { formatSeconds, run } from "../proc";
import { evaluateSandboxStack, up } from "../sandbox";
import { signerKeyOf } from "../stack";
import { loadOrCreateSecrets } from "../stack-config";
import { flowproxyVms, Vm, vmByName } from "../topology";
import { vmCheck } from "../vm";
import { registryHealed, restartMockhub } from "./operations";

const east = vmByName("vm-eastus");
/** The budget of issue 11 for one verify of the sandbox. */
export const VERIFY_BUDGET_MS = 30_000;

export interface VerifyRun {
  /** Everything verify printed, both streams. */
  output: string;
  status: number | null;
  ok: boolean;
  results: CheckResult[];
  durationMs: number;
}

/** Runs `pnpm run verify --sandbox --json` (the same entry point, without pnpm's banner). */
export async function verifySandbox(): Promise<VerifyRun> {
  const started = Date.now();
  const result = await run(
    process.execPath,
    ["--require", "ts-node/register/transpile-only", path.join(PROJECT_DIR, "verify", "main.ts"), "--sandbox", "--json"],
    { cwd: PROJECT_DIR, timeoutMs: 120_000 },
  );
  const report = JSON.parse(result.stdout) as { ok: boolean; results?: CheckResult[]; error?: string };
  assert.ok(report.results, `verify gave no results: ${report.error ?? result.stderr}`);
  return { output: result.stdout + result.stderr, status: result.code, ok: report.ok, results: report.results, durationMs: Date.now() - started };
}

const failures = (run: VerifyRun) => run.results.filter((r) => r.outcome !== "ok");
const listResults = (results: readonly CheckResult[]) => results.map((r) => `${r.vm}/${r.check} ${r.outcome}: ${r.detail}`).join("; ");

/** A healthy sandbox: every check passes, and nothing secret is printed. */
export async function verifyHealthy(): Promise<string> {
  const verified = await verifySandbox();
  assert.deepEqual(failures(verified), [], listResults(failures(verified)));
  assert.equal(verified.status, 0);
  assert.ok(
    verified.durationMs <= VERIFY_BUDGET_MS,
    `verify took ${formatSeconds(verified.durationMs)}, over its budget of ${formatSeconds(VERIFY_BUDGET_MS)}`,
  );
  const stack = await evaluateSandboxStack();
  const secrets = [loadOrCreateSecrets().githubToken, ...flowproxyVms().map((vm) => signerKeyOf(stack, vm.name).slice(2))];
  assert.ok(secrets.every((secret) => !verified.output.includes(secret)), "verify printed a secret");
  return `${verified.results.length} checks passed in ${formatSeconds(verified.durationMs)} (budget ${formatSeconds(VERIFY_BUDGET_MS)})`;
}

/** Plays `fault`, runs verify, heals; verify must fail with exactly the `expected` VM/check pairs among its failures. */
async function verifyFails(expected: [Vm, string][], fault: () => Promise<void>, heal: () => Promise<void>): Promise<string> {
  let verified: VerifyRun;
  try {
    await fault();
    verified = await verifySandbox();
  } finally {
    await heal();
  }
  assert.equal(verified.status, 1, "verify exits 1");
  const failed = failures(verified).filter((r) => r.outcome === "FAIL");
  for (const [vm, check] of expected) {
    assert.ok(failed.some((r) => r.vm === vm.name && r.check === check), `verify names ${vm.name}/${check}: ${listResults(failures(verified))}`);
  }
  const named = failed.filter((r) => expected.some(([vm, check]) => r.vm === vm.name && r.check === check));
  return listResults(named);
}

export function flowproxyStopped(): Promise<string> {
  return verifyFails(
    [[east, "services"]],
    () => vmCheck(east, ["systemctl", "stop", flowproxyUnit(east)]).then(() => undefined),
    async () => {
      await vmCheck(east, ["systemctl", "start", flowproxyUnit(east)]);
      await servesLivez(east);
    },
  );
}

/** BuilderHub restarted with the timers held, so nothing lists the proxies again while verify looks. */
export function registryEmptied(): Promise<string> {
  const timers = (action: string) => Promise.all(flowproxyVms().map((vm) => vmCheck(vm, ["systemctl", action, UNITS.registrationTimer])));
  return verifyFails(
    flowproxyVms().map((vm): [Vm, string] => [vm, "registration"]),
    async () => {
      await timers("stop");
      await restartMockhub();
    },
    async () => {
      await timers("start");
      await registryHealed(Date.now());
    },
  );
}

/** index.ts with the FlowProxy NSG letting HAProxy's metrics port in from anywhere. */
export const withMetricsOpen = (source: string) =>
  source.replace(
    /(\{ name: "system-orderflow", priority: 130,[^\n]*\n)/,
    `$1    { name: "metrics", priority: 140, protocol: "Tcp", port: "${PORTS.haproxyMetrics}", source: "*" },\n`,
  );

/** `projectDir` holds withMetricsOpen's index.ts: deployed, the port answers RST instead of nothing. */
export function nsgOpenedOnMetrics(projectDir: string): Promise<string> {
  return verifyFails(
    flowproxyVms().map((vm): [Vm, string] => [vm, "closed-ports"]),
    () => up({ projectDir }).then(() => undefined),
    () => up().then(() => undefined),
  );
}

/** HAProxy on vm-eastus serving a certificate BuilderHub never heard of (the registered one kept aside). */
export function wrongCertificateServed(): Promise<string> {
  const pem = VM_PATHS.haproxyPem;
  const kept = "/root/flowproxy.pem.kept";
  const reload = () => vmCheck(east, ["docker", "kill", "-s", "HUP", CONTAINERS.haproxy]);
  /** A field of the certificate HAProxy presents on vm-eastus's :443, asked inside the VM. */
  const presented = (field: "-subject" | "-pubkey") =>
    vmCheck(east, ["sh", "-c", `echo | openssl s_client -connect 127.0.0.1:${PORTS.https} 2>/dev/null | openssl x509 -noout ${field}`]);
  return verifyFails(
    [[east, "tls"]],
    async () => {
      await vmCheck(east, ["cp", "-p", pem, kept]);
      await vmCheck(east, [
        "sh", "-c",
        `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=impostor ` +
          `-keyout /root/impostor.key -out /root/impostor.crt 2>/dev/null && cat /root/impostor.crt /root/impostor.key > ${pem} && rm -f /root/impostor.*`,
      ]);
      await reload();
      await eventually("HAProxy to present the other certificate", async () =>
        (await presented("-subject")).includes("impostor") ? true : undefined,
      );
    },
    async () => {
      await vmCheck(east, ["mv", kept, pem]);
      await reload();
      const registered = await vmCheck(east, ["openssl", "x509", "-in", VM_PATHS.servedCertificate, "-noout", "-pubkey"]);
      await eventually("HAProxy to present the registered certificate again", async () =>
        (await presented("-pubkey")) === registered ? true : undefined,
      );
    },
  );
}
