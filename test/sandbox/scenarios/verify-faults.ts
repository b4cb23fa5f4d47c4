// `pnpm run verify --sandbox` proven honest: it passes on a healthy sandbox, and each fault an
// operator could meet on a deployed stack makes it fail naming the VM and the check. Shared by the
// end-to-end suite and the reliability report. The verify runs as a user runs it: the real CLI in a
// child process, its --json read back.
import assert from "node:assert/strict";
import * as path from "node:path";
import { CONTAINERS, PORTS, VM_PATHS } from "../../../lib/contract";
import type { CheckName, CheckResult } from "../../../verify/checks";
import { PROJECT_DIR } from "../../../plan/evaluation";
import { eventually, flowproxyUnit, servesLivez } from "../../../sandbox/probe";
import { formatSeconds, run } from "../../../sandbox/base/proc";
import { evaluateSandboxStack, up } from "../../../sandbox/sandbox";
import { signerKeyOf } from "../../../sandbox/azure/stack";
import { loadOrCreateSecrets } from "../../../sandbox/internet/stack-config";
import { FIRST_PROXIES, flowproxyVms, Vm } from "../../../sandbox/base/topology";
import { vmCheck } from "../../../sandbox/machines/vm";
import { flowBothWays, HEAL_BUDGET_MS, registrationTimers, registryHealed, restartMockhub } from "./operations";

const [east] = FIRST_PROXIES;
/** Every proxy but vm-eastus: their flow checks send to it too. */
const othersThanEast = () => flowproxyVms().filter((vm) => vm !== east);
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
    [
      "--require",
      "ts-node/register/transpile-only",
      path.join(PROJECT_DIR, "verify", "main.ts"),
      "--sandbox",
      "--json",
    ],
    { cwd: PROJECT_DIR, timeoutMs: 120_000 },
  );
  const report = JSON.parse(result.stdout) as { ok: boolean; results?: CheckResult[]; error?: string };
  assert.ok(report.results, `verify gave no results: ${report.error ?? result.stderr}`);
  return {
    output: result.stdout + result.stderr,
    status: result.code,
    ok: report.ok,
    results: report.results,
    durationMs: Date.now() - started,
  };
}

const failures = (run: VerifyRun) => run.results.filter((r) => r.outcome !== "ok");
const listResults = (results: readonly CheckResult[]) =>
  results.map((r) => `${r.vm}/${r.check} ${r.outcome}: ${r.detail}`).join("; ");

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
  const secrets = [
    loadOrCreateSecrets().githubToken,
    ...flowproxyVms().map((vm) => signerKeyOf(stack, vm.name).slice(2)),
  ];
  assert.ok(
    secrets.every((secret) => !verified.output.includes(secret)),
    "verify printed a secret",
  );
  return `${verified.results.length} checks passed in ${formatSeconds(verified.durationMs)} (budget ${formatSeconds(VERIFY_BUDGET_MS)})`;
}

/** What a fault must do to verify: the checks it fails, and the checks that depend on them and are skipped. */
interface Consequences {
  fails: [Vm, CheckName][];
  skips?: [Vm, CheckName][];
}

const named = (pairs: [Vm, CheckName][] = []) => pairs.map(([vm, check]) => `${vm.name}/${check}`).sort();

/**
 * Plays `fault`, runs verify, heals. Verify must fail exactly the checks the fault breaks and skip
 * exactly those that depend on them, each skip naming the failed check it waits on: anything else
 * failing would hide which check the fault is about, and an expected one passing would be a fault
 * verify cannot see.
 */
async function verifyFails(
  consequences: Consequences,
  fault: () => Promise<void>,
  heal: () => Promise<void>,
): Promise<string> {
  let verified: VerifyRun;
  try {
    await fault();
    verified = await verifySandbox();
  } finally {
    await heal();
  }
  assert.equal(verified.status, 1, "verify exits 1");
  const notOk = failures(verified);
  const seen = (outcome: string) =>
    notOk
      .filter((r) => r.outcome === outcome)
      .map((r) => `${r.vm}/${r.check}`)
      .sort();
  assert.deepEqual(seen("FAIL"), named(consequences.fails), `the checks verify failed: ${listResults(notOk)}`);
  assert.deepEqual(seen("skipped"), named(consequences.skips), `the checks verify skipped: ${listResults(notOk)}`);
  const failedChecks = new Set(consequences.fails.map(([, check]) => check));
  for (const skip of notOk.filter((r) => r.outcome === "skipped")) {
    const cited = /\(see (?:its )?([\w-]+)\)$/.exec(skip.detail)?.[1];
    assert.ok(
      cited !== undefined && failedChecks.has(cited as CheckName),
      `${skip.vm}/${skip.check} is skipped without naming a failed check: ${skip.detail}`,
    );
  }
  return listResults(notOk);
}

export function flowproxyStopped(): Promise<string> {
  return verifyFails(
    // Its flow check sends through east's HAProxy to the stopped FlowProxy; the others' send to the
    // proxies they can watch and fail naming east, which they cannot.
    {
      fails: [[east, "services"], [east, "flow"], ...othersThanEast().map((vm): [Vm, CheckName] => [vm, "flow"])],
      skips: [],
    },
    () => vmCheck(east, ["systemctl", "stop", flowproxyUnit(east)]).then(() => undefined),
    async () => {
      await vmCheck(east, ["systemctl", "start", flowproxyUnit(east)]);
      await servesLivez(east);
    },
  );
}

/**
 * BuilderHub restarted with the timers held, so nothing lists the proxies again while verify looks.
 * Healed once signed flow crosses again, not only once the proxies are listed: FlowProxy rereads
 * its peers only every 30 s, and a later check must not meet a proxy that still knows none.
 */
export function registryEmptied(): Promise<string> {
  return verifyFails(
    {
      fails: flowproxyVms().map((vm): [Vm, CheckName] => [vm, "registration"]),
      // Without a listed certificate there is nothing to hold the TLS to, nor a peer to send to.
      skips: flowproxyVms().flatMap((vm): [Vm, CheckName][] => [
        [vm, "tls"],
        [vm, "flow"],
      ]),
    },
    async () => {
      await registrationTimers("stop");
      await restartMockhub();
    },
    async () => {
      await registrationTimers("start");
      const healing = Date.now();
      await registryHealed(healing);
      await flowBothWays(Math.max(HEAL_BUDGET_MS - (Date.now() - healing), 1));
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
    { fails: flowproxyVms().map((vm): [Vm, CheckName] => [vm, "closed-ports"]) },
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
    vmCheck(east, [
      "sh",
      "-c",
      `echo | openssl s_client -connect 127.0.0.1:${PORTS.https} 2>/dev/null | openssl x509 -noout ${field}`,
    ]);
  return verifyFails(
    // The flow check refuses to send to a proxy presenting another certificate; the others' fail naming east.
    {
      fails: [[east, "tls"], [east, "flow"], ...othersThanEast().map((vm): [Vm, CheckName] => [vm, "flow"])],
      skips: [],
    },
    async () => {
      await vmCheck(east, ["cp", "-p", pem, kept]);
      await vmCheck(east, [
        "sh",
        "-c",
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
      const registered = await vmCheck(east, [
        "openssl",
        "x509",
        "-in",
        VM_PATHS.servedCertificate,
        "-noout",
        "-pubkey",
      ]);
      await eventually("HAProxy to present the registered certificate again", async () =>
        (await presented("-pubkey")) === registered ? true : undefined,
      );
    },
  );
}
