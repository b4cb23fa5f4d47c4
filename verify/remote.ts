// What the verify asks on the VMs, over SSH, as root (`sudo -n`, which Azure's cloud-init grants the
// admin user): one POSIX sh script per VM prints every fact in a named section with its exit status,
// so a VM costs one login. The scripts print only what the checks compare: the one value of
// flowproxy.env they need (never the file, which holds the signer key), public certificates,
// BuilderHub's public list, unit and container states.

import { BUILDERHUB_API, CONTAINERS, LOOPBACK, PORTS, UNITS, VM_PATHS } from "../lib/contract";

/** haproxy.cfg's public_cert frontend: the certificate HAProxy presents, as registration reads it. */
export const SERVED_CERTIFICATE_URL = `http://${LOOPBACK}:${PORTS.servedCertificate}/`;

const PRELUDE = `
section() {
  name=$1
  shift
  printf '@@verify %s\\n' "$name"
  "$@" 2>&1
  status=$?
  printf '\\n@@status %s\\n' "$status"
}
env_value() {
  sed -n "s/^$1=//p" ${VM_PATHS.flowproxyEnv} 2>/dev/null
}
section hostname cat /proc/sys/kernel/hostname
section last-run cat ${VM_PATHS.lastRun}
`;

/** $1 is the VM's name, which names its FlowProxy unit. */
export const PROXY_FACTS_SCRIPT = `${PRELUDE}section haproxy docker inspect --format '{{.State.Status}}' ${CONTAINERS.haproxy}
section flowproxy systemctl is-active "${UNITS.flowproxy("$1")}"
section signer-file cat ${VM_PATHS.signerAddress}
endpoint=$(env_value BUILDERHUB_ENDPOINT)
section builderhub-endpoint printf '%s' "$endpoint"
section builders curl -fsS --max-time 10 "$endpoint${BUILDERHUB_API.builders}"
section served-certificate curl -fsS --max-time 5 ${SERVED_CERTIFICATE_URL}
`;

export const BUILDERHUB_FACTS_SCRIPT = `${PRELUDE}section mockhub docker inspect --format '{{.State.Status}}' ${CONTAINERS.mockhub}
`;

/** FlowProxy's own metrics, on the METRICS_ADDR flowproxy.env gives it (loopback). */
export const METRICS_SCRIPT = `
addr=$(sed -n 's/^METRICS_ADDR=//p' ${VM_PATHS.flowproxyEnv}) || exit
if [ -z "$addr" ]; then
  echo "${VM_PATHS.flowproxyEnv} sets no METRICS_ADDR" >&2
  exit 1
fi
curl -fsS --max-time 5 "http://$addr/metrics"
`;

/** The argv that runs `script` as root on a VM, with `args` as $1... */
export const asRoot = (script: string, ...args: string[]): string[] => [
  "sudo",
  "-n",
  "sh",
  "-c",
  script,
  "verify",
  ...args,
];

export interface Section {
  /** stdout and stderr together. */
  output: string;
  status: number;
}

/** The sections a facts script printed, by name; empty when the script did not run at all. */
export function parseSections(text: string): Map<string, Section> {
  const sections = new Map<string, Section>();
  for (const match of text.matchAll(/^@@verify (\S+)\n([\s\S]*?)\n@@status (\d+)$/gm)) {
    sections.set(match[1], { output: match[2], status: Number(match[3]) });
  }
  return sections;
}

export interface LastRun {
  /** "running", or the run's exit status. */
  status: string;
  at: string;
  /** The handler's download directory the run worked in (its stdout and stderr are there). */
  dir: string;
  line: string;
}

/** LAST_RUN_FILE's key=value lines; undefined when it lacks the status. */
export function parseLastRun(text: string): LastRun | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  const status = fields.get("status");
  if (status === undefined) return undefined;
  return { status, at: fields.get("at") ?? "", dir: fields.get("dir") ?? "", line: fields.get("line") ?? "" };
}

/** Prometheus's targets on BuilderHub (monitoring on), on its loopback. */
export const PROMETHEUS_TARGETS_SCRIPT = `curl -fsS --max-time 5 http://127.0.0.1:${PORTS.prometheus}/api/v1/targets`;

/**
 * Run on a proxy with "<address>:<port>" arguments: a line "open" or "closed" for each, by whether a
 * TCP connection opened within 3 s. The addresses are arguments, never spliced into code.
 */
export const CONNECT_SCRIPT = `for a in "$@"; do
  if timeout 3 bash -c ': >"/dev/tcp/\${1%:*}/\${1##*:}"' _ "$a" 2>/dev/null; then echo "open $a"; else echo "closed $a"; fi
done
`;
