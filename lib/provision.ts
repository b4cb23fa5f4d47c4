// Renders the bash each CustomScript extension runs: the VM's values as quoted, read-only
// variables, then provision/common.sh, then the role's script. The same renderer with secrets
// redacted gives the text forceUpdateTag hashes: the tag is shown in the clear (state, portal,
// plan), so it must say which inputs changed without giving away a secret.
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import {
  BUILDERHUB,
  BUILDERHUB_API,
  BUILDERHUB_ENDPOINT,
  CONTAINERS,
  LOOPBACK,
  MONITORING,
  PORTS,
  Role,
  UNITS,
  VM_PATHS,
} from "./contract";

export interface ScriptVariable {
  name: string;
  value: string;
  secret?: boolean;
}

const REDACTED = "<secret>";

/** Single-quotes a value for bash: nothing inside is expanded, whatever it holds. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The value a rendered script gives NAME (its `readonly NAME='...'` line), read back as bash would:
 * the inverse of shellQuote. Undefined when the script has no such line.
 */
export function scriptVariable(script: string, name: string): string | undefined {
  const match = new RegExp(`^readonly ${name}='((?:[^']|'\\\\'')*)'$`, "m").exec(script);
  return match?.[1].replace(/'\\''/g, "'");
}

/** A file of provision/: the role scripts, and files they install on the VM. */
export function readProvisionFile(projectDir: string, file: string): string {
  return fs.readFileSync(path.join(projectDir, "provision", file), "utf8");
}

/** The line by which a hook in provision/ takes read_settings from beside it in the repository. */
const HOOK_SETTINGS_SOURCE =
  '# shellcheck source=provision/hook-settings.sh\nsource "${BASH_SOURCE[0]%/*}/hook-settings.sh"\n';

/**
 * A hook as a VM installs it: the file of provision/ with provision/hook-settings.sh written where
 * it sources it, since on the VM nothing lies beside it.
 */
export function hookScript(projectDir: string, file: string): string {
  const hook = readProvisionFile(projectDir, file);
  if (!hook.includes(HOOK_SETTINGS_SOURCE)) {
    throw new Error(
      `provision/${file} does not source hook-settings.sh as every hook must: ${JSON.stringify(HOOK_SETTINGS_SOURCE)}`,
    );
  }
  const settings = readProvisionFile(projectDir, "hook-settings.sh").replace(/^# shellcheck shell=bash\n/, "");
  return hook.replace(HOOK_SETTINGS_SOURCE, settings);
}

/** The bash a role runs, in order: the steps every VM shares, then the role's own. */
export const ROLE_SOURCES: Readonly<Record<Role, readonly string[]>> = {
  builderhub: ["common.sh", "builderhub.sh"],
  flowproxy: ["common.sh", "flowproxy.sh"],
};

export function readRoleSources(projectDir: string, role: Role): string {
  return ROLE_SOURCES[role].map((file) => readProvisionFile(projectDir, file)).join("\n");
}

const variable = (name: string, value: string | number): ScriptVariable => ({ name, value: String(value) });

/**
 * The contract's values a role's bash reads (lib/contract.ts), as script variables: every VM's
 * provisioning state and container label, and each role's paths, ports and BuilderHub routes.
 */
export function contractVariables(role: Role, vmName: string): ScriptVariable[] {
  const common = [
    variable("STATE_DIR", VM_PATHS.provisionState),
    variable("LAST_RUN_FILE", VM_PATHS.lastRun),
    variable("WORK_DIR", VM_PATHS.provisionWork),
    variable("CONTAINER_SPEC_LABEL", CONTAINERS.specLabel),
    variable("BUILDERS_PATH", BUILDERHUB_API.builders),
  ];
  if (role === "builderhub") {
    return [
      ...common,
      variable("MOCKHUB_IMAGE", BUILDERHUB.image),
      variable("MOCKHUB_CONTAINER", CONTAINERS.mockhub),
      variable("MOCKHUB_PORT", BUILDERHUB.port),
      variable("FLOWPROXY_SYSTEM_PORT", PORTS.system),
      variable("SYSTEMD_UNIT_DIR", VM_PATHS.systemdUnits),
      variable("FLEET_FILE", VM_PATHS.builderhubFleet),
      variable("PRUNE_HOOK_FILE", VM_PATHS.pruneHook),
      variable("PRUNE_ENV_FILE", VM_PATHS.pruneEnv),
      variable("PRUNE_RENAMED_FILE", VM_PATHS.pruneRenamed),
      variable("PRUNE_SERVICE", UNITS.pruneService),
      variable("PRUNE_TIMER", UNITS.pruneTimer),
      variable("PROMETHEUS_IMAGE", MONITORING.image),
      variable("PROMETHEUS_CONTAINER", CONTAINERS.prometheus),
      variable("PROMETHEUS_PORT", PORTS.prometheus),
      variable("LISTING_EXPORTER_PORT", PORTS.listingExporter),
      variable("MONITORING_CONFIG_DIR", VM_PATHS.monitoringConfigDir),
      variable("PROMETHEUS_DATA_DIR", VM_PATHS.prometheusData),
      variable("LISTING_TEXTFILE_DIR", VM_PATHS.listingTextfileDir),
      variable("LISTING_HOOK_FILE", VM_PATHS.listingHook),
      variable("LISTING_ENV_FILE", VM_PATHS.listingEnv),
      variable("LISTING_SERVICE", UNITS.listingService),
      variable("LISTING_TIMER", UNITS.listingTimer),
      variable("NODE_EXPORTER_SERVICE", UNITS.nodeExporter),
    ];
  }
  return [
    ...common,
    variable("HAPROXY_CONTAINER", CONTAINERS.haproxy),
    variable("HAPROXY_DIR", VM_PATHS.haproxyDir),
    variable("HAPROXY_CFG_FILE", VM_PATHS.haproxyCfg),
    variable("HAPROXY_PEM", VM_PATHS.haproxyPem),
    variable("SERVED_CERT_FILE", VM_PATHS.servedCertificate),
    variable("HAPROXY_CHECK_LOG", VM_PATHS.haproxyCheckLog),
    variable("FLOWPROXY_BIN", VM_PATHS.flowproxyBinary),
    variable("FLOWPROXY_CONFIG_DIR", VM_PATHS.flowproxyConfigDir),
    variable("FLOWPROXY_ENV_FILE", VM_PATHS.flowproxyEnv),
    variable("SIGNER_KEY_FILE", VM_PATHS.signerKey),
    variable("SIGNER_ADDRESS_FILE", VM_PATHS.signerAddress),
    variable("FOUNDRY_DIR", VM_PATHS.foundry),
    variable("SYSTEMD_UNIT_DIR", VM_PATHS.systemdUnits),
    variable("FLOWPROXY_SERVICE", UNITS.flowproxy(vmName)),
    variable("REGISTER_HOOK_FILE", VM_PATHS.registrationHook),
    variable("REGISTRATION_ENV_FILE", VM_PATHS.registrationEnv),
    variable("REGISTRATION_SERVICE", UNITS.registrationService),
    variable("REGISTRATION_TIMER", UNITS.registrationTimer),
    variable("REGISTER_PATH", BUILDERHUB_API.register),
    variable("BUILDERHUB_ENDPOINT", BUILDERHUB_ENDPOINT),
    variable("FLOWPROXY_LIVEZ_URL", `http://${LOOPBACK}:${PORTS.flowproxyUser}/livez`),
    variable("SERVED_LIVEZ_URL", `http://${LOOPBACK}:${PORTS.http}/livez`),
  ];
}

/**
 * The environment HAProxy's container gets: haproxy.cfg takes its ports and files from it (HAProxy
 * expands "${NAME}" in double quotes) and picks its system frontend's mode by FLOWPROXY_SYSTEM_API.
 * Its Prometheus exporter listens on `metricsBind`: loopback, or the VM's private address for
 * BuilderHub's Prometheus when monitoring is on.
 */
export function haproxyEnvironment(systemApi: "http" | "tcp", metricsBind: string = LOOPBACK): string {
  const settings: Record<string, string | number> = {
    HTTP_PORT: PORTS.http,
    HTTPS_PORT: PORTS.https,
    SYSTEM_PORT: PORTS.system,
    METRICS_PORT: PORTS.haproxyMetrics,
    METRICS_BIND: metricsBind,
    SERVED_CERT_PORT: PORTS.servedCertificate,
    LOOPBACK,
    TLS_PEM: VM_PATHS.haproxyPem,
    SERVED_CERT: VM_PATHS.servedCertificate,
    FLOWPROXY_USER_ADDR: `${LOOPBACK}:${PORTS.flowproxyUser}`,
    FLOWPROXY_SYSTEM_ADDR: `${LOOPBACK}:${PORTS.flowproxySystem}`,
    FLOWPROXY_SYSTEM_API: systemApi,
  };
  return Object.entries(settings)
    .map(([name, value]) => `${name}=${value}`)
    .join("\n");
}

export function renderScript(
  vmName: string,
  sources: string,
  variables: ScriptVariable[],
  redactSecrets = false,
): string {
  const assignments = variables.flatMap((v) => {
    const value = v.secret && redactSecrets ? REDACTED : v.value;
    const assignment = `readonly ${v.name}=${shellQuote(value)}`;
    // Files carried verbatim (haproxy.cfg, the registration hook) hold $ on purpose.
    return /[$`]/.test(value) ? ["# shellcheck disable=SC2016", assignment] : [assignment];
  });
  return [
    "#!/bin/bash",
    `# Provisioning for ${vmName}, rendered by the flowproxy-staging Pulumi program and run as root by`,
    "# the Azure CustomScript extension. Every step converges, so running it again is safe.",
    "set -euo pipefail",
    "umask 077",
    "",
    ...assignments,
    "",
    sources.trimEnd(),
    "",
    'main "$@"',
    "",
  ].join("\n");
}

/**
 * The extension's forceUpdateTag: a hash of its script with the secrets left out, which holds every
 * input of the VM (files, versions, URLs), and of provisioningRun. Azure reruns the extension when
 * its settings, protectedSettings or forceUpdateTag change, so a rotated secret reruns it through
 * protectedSettings alone. An identical configuration is never rerun, not even after it failed: a
 * new provisioningRun is the only way to rerun with unchanged inputs.
 */
export function forceUpdateTag(redactedScript: string, provisioningRun: number): string {
  return createHash("sha256")
    .update(JSON.stringify([redactedScript, provisioningRun]))
    .digest("hex");
}

export function toBase64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}
