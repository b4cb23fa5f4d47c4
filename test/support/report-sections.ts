// The sections of the reliability report (docs/RELIABILITY.md): what each proves, the columns of its
// table and the name of every check, i.e. every row. The tests play the checks by these names
// (reportSection refuses a check that is not declared here and a declared one left unplayed), and
// test/unit/report/reports.test.ts holds the committed report to them, so the report's rows and
// the tests cannot drift apart. Only names live here: the sandbox suite's checks are in test/sandbox/.
import { BUILDERHUB, PORTS } from "../../lib/contract";
import type { ReportSection } from "../../report/results";
import { HEAL_BUDGET_MS } from "../sandbox/scenarios/operations";
import { PROXY_DOWN_BUDGET_S, PROXY_DOWN_FOR_S } from "../sandbox/scenarios/monitoring";
import { PROBE_RATE, provisioningFaults } from "../sandbox/scenarios/provisioning-faults";
import { VERIFY_BUDGET_MS } from "../sandbox/scenarios/verify-faults";
import { flowproxyVms, vmByName } from "../../sandbox/base/topology";
import { BAD_CONFIGS } from "./bad-configs";

export interface DeclaredSection extends ReportSection {
  /** The name of every check, in the order the tests play them: the rows of the section's table. */
  checks: readonly string[];
  /**
   * Each check's counterpart, by the check's name: what proves the check able to fail. Every check has
   * one (test/unit/repository/counterparts.test.ts); reportSection refuses to play a check without.
   */
  counterparts: Readonly<Record<string, Counterpart>>;
}

/**
 * What proves a check able to fail. `test`: a test of that name, in the suite that plays the section,
 * runs the check's own logic on its subject broken on purpose and requires it to fail naming what
 * broke (test/support/counterparts.ts plays it). `itself`: the row's own check already breaks its
 * subject on purpose; the text says how, so the claim can be judged.
 */
type Counterpart = { test: string } | { itself: string };

const counterpartTest = (name: string): Counterpart => ({ test: name });

/** The name-makers of a section whose checks are played once per subject (a VM, a fault, a region table). */
type Names = Record<string, string | ((...subjects: never[]) => string)>;

export const BAD_CONFIGURATION_CHECKS = {
  refused: (bad: { title: string }) => bad.title,
  hostileFileContent: "carries hostile file content into bash literally",
} satisfies Names;

export const BAD_CONFIGURATION: DeclaredSection = {
  title: "1. Bad configuration",
  intro:
    `Each input of the catalogue \`test/support/bad-configs.ts\` (${BAD_CONFIGS.length} inputs: missing keys, malformed and ` +
    "wrong-type values, secrets in plain text, overlapping CIDRs, hostile strings with quotes, `$(…)`, backticks and " +
    "newlines, broken local files) is given to the program, evaluated under Pulumi's mocks as `pulumi preview` runs it " +
    "(`plan/evaluate.ts`). A pass means the program refused it before declaring any resource, with the message the " +
    "catalogue expects and no stack trace; the evidence is the message's first problem line. Hostile but legal file " +
    "content must instead reach the rendered script as one single-quoted word.",
  columns: ["evidence"],
  checks: [...BAD_CONFIGS.map(BAD_CONFIGURATION_CHECKS.refused), BAD_CONFIGURATION_CHECKS.hostileFileContent],
  counterparts: Object.fromEntries([
    ...BAD_CONFIGS.map((bad): [string, Counterpart] => [
      BAD_CONFIGURATION_CHECKS.refused(bad),
      counterpartTest(
        `"${bad.title}" fails naming the message it expects when the program accepts the good default configuration, or refuses without that message`,
      ),
    ]),
    [
      BAD_CONFIGURATION_CHECKS.hostileFileContent,
      counterpartTest(
        "carrying hostile file content fails naming HAPROXY_CFG's quoting, the bytes bash read back and the substitutions that ran when haproxy.cfg is double-quoted into the script",
      ),
    ],
  ]),
};

/** Section 2 plays these faults in this order; `committed` is read only when one is played. */
const faults = provisioningFaults(() => {
  throw new Error("a fault's name needs no stack");
});

export const PROVISIONING_FAULTS: DeclaredSection = {
  title: "2. Faults in the sandbox",
  intro:
    "Each fault is injected into the running sandbox and vm-eastus's extension runs again (`runExtension`), as Azure " +
    "reruns it after a change; new builds come from new artifact URLs, so the download really happens. Meanwhile the " +
    `host sends GET /livez to vm-eastus's public :443 ${PROBE_RATE} times a second. A pass means: the extension ends as ` +
    "expected with the step and reason in its last line (on stdout and stderr), the public endpoint answers throughout " +
    "(except where the new build itself crashes), no state changes that the fault should not change, and once the " +
    "fault is cleared a rerun converges with the same signer key, certificate and BuilderHub registration. " +
    "Retries: BuilderHub 5 attempts 10 s apart (10 s per request); artifact download 3 attempts 5 s apart, 20 s " +
    "below 1 KiB/s counts as a stall.",
  columns: ["the extension's last line", "what kept serving", "nothing lost"],
  checks: faults.map((fault) => fault.name),
  // A fault that must fail the extension breaks provisioning on purpose, and the row passes only when
  // provisioning's own check fails naming the step and the reason (an extension that went on
  // regardless fails the row: "expected exit 1"). That makes the row the counterpart of provisioning's
  // checks. Faults provisioning must survive (a retry, a kill, going back) show no check failing.
  counterparts: Object.fromEntries(
    faults.map((fault) => [
      fault.name,
      fault.expect.kind === "fails"
        ? {
            itself:
              "the fault breaks provisioning on purpose; the row requires the extension to fail naming the step and the reason",
          }
        : counterpartTest(
            `"${fault.name}" fails naming what is missing when the fault is played without what the row proves`,
          ),
    ]),
  ),
};

export const SECRET_SCAN_CHECKS = {
  secretsInUse: "the secrets were in use",
  publicSettings: "public extension settings, forceUpdateTags and stack outputs",
  extensionOutputs: "extension stdout and stderr files in the VMs",
  journals: "the journal of every VM",
  commandLines: "command lines of every process in every VM (during the run and after)",
  worldReadableFiles: "world-readable files on every VM (find / -xdev -perm -o+r)",
  githubDoubleLog: "the GitHub double's request log (on the host)",
} satisfies Names;

export const SECRET_SCAN: DeclaredSection = {
  title: "3. Secret scan",
  intro:
    "One provisioning run of the whole sandbox with every secret set (GitHub token, signer keys and the Docker Hub " +
    "token every VM logs in with, as always, plus a Tailscale auth key and ClickHouse credentials made for this run), " +
    "then every secret value is searched for " +
    "(exact string; signer keys as their 64 hex digits) in the places below. Command lines are sampled from the host " +
    "every 10 ms for the whole run and afterwards, so short-lived commands count too. A pass means 0 hits.",
  columns: ["places searched", "hits"],
  checks: Object.values(SECRET_SCAN_CHECKS),
  counterparts: {
    [SECRET_SCAN_CHECKS.secretsInUse]: counterpartTest(
      "the secrets-in-use check fails naming the VM whose tailscaled is stopped",
    ),
    [SECRET_SCAN_CHECKS.publicSettings]: counterpartTest(
      "the settings-and-outputs search names a canary put into a stack output",
    ),
    [SECRET_SCAN_CHECKS.extensionOutputs]: counterpartTest(
      "the extension-output search names a canary written to an extension's stdout",
    ),
    [SECRET_SCAN_CHECKS.journals]: counterpartTest("the journal search names a canary logged with logger"),
    [SECRET_SCAN_CHECKS.commandLines]: counterpartTest(
      "the command-line search names a canary on a process's command line",
    ),
    [SECRET_SCAN_CHECKS.worldReadableFiles]: counterpartTest("the world-readable search names a canary in a 0644 file"),
    [SECRET_SCAN_CHECKS.githubDoubleLog]: counterpartTest("the GitHub log search names a canary in a request's path"),
  },
};

/** The public TLS ports section 4 scans on each FlowProxy VM. */
export const PUBLIC_TLS_PORTS = [PORTS.https, PORTS.system] as const;

export const HARDENING_CHECKS = {
  offlineUnitExposure: "systemd-analyze security flowproxy@.service (offline)",
  runningUnitExposure: "systemd-analyze security of the running unit",
  publicTls: (vmName: string, port: number) => `TLS on ${vmName}:${port} (sslscan from the host)`,
  localPortsStayLocal: (vmName: string) =>
    `metrics (${PORTS.haproxyMetrics}) and public_cert (${PORTS.servedCertificate}) on ${vmName} from outside`,
} satisfies Names;

export const HARDENING: DeclaredSection = {
  title: "4. Hardening",
  intro:
    "`systemd-analyze security` scores the exposure of `flowproxy@.service` (0 = locked down, 10 = unprotected), once " +
    "offline from the committed file with the host's systemd and once for the unit running in a VM with Debian " +
    "trixie's systemd. `sslscan` connects from the host to each public TLS port: no protocol below TLS 1.2 and, for " +
    "TLS 1.2, only ECDHE key exchange with AEAD ciphers (no CBC, SHA-1 MACs, RC4, 3DES, NULL or EXPORT). The metrics " +
    "and certificate ports must be dropped from the internet and refused from the other VNet.",
  columns: ["value", "target"],
  checks: [
    HARDENING_CHECKS.offlineUnitExposure,
    HARDENING_CHECKS.runningUnitExposure,
    ...flowproxyVms().flatMap((vm) => PUBLIC_TLS_PORTS.map((port) => HARDENING_CHECKS.publicTls(vm.name, port))),
    ...flowproxyVms().map((vm) => HARDENING_CHECKS.localPortsStayLocal(vm.name)),
  ],
  counterparts: {
    [HARDENING_CHECKS.offlineUnitExposure]: counterpartTest(
      "the offline exposure check fails naming the score when flowproxy@.service loses its sandboxing lines",
    ),
    [HARDENING_CHECKS.runningUnitExposure]: counterpartTest(
      "the running unit's exposure check fails naming the score under a drop-in that undoes its sandboxing",
    ),
    ...Object.fromEntries(
      flowproxyVms().flatMap((vm) =>
        PUBLIC_TLS_PORTS.map((port) => [
          HARDENING_CHECKS.publicTls(vm.name, port),
          counterpartTest(`the TLS check of ${vm.name}:${port} fails naming the CBC suite HAProxy is made to accept`),
        ]),
      ),
    ),
    ...Object.fromEntries(
      flowproxyVms().map((vm) => [
        HARDENING_CHECKS.localPortsStayLocal(vm.name),
        counterpartTest(`the local-ports check of ${vm.name} fails naming the metrics port when the NSG lets it in`),
      ]),
    ),
  },
};

export const VERIFY_FAULTS_CHECKS = {
  healthy: "pnpm run verify --sandbox passes on the healthy sandbox",
  flowproxyStopped: "verify fails naming vm-eastus and its services when FlowProxy is stopped there",
  registryEmptied: "verify fails naming each proxy's registration when BuilderHub's registry is emptied",
  nsgOpenedOnMetrics: "verify fails naming each proxy's closed ports when the NSG lets 8405 in",
  wrongCertificateServed:
    "verify fails naming vm-eastus's TLS when HAProxy serves a certificate BuilderHub does not list",
} satisfies Names;

export const VERIFY_FAULTS: DeclaredSection = {
  title: "5. pnpm run verify against faults",
  intro:
    "The verify a user runs after `pulumi up`, run on the sandbox through the same code path (`--sandbox`): " +
    `a pass on the healthy sandbox (budget ${VERIFY_BUDGET_MS / 1000} s), and for each fault a failing verify ` +
    "that names the VM and the check; the evidence is what verify said.",
  columns: ["evidence"],
  checks: Object.values(VERIFY_FAULTS_CHECKS),
  // The section is verify and its counterparts: each fault breaks the sandbox on purpose and passes
  // only when verify fails naming what broke, which proves the checks the healthy row passes able to
  // fail. A fault row's own check (verify names the fault) is held against the healthy row, where
  // the same verify, on the same sandbox unbroken, names nothing.
  counterparts: Object.fromEntries(
    Object.values(VERIFY_FAULTS_CHECKS).map((name) => [
      name,
      name === VERIFY_FAULTS_CHECKS.healthy
        ? {
            itself:
              "the fault rows run the same verify on the sandbox broken on purpose and require it to fail naming what broke",
          }
        : {
            itself:
              "the row breaks the sandbox on purpose and requires verify to fail naming what broke; the healthy row is the same verify failing nothing",
          },
    ]),
  ),
};

export const OPERATIONS_CHECKS = {
  haproxyVersion:
    "a haProxyVersion change pulls the other HAProxy, checks the config with it and replaces the container with every request in flight answered; a digest pin pulls",
  flowproxyKilled: "FlowProxy killed is restarted by systemd, registering its certificate first",
  builderhubRestarted: `BuilderHub restarted forgets every proxy; the registry heals within ${HEAL_BUDGET_MS / 60_000} minutes and system flow flows again`,
  conflictingRegistration:
    "a BuilderHub that lists another certificate for a signer is reported by provisioning and in the journal, never passed",
  dockerdRestarted: (vmName: string) =>
    vmName === BUILDERHUB.vmName
      ? `dockerd restarted on ${vmName} under registrations' requests: none refused, mockhub keeps running and keeps every registration (live-restore)`
      : `dockerd restarted on ${vmName} under load on :${PORTS.https}: no request refused or lost, HAProxy keeps running (live-restore)`,
  reboot: (vmName: string) =>
    `a reboot of ${vmName} brings everything back with the same keys, certificate and registration, without rerunning its extension`,
  regionGrown:
    "westeurope grown from one proxy to two: only the new VM is made and BuilderHub's fleet updated; the other proxies run no extension, restart nothing and lose no request on :443; the new proxy is listed under its VM's name and signed flow crosses between it and every proxy",
  regionShrunk:
    "westeurope shrunk back to one proxy: its VM is deleted, BuilderHub forgets it and the other proxies stop counting it among their peers; they run no extension, stay listed and lose no request on :443",
  generationMismatch:
    "a generation-2 artifact under flowProxyGeneration 1 is refused, naming the key and the value; FlowProxy keeps running",
  generation2: "generation 2: HAProxy's system frontend turns to TCP and signed flow crosses over the TCP system API",
  signerKeysOnVms:
    "signerKeySource vm: each VM makes its key with Foundry's cast, registers it, and signed flow crosses with it",
} satisfies Names;

/** Section 6 reboots the FlowProxy VMs, then BuilderHub's. */
export const REBOOTED_VMS = [...flowproxyVms(), vmByName(BUILDERHUB.vmName)];

/** Section 6 restarts dockerd on the first FlowProxy VM, then on BuilderHub's. */
export const DOCKERD_RESTARTED_VMS = [flowproxyVms()[0], vmByName(BUILDERHUB.vmName)];

export const OPERATIONS: DeclaredSection = {
  title: "6. Operator scenarios",
  intro:
    "Things an operator does to a running stack, on the sandbox: a pass means the scenario's evidence below was seen " +
    "(signed bundles, from our own EIP-191 signer and from Flashbots' client as searchers send them, each sent to one " +
    "proxy's public :443 and accepted by the other's system endpoint, counted in FlowProxy's own metrics), within " +
    `${HEAL_BUDGET_MS / 1000} s where BuilderHub must heal. ` +
    "Reboots are real: systemd inside the VM shuts down and boots again, and the extension does not rerun, as on Azure; " +
    "HAProxy and mockhub come back by Docker's restart policy. " +
    "A region grows and shrinks as `pulumi up` changes it on Azure: only the extensions whose configuration is new run, " +
    "then the VMs the stack no longer declares are deleted; the proxies it leaves alone take GET /livez on :443 throughout. " +
    "The last scenarios change the sandbox: a generation-2 FlowProxy, then a fresh sandbox whose VMs make their own keys.",
  columns: ["evidence"],
  checks: [
    OPERATIONS_CHECKS.haproxyVersion,
    OPERATIONS_CHECKS.flowproxyKilled,
    OPERATIONS_CHECKS.builderhubRestarted,
    OPERATIONS_CHECKS.conflictingRegistration,
    ...DOCKERD_RESTARTED_VMS.map((vm) => OPERATIONS_CHECKS.dockerdRestarted(vm.name)),
    ...REBOOTED_VMS.map((vm) => OPERATIONS_CHECKS.reboot(vm.name)),
    OPERATIONS_CHECKS.regionGrown,
    OPERATIONS_CHECKS.regionShrunk,
    OPERATIONS_CHECKS.generationMismatch,
    OPERATIONS_CHECKS.generation2,
    OPERATIONS_CHECKS.signerKeysOnVms,
  ],
  counterparts: {
    [OPERATIONS_CHECKS.haproxyVersion]: counterpartTest(
      "the version change's check names the refused connections when HAProxy is restarted in place under the same load",
    ),
    [OPERATIONS_CHECKS.flowproxyKilled]: counterpartTest(
      "the kill scenario names the unit that does not run again under Restart=no",
    ),
    [OPERATIONS_CHECKS.builderhubRestarted]: counterpartTest(
      "the BuilderHub restart scenario names the registry left unhealed when the timers are held",
    ),
    [OPERATIONS_CHECKS.conflictingRegistration]: counterpartTest(
      "the conflicting-registration scenario names provisioning that goes on when there is no conflict",
    ),
    ...Object.fromEntries(
      DOCKERD_RESTARTED_VMS.map((vm) => [
        OPERATIONS_CHECKS.dockerdRestarted(vm.name),
        counterpartTest(
          `the dockerd restart on ${vm.name} names the stopped container and what it cost when dockerd runs without live-restore`,
        ),
      ]),
    ),
    ...Object.fromEntries(
      REBOOTED_VMS.map((vm) => [
        OPERATIONS_CHECKS.reboot(vm.name),
        counterpartTest(`the reboot scenario of ${vm.name} names the container its restart policy no longer starts`),
      ]),
    ),
    [OPERATIONS_CHECKS.regionGrown]: counterpartTest(
      "the grow names the proxies whose extension ran again when the program renders the number of proxies into every proxy's script",
    ),
    [OPERATIONS_CHECKS.regionShrunk]: counterpartTest(
      "the shrink names the removed proxy BuilderHub still lists when builderhub-prune does nothing",
    ),
    [OPERATIONS_CHECKS.generationMismatch]: counterpartTest(
      "the generation-mismatch scenario names an up that succeeds with a build of the configured generation",
    ),
    [OPERATIONS_CHECKS.generation2]: counterpartTest(
      "the generation-2 switch names the build that still runs when the switch keeps generation 1",
    ),
    [OPERATIONS_CHECKS.signerKeysOnVms]: counterpartTest(
      "the VM-made keys check names the VM that made no key when the keys come from the stack",
    ),
  },
};

export const MONITORING_CHECKS = {
  targetsUp:
    "with monitoring on, Prometheus on BuilderHub has every proxy's FlowProxy and HAProxy and the listing check as targets, all up",
  flowInPrometheus:
    "after signed bundles on vm-eastus, FlowProxy's system-flow counter rises in Prometheus for every other proxy",
  proxyDownFires: `FlowProxy stopped on vm-eastus fires ProxyDown within ${PROXY_DOWN_BUDGET_S} s (its for: of ${PROXY_DOWN_FOR_S} s, a scrape and two evaluations)`,
  onlyScraper: "the metrics ports (8090, 8405) answer BuilderHub and refuse the other proxies and the internet",
  verify:
    "pnpm run verify --sandbox passes, its monitoring check seeing every target up and the metrics ports refused between proxies",
} satisfies Names;

export const MONITORING_SECTION: DeclaredSection = {
  title: "8. Monitoring",
  intro:
    "The sandbox is brought up with `monitoring: true`: Prometheus (Debian bookworm's 2.42.0, served by the sandbox's " +
    "Docker Hub as prom/prometheus:v2.42.0) runs on BuilderHub with the scrape configuration the program generated from " +
    "the fleet and the rules of `monitoring/alerts.yml`, and is asked through its HTTP API on BuilderHub's loopback, " +
    "where prometheusTunnel brings it. The time from a FlowProxy stop to its alert firing is measured.",
  columns: ["evidence"],
  checks: [
    MONITORING_CHECKS.targetsUp,
    MONITORING_CHECKS.flowInPrometheus,
    MONITORING_CHECKS.proxyDownFires,
    MONITORING_CHECKS.onlyScraper,
    MONITORING_CHECKS.verify,
  ],
  counterparts: {
    [MONITORING_CHECKS.targetsUp]: counterpartTest(
      "the targets check names vm-eastus's FlowProxy target down when FlowProxy is stopped there",
    ),
    [MONITORING_CHECKS.flowInPrometheus]: counterpartTest(
      "the flow check names every other proxy when no bundle is sent",
    ),
    [MONITORING_CHECKS.proxyDownFires]: {
      itself:
        "the row stops FlowProxy on purpose and passes only when ProxyDown fires for it; the promtool cases of monitoring/alerts.test.yml hold the rule silent while the target answers",
    },
    [MONITORING_CHECKS.onlyScraper]: counterpartTest(
      "the reach check names each of BuilderHub's connections when BuilderHub is taken for an outsider",
    ),
    [MONITORING_CHECKS.verify]: counterpartTest(
      "verify's monitoring check names a proxy that connected to another's metrics port when the NSGs allow the VNets there",
    ),
  },
};

/** The region tables section 7 evaluates the program with. */
export const REGION_TABLES = ["default regions", "three regions"] as const;
type RegionTable = (typeof REGION_TABLES)[number];

export const AZURE_READINESS_CHECKS = {
  vnetWriters: (table: RegionTable) =>
    `finds every write to each VNet: itself, its subnet, its peerings both ways and its DNS link (${table})`,
  orderedVnetWrites: (table: RegionTable) => `no two writes to one VNet can run at the same time (${table})`,
  extensionsAfterNetwork: (table: RegionTable) =>
    `every FlowProxy extension waits for all peerings, all DNS links and the builderhub record (${table})`,
  outboundAccess: (table: RegionTable) =>
    `every subnet states its outbound access: default outbound access on, or a NAT gateway (${table})`,
  replacement:
    "VMs are replaced delete-first and leave their NIC to the next; extensions go with their VM; group contents with their group",
  provisioningRun: "changes for every extension when provisioningRun is raised, with the scripts unchanged",
  firstBoot: "sets HOME, joins Tailscale with a timeout and without its DNS, and waits for every apt lock first",
  heldAptLock: "fails the step naming a held apt lock once the wait runs out",
  freedAptLock: "goes on as soon as a held apt lock is free",
} satisfies Names;

/** The unit tests that prove each of section 7's checks able to fail, by the check's key. */
const AZURE_READINESS_COUNTERPARTS = {
  vnetWriters: (table: RegionTable) =>
    `finding every write to each VNet fails naming the first VNet and its DNS link when that link is gone (${table})`,
  orderedVnetWrites: (table: RegionTable) =>
    `one write at a time per VNet fails naming the first region's subnet and DNS link when the link loses its dependency on the write before it (${table})`,
  extensionsAfterNetwork: (table: RegionTable) =>
    `FlowProxy extensions after the network fails naming the last one and the builderhub record when it stops depending on the record (${table})`,
  outboundAccess: (table: RegionTable) =>
    `stated outbound access fails naming the first subnet when it has neither default outbound access nor a NAT gateway (${table})`,
  replacement:
    "the replacement options fail naming each option a resource lacks: a VM not delete-first, an extension or a NIC not deleted with its owner, a DNS link left to a group's deletion",
  provisioningRun:
    "the provisioningRun check fails naming every VM when the forceUpdateTags ignore provisioningRun, and naming the VM whose script changes with it",
  firstBoot:
    "the first-boot check fails naming what a script lacks: the HOME export, --accept-dns=false, the DNS reset of a VM that joined before, the join timeout, an apt lock, the wait before apt-get or before Tailscale's installer",
  heldAptLock: "the held-lock check fails naming the lock when wait_for_locks does not wait for it",
  freedAptLock: "the freed-lock check fails naming the lock when it is never released within the wait",
} satisfies Record<keyof typeof AZURE_READINESS_CHECKS, Names[string]>;

export const AZURE_READINESS: DeclaredSection = {
  title: "7. Azure control plane and first boot (checked locally)",
  intro:
    "The program is evaluated under Pulumi's mocks with the default regions and with a third region, and its " +
    "dependency graph, resource options and rendered script are held to what Azure needs: one write at a time per " +
    "VNet, FlowProxy extensions after the network they register over, a retry knob that reruns every extension, " +
    "replacement and destroy options, explicit outbound access, and a script ready for a VM's first boot. The lock " +
    "wait runs the script's own function in bash against a lock held by another process. What only Azure can show " +
    'is listed in docs/SANDBOX.md under "What the sandbox cannot prove".',
  columns: ["evidence"],
  checks: [
    ...REGION_TABLES.flatMap((table) => [
      AZURE_READINESS_CHECKS.vnetWriters(table),
      AZURE_READINESS_CHECKS.orderedVnetWrites(table),
      AZURE_READINESS_CHECKS.extensionsAfterNetwork(table),
      AZURE_READINESS_CHECKS.outboundAccess(table),
    ]),
    AZURE_READINESS_CHECKS.replacement,
    AZURE_READINESS_CHECKS.provisioningRun,
    AZURE_READINESS_CHECKS.firstBoot,
    AZURE_READINESS_CHECKS.heldAptLock,
    AZURE_READINESS_CHECKS.freedAptLock,
  ],
  counterparts: Object.fromEntries([
    ...REGION_TABLES.flatMap((table) =>
      (["vnetWriters", "orderedVnetWrites", "extensionsAfterNetwork", "outboundAccess"] as const).map(
        (key): [string, Counterpart] => [
          AZURE_READINESS_CHECKS[key](table),
          counterpartTest(AZURE_READINESS_COUNTERPARTS[key](table)),
        ],
      ),
    ),
    ...(["replacement", "provisioningRun", "firstBoot", "heldAptLock", "freedAptLock"] as const).map(
      (key): [string, Counterpart] => [AZURE_READINESS_CHECKS[key], counterpartTest(AZURE_READINESS_COUNTERPARTS[key])],
    ),
  ]),
};

/** Every section of the report, in its order. */
export const REPORT_SECTIONS: readonly DeclaredSection[] = [
  BAD_CONFIGURATION,
  PROVISIONING_FAULTS,
  SECRET_SCAN,
  HARDENING,
  VERIFY_FAULTS,
  OPERATIONS,
  AZURE_READINESS,
  MONITORING_SECTION,
];

/** How `found` differs from `declared`: each row missing, each row not declared, each repeated, or the order. */
export function rowDifferences(declared: readonly string[], found: readonly string[]): string[] {
  const differences = [
    ...declared.filter((name) => !found.includes(name)).map((name) => `missing "${name}"`),
    ...found.filter((name) => !declared.includes(name)).map((name) => `not declared "${name}"`),
    ...found.filter((name, i) => found.indexOf(name) !== i).map((name) => `repeated "${name}"`),
  ];
  if (differences.length === 0 && declared.some((name, i) => found[i] !== name))
    differences.push("the same rows in another order");
  return differences;
}

/** The checks of `sections` without a counterpart, as "<section title>: <check>". */
export function checksWithoutCounterpart(sections: readonly DeclaredSection[]): string[] {
  return sections.flatMap((section) =>
    section.checks.filter((name) => !(name in section.counterparts)).map((name) => `${section.title}: ${name}`),
  );
}

/** Counterparts declared for a check the section does not have (a renamed or removed check left behind). */
export function strayCounterparts(sections: readonly DeclaredSection[]): string[] {
  return sections.flatMap((section) =>
    Object.keys(section.counterparts)
      .filter((name) => !section.checks.includes(name))
      .map((name) => `${section.title}: ${name}`),
  );
}
