// Renders the bash each CustomScript extension runs: the VM's values as quoted, read-only
// variables, then provision/common.sh, then the role's script. The same renderer with secrets
// redacted gives the text that forceUpdateTag hashes, so a rotated secret alone reruns nothing.
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";

export type Role = "builderhub" | "flowproxy";

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

/** A file of provision/: the role scripts, and files they install on the VM. */
export function readProvisionFile(projectDir: string, file: string): string {
  return fs.readFileSync(path.join(projectDir, "provision", file), "utf8");
}

export function readRoleSources(projectDir: string, role: Role): string {
  return `${readProvisionFile(projectDir, "common.sh")}\n${readProvisionFile(projectDir, `${role}.sh`)}`;
}

export function renderScript(vmName: string, sources: string, variables: ScriptVariable[], redactSecrets = false): string {
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

/** The inputs that decide whether the extension must run again, in a fixed order. */
export interface TagInputs {
  haproxyCfg?: string;
  haProxyVersion?: string;
  flowproxyEnv?: string;
  flowproxyUnit?: string;
  flowProxyArtifact?: string;
  /**
   * provisioningRun from the config. CustomScript never reruns an identical configuration, not
   * even after it failed; a new number is the only way to rerun with unchanged inputs.
   */
  provisioningRun: number;
  redactedScript: string;
}

export function forceUpdateTag(inputs: TagInputs): string {
  const ordered = [
    inputs.haproxyCfg,
    inputs.haProxyVersion,
    inputs.flowproxyEnv,
    inputs.flowproxyUnit,
    inputs.flowProxyArtifact,
    inputs.redactedScript,
    inputs.provisioningRun,
  ];
  return createHash("sha256").update(JSON.stringify(ordered)).digest("hex");
}

export function toBase64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}
