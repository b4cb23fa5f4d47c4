// Reads and validates the whole stack configuration before any resource is declared.
// Every problem is collected and reported at once, each naming the key, what is wrong and a good value.
import * as fs from "fs";
import * as path from "path";
import { cidrContains, cidrsOverlap, parseCidr } from "./cidr";
import { AZURE_VM_SIZE, DEFAULT_REGIONS, FLOWPROXY_LISTEN, PROJECT, RegionPlan } from "./contract";
import { proxyOutputName, vmOutputNames } from "./outputs";
import { AZURE_RESERVED_ADDRESSES, reverseZoneOf, usableAddresses, vmsInRegion } from "./fleet";
import { WINDOWS_TIME_ZONES, windowsIdOfIanaZone, windowsTimeZoneId } from "./windows-time-zones";

/** A region-table entry as validated, with the defaults filled in. */
export interface Region extends RegionPlan {
  proxies: number;
  vmSize: string;
}

interface ArtifactRef {
  owner: string;
  repo: string;
  artifactId: string;
  /** The GitHub REST endpoint that answers with a redirect to the zip. */
  apiZipUrl: string;
}

type SignerKeySource = "stack" | "vm";

/**
 * FlowProxy's system API generation: 1 speaks HTTP between proxies (v1.1 and v1.2), 2 a TCP
 * request/reply protocol (v2.x). The value decides HAProxy's system frontend and which
 * `flowproxy --version` provisioning accepts.
 */
type FlowProxyGeneration = 1 | 2;

/** FlowProxy's ClickHouse arguments form one group: all of these or none (src/cli.rs). */
interface ClickhouseSettings {
  host: string;
  database: string;
  username: string;
  password: string;
}

/** When Azure's auto-shutdown stops every VM each day: a time of day in a Windows time zone. */
export interface AutoShutdown {
  /** HHMM, 24-hour, as the schedule's dailyRecurrence.time takes it. */
  time: string;
  /** A Windows time zone id, spelled as Windows spells it. */
  timeZoneId: string;
}

/** The Docker Hub account every VM pulls with: both keys or neither. */
interface DockerHubLogin {
  username: string;
  token: string;
}

export interface Settings {
  adminUsername: string;
  sshPublicKey: string;
  flowProxyArtifact: ArtifactRef;
  flowProxySha256?: string;
  githubToken: string;
  haProxyVersion: string;
  tailscaleAuthKey?: string;
  allowedSshCidr: string;
  regions: Region[];
  vmSize: string;
  signerKeySource: SignerKeySource;
  flowProxyGeneration: FlowProxyGeneration;
  clickhouse?: ClickhouseSettings;
  dockerHub?: DockerHubLogin;
  autoShutdown?: AutoShutdown;
  provisioningRun: number;
  monitoring: boolean;
  files: LocalFiles;
}

interface LocalFiles {
  haproxyCfg: string;
  flowproxyEnv: string;
  flowproxyUnit: string;
}

/** Where configuration values come from: Pulumi's config in the program, plain maps in tools and tests. */
export interface ConfigSource {
  get(key: string): string | undefined;
  isSecret(key: string): boolean;
  /** Every key the stack sets, namespaced as Pulumi names them: azure-native:location, flowproxy-staging:vmSize. */
  keys(): string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `The ${PROJECT} stack configuration has ${problems.length === 1 ? "a problem" : `${problems.length} problems`}:\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

export interface KeySpec {
  key: string;
  /** Pulumi's type for the key in Pulumi.yaml; an array is a list of objects. */
  type: "string" | "integer" | "boolean" | "array";
  required: boolean;
  secret: boolean;
  /** What the program reads when the key is not set; Pulumi.yaml declares the same default. */
  default?: string | number | boolean | readonly object[];
  example: string;
  description: string;
}

/**
 * The program's keys. Pulumi.yaml's `config` block is generated from this table (plan/project-file.ts),
 * like the README's table of keys, and Pulumi.dev.example.yaml is checked against it.
 */
export const CONFIG_KEYS: ReadonlyArray<KeySpec> = [
  {
    key: "adminUsername",
    type: "string",
    required: true,
    secret: false,
    example: "azureuser",
    description: "Linux admin user for SSH on every VM",
  },
  {
    key: "sshPublicKey",
    type: "string",
    required: true,
    secret: true,
    example: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q you@laptop",
    description:
      "OpenSSH public key allowed to log in as adminUsername (password login is disabled): ssh-ed25519, or ssh-rsa of 2048 bits or more, the types Azure takes",
  },
  {
    key: "flowProxyArtifact",
    type: "string",
    required: true,
    secret: false,
    example: "https://github.com/ORG/REPO/actions/runs/123456789/artifacts/987654321",
    description:
      "GitHub Actions artifact holding the flowproxy binary, as https://github.com/ORG/REPO/actions/runs/RUN_ID/artifacts/ARTIFACT_ID",
  },
  {
    key: "githubToken",
    type: "string",
    required: true,
    secret: true,
    example: "github_pat_...",
    description: "GitHub token with actions:read on the artifact's repository",
  },
  {
    key: "haProxyVersion",
    type: "string",
    required: true,
    secret: false,
    example: "3.0.6@sha256:<64 hex digits>",
    description: "Tag of the official haproxy Docker image, optionally pinned by digest",
  },
  {
    key: "tailscaleAuthKey",
    type: "string",
    required: false,
    secret: true,
    example: "tskey-auth-...",
    description: "Joins every VM to your tailnet when set; one key joins every VM, so it must be reusable",
  },
  {
    key: "allowedSshCidr",
    type: "string",
    required: false,
    secret: false,
    default: "0.0.0.0/0",
    example: "203.0.113.0/24",
    description: "Source range allowed to reach SSH on the public VMs",
  },
  {
    key: "flowProxySha256",
    type: "string",
    required: false,
    secret: false,
    example: "<64 hex digits>",
    description: "SHA-256 of the flowproxy binary inside the artifact; provisioning refuses any other binary",
  },
  {
    key: "signerKeySource",
    type: "string",
    required: false,
    secret: false,
    default: "stack",
    example: "stack",
    description:
      "stack: keys generated by Pulumi and kept as stack secrets; vm: each VM makes its own with Foundry's cast",
  },
  {
    key: "flowProxyGeneration",
    type: "integer",
    required: false,
    secret: false,
    default: 1,
    example: "1",
    description: "System API generation of the FlowProxy build: 1 (HTTP, v1.1-v1.2) or 2 (TCP, v2.x)",
  },
  {
    key: "clickhouseHost",
    type: "string",
    required: false,
    secret: false,
    example: "https://clickhouse.example.com:8443",
    description:
      "ClickHouse URL for FlowProxy's bundle index; the four clickhouse* keys are set all together or not at all",
  },
  {
    key: "clickhouseDatabase",
    type: "string",
    required: false,
    secret: false,
    example: "buildernet",
    description: "ClickHouse database (with the other clickhouse* keys)",
  },
  {
    key: "clickhouseUsername",
    type: "string",
    required: false,
    secret: false,
    example: "flowproxy",
    description: "ClickHouse user (with the other clickhouse* keys)",
  },
  {
    key: "clickhousePassword",
    type: "string",
    required: false,
    secret: true,
    example: "<password>",
    description: "ClickHouse password (with the other clickhouse* keys)",
  },
  {
    key: "vmSize",
    type: "string",
    required: false,
    secret: false,
    default: "Standard_B2s",
    example: "Standard_B2s",
    description: "Azure size of BuilderHub and of the FlowProxy VMs of every region that sets no vmSize of its own",
  },
  {
    key: "regions",
    type: "array",
    required: false,
    secret: false,
    default: DEFAULT_REGIONS,
    example:
      '[{"name":"east","location":"eastus","vnetCidr":"10.10.0.0/16","subnetCidr":"10.10.1.0/24","proxies":2}, ...]',
    description:
      "FlowProxy regions, each {name, location, vnetCidr, subnetCidr} and optionally proxies (how many FlowProxy VMs, default 1) and vmSize (default: the stack's vmSize); BuilderHub lives in the first one",
  },
  {
    key: "dockerHubUsername",
    type: "string",
    required: false,
    secret: false,
    example: "flowproxyops",
    description:
      "Docker Hub account every VM logs in with before pulling, so pulls count against its limit, not the VM's shared address (with dockerHubToken)",
  },
  {
    key: "dockerHubToken",
    type: "string",
    required: false,
    secret: true,
    example: "dckr_pat_...",
    description: "A personal access token (read-only) of dockerHubUsername (with dockerHubUsername)",
  },
  {
    key: "autoShutdownTime",
    type: "string",
    required: false,
    secret: false,
    example: "1900",
    description:
      "Time of day (HHMM, 24-hour) at which Azure's auto-shutdown stops and deallocates every VM daily, in autoShutdownTimeZone; unset: no schedule",
  },
  {
    key: "autoShutdownTimeZone",
    type: "string",
    required: false,
    secret: false,
    default: "UTC",
    example: "W. Europe Standard Time",
    description:
      "Windows time zone id of autoShutdownTime, such as W. Europe Standard Time; Azure takes no IANA names such as Europe/Berlin",
  },
  {
    key: "monitoring",
    type: "boolean",
    required: false,
    secret: false,
    default: false,
    example: "true",
    description:
      "true: Prometheus on BuilderHub scrapes every proxy's FlowProxy and HAProxy metrics over the VNets and evaluates the alert rules of monitoring/alerts.yml",
  },
  {
    key: "provisioningRun",
    type: "integer",
    required: false,
    secret: false,
    default: 0,
    example: "1",
    description: "Raise by one to rerun every extension with unchanged inputs, e.g. after a failed run",
  },
];

const CLICKHOUSE_KEYS = ["clickhouseHost", "clickhouseDatabase", "clickhouseUsername", "clickhousePassword"] as const;

/** The ClickHouse variables the program writes from the clickhouse* keys, all together or none. */
const CLICKHOUSE_GROUP_ENV = [
  "CLICKHOUSE_HOST",
  "CLICKHOUSE_DATABASE",
  "CLICKHOUSE_USERNAME",
  "CLICKHOUSE_PASSWORD",
  "CLICKHOUSE_BACKUP_DISK_DATABASE_PATH",
] as const;

/**
 * Variables the program writes itself; flowproxy.env may not set them. The listen addresses are
 * the contract's: HAProxy's backends, the NSGs and the verify depend on them.
 */
const PROGRAM_OWNED_ENV = [
  "BUILDER_NAME",
  "BUILDERNET_NODE_NAME",
  "FLASHBOTS_ORDERFLOW_SIGNER",
  "BUILDERHUB_ENDPOINT",
  ...(Object.keys(FLOWPROXY_LISTEN) as (keyof typeof FLOWPROXY_LISTEN)[]),
  ...CLICKHOUSE_GROUP_ENV,
] as const;

const SECRET_LOOKING_ENV = /(PASSWORD|SECRET|TOKEN|PRIVATE|_KEY$)/;

/**
 * The public keys Azure puts on a Linux VM: RSA of 2048 bits or more, and ED25519. It names ECDSA
 * among the formats it does not support and takes no other (the security-key sk- types neither);
 * VM creation fails on them. "Supported SSH key formats" in
 * https://learn.microsoft.com/en-us/azure/virtual-machines/linux/mac-create-ssh-keys
 */
const MIN_RSA_BITS = 2048;
const AZURE_SSH_KEYS = `ssh-ed25519 keys, and ssh-rsa keys of ${MIN_RSA_BITS} bits or more`;
const MAKE_SSH_KEY = "make one with ssh-keygen -t ed25519 (or ssh-keygen -t rsa -b 4096)";
const ED25519_KEY_BYTES = 32;

// Names Azure refuses for a Linux admin account.
const RESERVED_USERNAMES = new Set([
  "administrator",
  "admin",
  "user",
  "user1",
  "test",
  "user2",
  "test1",
  "user3",
  "admin1",
  "1",
  "123",
  "a",
  "actuser",
  "adm",
  "admin2",
  "aspnet",
  "backup",
  "console",
  "david",
  "guest",
  "john",
  "owner",
  "root",
  "server",
  "sql",
  "support",
  "support_388945a0",
  "sys",
  "test2",
  "test3",
  "user4",
  "user5",
]);

const ARTIFACT_UI =
  /^https:\/\/github\.com\/([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)\/actions\/runs\/(\d+)\/artifacts\/(\d+)\/?$/;
const ARTIFACT_API =
  /^https:\/\/api\.github\.com\/repos\/([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)\/actions\/artifacts\/(\d+)\/zip$/;
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[a-f0-9]{64})?$/;
const SHA256_HEX = /^[a-f0-9]{64}$/;
const ENV_LINE = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

const LOCAL_FILES = {
  haproxyCfg: "haproxy.cfg",
  flowproxyEnv: "flowproxy.env",
  flowproxyUnit: "flowproxy@.service",
} as const;

function fullKey(key: string): string {
  return `${PROJECT}:${key}`;
}

function exampleOf(key: string): string {
  const spec = CONFIG_KEYS.find((k) => k.key === key);
  return spec ? spec.example : "";
}

function setCommand(key: string, value = exampleOf(key)): string {
  const spec = CONFIG_KEYS.find((k) => k.key === key);
  return `pulumi config set${spec?.secret ? " --secret" : ""} ${fullKey(key)} '${value}'`;
}

/** The key's default as Pulumi hands a value to the program: text, structured values as JSON. */
function defaultText(key: string): string {
  const value = CONFIG_KEYS.find((k) => k.key === key)?.default;
  if (value === undefined) throw new Error(`CONFIG_KEYS has no default for ${key}`);
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The keys of this program's namespace that it does not know; other namespaces configure providers. */
function unknownKeys(keys: string[]): string[] {
  const own = `${PROJECT}:`;
  return keys
    .filter((k) => k.startsWith(own))
    .map((k) => k.slice(own.length))
    .filter((k) => !CONFIG_KEYS.some((spec) => spec.key === k));
}

/**
 * The known key fewest single-character edits away, ignoring case: what a typo meant. Undefined
 * when even that one differs in more than half its characters, which is no typo.
 */
function nearestKey(key: string): string | undefined {
  return nearestOf(
    key,
    CONFIG_KEYS.map((spec) => spec.key),
  );
}

/**
 * The candidate fewest single-character edits (Levenshtein) away from `text`, ignoring case; undefined
 * when even that one differs in more than half its characters.
 */
function nearestOf(text: string, candidates: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const current = [i];
      for (let j = 1; j <= b.length; j++) {
        current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      }
      previous = current;
    }
    return previous[b.length];
  };
  const scored = candidates.map((candidate) => ({
    candidate,
    d: distance(text.toLowerCase(), candidate.toLowerCase()),
  }));
  const nearest = scored.reduce((best, next) => (next.d < best.d ? next : best));
  return nearest.d <= Math.max(text.length, nearest.candidate.length) / 2 ? nearest.candidate : undefined;
}

/** Reads the configuration and the three local files; throws ConfigError listing every problem. */
export function loadSettings(source: ConfigSource, projectDir: string): Settings {
  const problems: string[] = [];
  const problem = (key: string, what: string, good = exampleOf(key)) =>
    problems.push(`${fullKey(key)} ${what}. Example: ${setCommand(key, good)}`);

  for (const key of unknownKeys(source.keys())) {
    const near = nearestKey(key);
    problems.push(
      near
        ? `${fullKey(key)} is not a key of this program; did you mean ${near}? Move its value there: pulumi config rm ${fullKey(key)}, then ${setCommand(near, "<value>")}`
        : `${fullKey(key)} is not a key of this program (its keys: ${CONFIG_KEYS.map((k) => k.key).join(", ")}); remove it: pulumi config rm ${fullKey(key)}`,
    );
  }

  // Pulumi hands the program an empty string for a key Pulumi.yaml declares with an empty default.
  const raw = (key: string): string | undefined => {
    const value = source.get(key);
    const spec = CONFIG_KEYS.find((k) => k.key === key);
    if (value === undefined || value === "") {
      if (spec?.required) problem(key, "is required but not set");
      return undefined;
    }
    if (spec?.secret && !source.isSecret(key)) {
      problem(key, "is stored in plain text but must be a secret (anyone who can read the stack file sees it)");
    }
    // eslint-disable-next-line no-control-regex -- control characters are what this check looks for
    if (/[\u0000-\u001f\u007f]/.test(value.replace(/\n$/, "")) && key !== "regions") {
      problem(key, "contains a newline or control character");
      return undefined;
    }
    return value;
  };
  const orDefault = (key: string): string => raw(key) ?? defaultText(key);

  const adminUsername = raw("adminUsername");
  if (adminUsername !== undefined) {
    if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(adminUsername)) {
      problem(
        "adminUsername",
        `"${adminUsername}" is not a valid Linux user name (lower-case letters, digits, "_" or "-", at most 32)`,
      );
    } else if (RESERVED_USERNAMES.has(adminUsername)) {
      problem("adminUsername", `"${adminUsername}" is reserved by Azure`);
    }
  }

  const sshPublicKey = raw("sshPublicKey")?.trim();
  if (sshPublicKey !== undefined) {
    const why = checkSshPublicKey(sshPublicKey);
    if (why) problem("sshPublicKey", why);
  }

  const artifactText = raw("flowProxyArtifact");
  let flowProxyArtifact: ArtifactRef | undefined;
  if (artifactText !== undefined) {
    flowProxyArtifact = parseArtifactUrl(artifactText);
    if (!flowProxyArtifact) {
      problem(
        "flowProxyArtifact",
        `"${artifactText}" is not a GitHub Actions artifact URL (https://github.com/ORG/REPO/actions/runs/RUN_ID/artifacts/ARTIFACT_ID)`,
      );
    }
  }

  const flowProxySha256 = raw("flowProxySha256")?.toLowerCase();
  if (flowProxySha256 !== undefined && !SHA256_HEX.test(flowProxySha256)) {
    problem(
      "flowProxySha256",
      "is not 64 hexadecimal digits",
      "3f786850e387550fdab836ed7e6dc881de23001b3f786850e387550fdab836ed",
    );
  }

  const githubToken = raw("githubToken");
  if (githubToken !== undefined && !/^[A-Za-z0-9_]{20,255}$/.test(githubToken)) {
    problem(
      "githubToken",
      "does not look like a GitHub token (letters, digits and underscores, e.g. github_pat_... or ghp_...)",
    );
  }

  const haProxyVersion = raw("haProxyVersion");
  if (haProxyVersion !== undefined && !IMAGE_TAG.test(haProxyVersion)) {
    problem(
      "haProxyVersion",
      `"${haProxyVersion}" is not a Docker image tag, optionally followed by @sha256:<64 lower-case hex digits>`,
      "3.0.6",
    );
  }

  const tailscaleAuthKey = raw("tailscaleAuthKey");
  if (tailscaleAuthKey !== undefined && !/^tskey-[A-Za-z0-9-]+$/.test(tailscaleAuthKey)) {
    problem("tailscaleAuthKey", 'is not a Tailscale auth key (they start with "tskey-")');
  }

  const allowedSshCidr = orDefault("allowedSshCidr");
  const sshCidr = parseCidr(allowedSshCidr);
  if (typeof sshCidr === "string") problem("allowedSshCidr", `"${allowedSshCidr}" ${sshCidr}`);

  const signerKeySource = orDefault("signerKeySource");
  if (signerKeySource !== "stack" && signerKeySource !== "vm") {
    problem("signerKeySource", `"${signerKeySource}" must be "stack" or "vm"`);
  }

  const generationText = orDefault("flowProxyGeneration");
  let flowProxyGeneration: FlowProxyGeneration = 1;
  if (generationText === "1" || generationText === "2") {
    flowProxyGeneration = Number(generationText) as FlowProxyGeneration;
  } else if (generationText === "3") {
    problem(
      "flowProxyGeneration",
      "3 (mutual TLS between proxies, with FlowProxy's own server and client certificates and no HAProxy on the system path) is not supported by this stack; use a 1.x build with 1 or a 2.x build with 2",
    );
  } else {
    problem(
      "flowProxyGeneration",
      `"${generationText}" must be 1 (HTTP system API, FlowProxy v1.1-v1.2) or 2 (TCP system API, v2.x)`,
    );
  }

  const clickhouse = readClickhouse(raw, problem);

  const dockerHub = readDockerHub(raw, problem);

  const vmSize = orDefault("vmSize");
  if (!AZURE_VM_SIZE.test(vmSize)) problem("vmSize", `"${vmSize}" is not an Azure VM size`, exampleOf("vmSize"));

  const regions = parseRegions(orDefault("regions"), vmSize, (what) => problem("regions", what));

  const autoShutdown = readAutoShutdown(raw, orDefault, problem);

  const provisioningRunText = orDefault("provisioningRun");
  if (!/^\d{1,9}$/.test(provisioningRunText)) {
    problem(
      "provisioningRun",
      `"${provisioningRunText}" is not a whole number of 0 or more; raise it by one to rerun every extension`,
    );
  }

  // Pulumi hands a boolean config value to the program as the text true or false.
  const monitoringText = orDefault("monitoring");
  if (monitoringText !== "true" && monitoringText !== "false") {
    problem("monitoring", `"${monitoringText}" must be true or false`);
  }

  const files = readLocalFiles(projectDir, problems, clickhouse !== undefined);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    adminUsername: adminUsername!,
    sshPublicKey: sshPublicKey!,
    flowProxyArtifact: flowProxyArtifact!,
    flowProxySha256,
    githubToken: githubToken!,
    haProxyVersion: haProxyVersion!,
    tailscaleAuthKey,
    allowedSshCidr,
    regions: regions!,
    vmSize,
    signerKeySource: signerKeySource as SignerKeySource,
    flowProxyGeneration,
    clickhouse,
    dockerHub,
    autoShutdown,
    provisioningRun: Number(provisioningRunText),
    monitoring: monitoringText === "true",
    files: files!,
  };
}

/** FlowProxy exits with a usage error on a partial ClickHouse group, so a partial set never leaves here. */
function readClickhouse(
  raw: (key: string) => string | undefined,
  problem: (key: string, what: string, good?: string) => void,
): ClickhouseSettings | undefined {
  const values = CLICKHOUSE_KEYS.map((key) => raw(key));
  const given = CLICKHOUSE_KEYS.filter((_, i) => values[i] !== undefined);
  const [host, database, username, password] = values;
  if (host !== undefined && !/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/.test(host)) {
    problem(
      "clickhouseHost",
      `"${host}" is not a ClickHouse URL (http:// or https://, a host name and an optional port)`,
    );
  }
  if (database !== undefined && !/^[A-Za-z0-9_]{1,64}$/.test(database)) {
    problem("clickhouseDatabase", "may only hold letters, digits and _");
  }
  if (username !== undefined && !/^[A-Za-z0-9_.@-]{1,64}$/.test(username)) {
    problem("clickhouseUsername", "may only hold letters, digits and _ . @ -");
  }
  // systemd's EnvironmentFile= would strip quotes, backslashes and outer blanks: FlowProxy would
  // get another password than the one configured.
  if (password !== undefined && (/["'\\]/.test(password) || password.trim() !== password)) {
    problem(
      "clickhousePassword",
      "holds a quote, a backslash or leading or trailing blanks, which systemd's environment file would not pass on as written; choose a password without them",
    );
  }
  if (given.length === 0 || given.length === CLICKHOUSE_KEYS.length) {
    return given.length === 0
      ? undefined
      : { host: host!, database: database!, username: username!, password: password! };
  }
  for (const key of CLICKHOUSE_KEYS.filter((k) => !given.includes(k))) {
    problem(
      key,
      `is not set, but ${given.join(", ")} ${given.length === 1 ? "is" : "are"}: FlowProxy needs all four ClickHouse keys or none (unset the others to run without ClickHouse)`,
    );
  }
  return undefined;
}

/** A Docker Hub login needs its account and its token: one without the other never leaves here. */
function readDockerHub(
  raw: (key: string) => string | undefined,
  problem: (key: string, what: string, good?: string) => void,
): DockerHubLogin | undefined {
  const username = raw("dockerHubUsername");
  const token = raw("dockerHubToken");
  // Docker IDs: 4 to 30 lower-case letters and digits (an organization's access token logs in with the organization's name).
  if (username !== undefined && !/^[a-z0-9]{4,30}$/.test(username)) {
    problem("dockerHubUsername", `"${username}" is not a Docker ID (4 to 30 lower-case letters and digits)`);
  }
  if (token !== undefined && /\s/.test(token)) {
    problem(
      "dockerHubToken",
      "holds blanks; paste the access token alone (Docker Hub, Account settings, Personal access tokens)",
    );
  }
  if (username !== undefined && token === undefined) {
    problem(
      "dockerHubToken",
      "is not set, but dockerHubUsername is: every VM logs in to Docker Hub with both (or unset dockerHubUsername to pull anonymously)",
    );
  } else if (token !== undefined && username === undefined) {
    problem(
      "dockerHubUsername",
      "is not set, but dockerHubToken is: every VM logs in to Docker Hub with both (or unset dockerHubToken to pull anonymously)",
    );
  }
  return username !== undefined && token !== undefined ? { username, token } : undefined;
}

/** A 24-hour time of day as HHMM, what the schedule's dailyRecurrence.time takes: 0000 to 2359. */
export const HHMM = /^([01]\d|2[0-3])[0-5]\d$/;

/**
 * The HHMM a common way of writing a time of day means (7pm, 7:30 PM, 19:00), or undefined: what
 * someone who wrote one meant, for the message that refuses it.
 */
function hhmmOf(text: string): string | undefined {
  const m =
    /^(\d{1,2})(?:[:.h]?(\d{2}))?\s*([ap])\.?m?\.?$/i.exec(text.trim()) ?? /^(\d{1,2})[:.h](\d{2})$/.exec(text.trim());
  if (!m) return undefined;
  let hours = Number(m[1]);
  const minutes = Number(m[2] ?? "0");
  if (m[3] !== undefined) {
    if (hours < 1 || hours > 12) return undefined;
    hours = (hours % 12) + (m[3].toLowerCase() === "p" ? 12 : 0);
  }
  const hhmm = `${String(hours).padStart(2, "0")}${String(minutes).padStart(2, "0")}`;
  return HHMM.test(hhmm) ? hhmm : undefined;
}

/**
 * Azure's daily auto-shutdown of every VM: a time (no schedule without one) in a Windows time zone.
 * Azure takes Windows ids only (lib/windows-time-zones.ts says where the list comes from), so an
 * IANA name is answered with the Windows id CLDR maps it to.
 */
function readAutoShutdown(
  raw: (key: string) => string | undefined,
  orDefault: (key: string) => string,
  problem: (key: string, what: string, good?: string) => void,
): AutoShutdown | undefined {
  const time = raw("autoShutdownTime");
  if (time !== undefined && !HHMM.test(time)) {
    const meant = hhmmOf(time);
    problem(
      "autoShutdownTime",
      `"${time}" is not a time of day as HHMM, 24-hour, from 0000 to 2359${meant ? ` (for ${time}, write ${meant})` : " (1900 is 7 pm)"}; ` +
        "remove the key for no daily shutdown",
      meant,
    );
  }
  const zoneText = orDefault("autoShutdownTimeZone");
  const timeZoneId = windowsTimeZoneId(zoneText);
  if (timeZoneId === undefined) {
    const fromIana = windowsIdOfIanaZone(zoneText);
    const near = nearestOf(zoneText, Object.keys(WINDOWS_TIME_ZONES));
    problem(
      "autoShutdownTimeZone",
      fromIana
        ? `"${zoneText}" is an IANA time zone name, but Azure's auto-shutdown takes Windows time zone ids only, such as W. Europe Standard Time; ${zoneText}'s is "${fromIana}"`
        : `"${zoneText}" is not a Windows time zone id, which Azure's auto-shutdown takes (such as UTC or W. Europe Standard Time, not IANA names such as Europe/Berlin)` +
            (near
              ? `; the nearest id is "${near}"`
              : "; lib/windows-time-zones.ts lists the ids Azure takes, each with the IANA zones it covers"),
      fromIana ?? near,
    );
  }
  return time !== undefined && HHMM.test(time) && timeZoneId !== undefined ? { time, timeZoneId } : undefined;
}

export function checkSshPublicKey(text: string): string | undefined {
  const refusal = azureSshKeyRefusal(text);
  if (refusal) return refusal;
  if (
    text
      .split(/\s+/)
      .slice(2)
      .some((c) => /['"\\$`]/.test(c))
  )
    return "has quotes, backslashes or $ in its comment";
  return undefined;
}

/**
 * Why Azure would refuse the OpenSSH public key line `text` for a Linux VM, or undefined when it
 * takes it; the sandbox's stand-in for VM creation refuses by the same rule. The text follows the
 * key's name: "sshPublicKey is a 1024-bit RSA key, which Azure refuses ...".
 */
export function azureSshKeyRefusal(text: string): string | undefined {
  const [type, body] = text.trim().split(/\s+/);
  if (type !== "ssh-ed25519" && type !== "ssh-rsa") {
    if (!/^(ssh-|ecdsa-|sk-)[a-z0-9@.-]+$/.test(type)) {
      return `does not start with a key type Azure takes (${AZURE_SSH_KEYS}); paste the whole line of your .pub file, or ${MAKE_SSH_KEY}`;
    }
    return `is a ${type} key, which Azure refuses for a Linux VM: it takes ${AZURE_SSH_KEYS}; ${MAKE_SSH_KEY}`;
  }
  if (body === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(body))
    return "has no base64 key body after its type; paste the whole line of your .pub file";
  const fields = sshWireStrings(Buffer.from(body, "base64"));
  const damaged = `has a key body that is not a ${type} key (damaged or truncated when copied?); paste the whole line of your .pub file`;
  if (fields === undefined || fields[0].toString("latin1") !== type) return damaged;
  if (type === "ssh-ed25519")
    return fields.length === 2 && fields[1].length === ED25519_KEY_BYTES ? undefined : damaged;
  // RFC 4253 section 6.6: string "ssh-rsa", mpint e, mpint n; RFC 4251 section 5: an mpint is
  // two's complement, so a positive one whose top bit is set carries a leading zero byte.
  if (fields.length !== 3 || fields.slice(1).some((mpint) => mpint.length === 0 || (mpint[0] & 0x80) !== 0))
    return damaged;
  const bits = bitLength(fields[2]);
  if (bits < MIN_RSA_BITS)
    return `is a ${bits}-bit RSA key, which Azure refuses for a Linux VM: it takes ${AZURE_SSH_KEYS}; ${MAKE_SSH_KEY}`;
  return undefined;
}

/** The length-prefixed strings an SSH public key blob is made of, or undefined when one overruns it. */
function sshWireStrings(blob: Buffer): Buffer[] | undefined {
  const strings: Buffer[] = [];
  for (let at = 0; at < blob.length;) {
    if (at + 4 > blob.length) return undefined;
    const end = at + 4 + blob.readUInt32BE(at);
    if (end > blob.length) return undefined;
    strings.push(blob.subarray(at + 4, end));
    at = end;
  }
  return strings.length > 0 ? strings : undefined;
}

/** The number of significant bits of a non-negative big-endian integer. */
function bitLength(bytes: Buffer): number {
  const first = bytes.findIndex((b) => b !== 0);
  return first < 0 ? 0 : (bytes.length - first - 1) * 8 + (32 - Math.clz32(bytes[first]));
}

function parseArtifactUrl(text: string): ArtifactRef | undefined {
  const ui = ARTIFACT_UI.exec(text);
  const api = ARTIFACT_API.exec(text);
  const [owner, repo, artifactId] = ui ? [ui[1], ui[2], ui[4]] : api ? [api[1], api[2], api[3]] : [];
  if (!owner || !repo || !artifactId) return undefined;
  return {
    owner,
    repo,
    artifactId,
    apiZipUrl: `https://api.github.com/repos/${owner}/${repo}/actions/artifacts/${artifactId}/zip`,
  };
}

/** An entry's whole fields; proxies and vmSize are optional. */
const REGION_FIELDS = ["name", "location", "vnetCidr", "subnetCidr"] as const;
const REGION_OPTIONAL_FIELDS = ["proxies", "vmSize"] as const;

function parseRegions(text: string, stackVmSize: string, problem: (what: string) => void): Region[] | undefined {
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch {
    problem("is not valid JSON; set it as a YAML list of objects in Pulumi.<stack>.yaml");
    return undefined;
  }
  if (!Array.isArray(entries) || entries.length === 0) {
    problem(
      "must be a non-empty list of {name, location, vnetCidr, subnetCidr}, each optionally with proxies and vmSize",
    );
    return undefined;
  }
  const regions: Region[] = [];
  const parsed: { vnet: ReturnType<typeof parseCidr>; label: string }[] = [];
  const reverseZones: { zone: string; name: string }[] = [];
  entries.forEach((entry: unknown, i: number) => {
    const at = `entry ${i + 1}`;
    if (typeof entry !== "object" || entry === null) {
      problem(`${at} is not an object with name, location, vnetCidr and subnetCidr`);
      return;
    }
    const e = entry as Record<string, unknown>;
    const missing = REGION_FIELDS.filter((f) => typeof e[f] !== "string" || e[f] === "");
    if (missing.length > 0) {
      problem(`${at} lacks ${missing.join(", ")} (each a string)`);
      return;
    }
    const known: readonly string[] = [...REGION_FIELDS, ...REGION_OPTIONAL_FIELDS];
    const unknownFields = Object.keys(e).filter((k) => !known.includes(k));
    if (unknownFields.length > 0)
      problem(`${at} has unknown field(s) ${unknownFields.join(", ")} (an entry takes ${known.join(", ")})`);
    const [name, location, vnetText, subnetText] = REGION_FIELDS.map((f) => e[f] as string);
    if (!/^[a-z][a-z0-9]{0,15}$/.test(name))
      problem(`${at}: name "${name}" must be lower-case letters and digits, starting with a letter`);
    if (!/^[a-z][a-z0-9]{1,30}$/.test(location))
      problem(`${at}: location "${location}" is not an Azure region name such as eastus`);
    if (regions.some((r) => r.name === name)) problem(`${at}: name "${name}" is used twice`);
    if (regions.some((r) => r.location === location))
      problem(
        `${at}: location "${location}" is used twice (one VNet per location; give that entry more proxies instead)`,
      );
    const proxies = e.proxies === undefined ? 1 : e.proxies;
    const proxiesValid = typeof proxies === "number" && Number.isInteger(proxies) && proxies >= 1;
    if (!proxiesValid) {
      problem(
        `${at}: proxies ${JSON.stringify(proxies)} must be a whole number of 1 or more, unquoted (how many FlowProxy VMs the region runs; leave it out for 1), e.g. proxies: 2`,
      );
    }
    const vmSize = e.vmSize === undefined ? stackVmSize : e.vmSize;
    if (typeof vmSize !== "string" || !AZURE_VM_SIZE.test(vmSize)) {
      problem(
        `${at}: vmSize ${JSON.stringify(vmSize)} is not an Azure VM size such as Standard_B2s (leave it out for the stack's vmSize)`,
      );
    }
    const vnet = parseCidr(vnetText);
    const subnet = parseCidr(subnetText);
    if (typeof vnet === "string") problem(`${at}: vnetCidr "${vnetText}" ${vnet}`);
    if (typeof subnet === "string") problem(`${at}: subnetCidr "${subnetText}" ${subnet}`);
    if (typeof vnet !== "string" && typeof subnet !== "string") {
      if (vnet.prefix < 8 || vnet.prefix > 29)
        problem(`${at}: vnetCidr "${vnetText}" must have a prefix between /8 and /29`);
      if (!cidrContains(vnet, subnet))
        problem(`${at}: subnetCidr "${subnetText}" is not inside vnetCidr "${vnetText}"`);
      if (subnet.prefix > 28)
        problem(`${at}: subnetCidr "${subnetText}" is too small; Azure reserves 5 addresses, use /28 or larger`);
      else if (proxiesValid) {
        const needed = vmsInRegion({ proxies }, i);
        const usable = usableAddresses(subnetText);
        if (needed > usable) {
          problem(
            `${at}: subnetCidr "${subnetText}" has ${usable} addresses for VMs (Azure keeps ${AZURE_RESERVED_ADDRESSES} of every subnet), ` +
              `but the region needs ${needed} (${proxies} proxies${i === 0 ? " and BuilderHub" : ""}); lower proxies to ${usable - (needed - proxies)} or give the region a larger subnetCidr (and vnetCidr) before adding VMs`,
          );
        }
      }
      for (const other of parsed) {
        if (typeof other.vnet !== "string" && cidrsOverlap(vnet, other.vnet)) {
          problem(`${at}: vnetCidr "${vnetText}" overlaps ${other.label}; peered VNets need disjoint address spaces`);
        }
      }
      const zone = reverseZoneOf(subnetText);
      const sharing = reverseZones.find((z) => z.zone === zone);
      if (sharing) {
        problem(
          `${at}: subnetCidr "${subnetText}" falls in the reverse DNS zone ${zone} of region "${sharing.name}"; each region's subnet needs a reverse zone of its own, so give it a /24 or smaller inside its own /16, e.g. 10.30.1.0/24`,
        );
      }
      reverseZones.push({ zone, name });
    }
    parsed.push({ vnet, label: `the vnetCidr of ${at} ("${vnetText}")` });
    regions.push({
      name,
      location,
      vnetCidr: vnetText,
      subnetCidr: subnetText,
      proxies: proxiesValid ? proxies : 1,
      vmSize: typeof vmSize === "string" ? vmSize : JSON.stringify(vmSize),
    });
  });
  // A region's later proxies take its name with their number as the prefix of their outputs (east2), which another region must not have.
  for (const region of regions) {
    for (let number = 2; number <= region.proxies; number++) {
      const output = proxyOutputName(region.name, number);
      const clash = regions.find((other) => other.name === output);
      if (clash) {
        problem(
          `the outputs of proxy ${number} of region "${region.name}" are named ${vmOutputNames(output).publicIp}, ... like those of region "${output}"; rename that region (e.g. "${output}x")`,
        );
      }
    }
  }
  return regions;
}

function readLocalFiles(projectDir: string, problems: string[], clickhouseConfigured: boolean): LocalFiles | undefined {
  const contents: Partial<Record<keyof LocalFiles, string>> = {};
  for (const [field, file] of Object.entries(LOCAL_FILES) as [keyof LocalFiles, string][]) {
    const full = path.join(projectDir, file);
    let text: string;
    try {
      text = fs.readFileSync(full, "utf8");
    } catch {
      problems.push(
        `${file} is missing from ${projectDir}; it is part of the project and must sit next to index.ts (restore it with git checkout -- '${file}')`,
      );
      continue;
    }
    if (text.trim() === "") {
      problems.push(`${file} is empty; restore it with git checkout -- '${file}'`);
      continue;
    }
    contents[field] = text;
  }
  if (contents.flowproxyEnv !== undefined)
    problems.push(...checkFlowproxyEnv(contents.flowproxyEnv, clickhouseConfigured));
  if (problems.length > 0) return undefined;
  return contents as LocalFiles;
}

/** flowproxy.env holds committed, non-secret settings only; the program supplies identity and secrets. */
function checkFlowproxyEnv(text: string, clickhouseConfigured = false): string[] {
  const problems: string[] = [];
  text.split("\n").forEach((line, i) => {
    const where = `flowproxy.env line ${i + 1}`;
    if (line.trim() === "" || line.startsWith("#")) return;
    const m = ENV_LINE.exec(line);
    if (!m) {
      problems.push(`${where} is not NAME=value: "${line.slice(0, 60)}"`);
      return;
    }
    const [, name, value] = m;
    if ((CLICKHOUSE_GROUP_ENV as readonly string[]).includes(name)) {
      problems.push(
        `${where} sets ${name}; the program writes the ClickHouse group from config, all together or not at all: delete that line and set ${CLICKHOUSE_KEYS.join(", ")} (e.g. ${setCommand("clickhouseHost")})`,
      );
    } else if (name.startsWith("CLICKHOUSE_") && !clickhouseConfigured) {
      problems.push(
        `${where} sets ${name}, a ClickHouse setting, but ClickHouse is not configured: FlowProxy would exit with a usage error; delete that line or set ${CLICKHOUSE_KEYS.join(", ")}`,
      );
    } else if (name === "PARQUET_BUNDLE_RECEIPTS_FILE_PATH" && clickhouseConfigured) {
      problems.push(
        `${where} sets ${name}, but FlowProxy refuses Parquet indexing together with ClickHouse; delete that line or unset the clickhouse* keys`,
      );
    } else if (name in FLOWPROXY_LISTEN) {
      problems.push(
        `${where} sets ${name}, which the program sets itself to ${FLOWPROXY_LISTEN[name as keyof typeof FLOWPROXY_LISTEN]}: HAProxy's backends, the NSGs and pnpm run verify expect FlowProxy there; delete that line`,
      );
    } else if ((PROGRAM_OWNED_ENV as readonly string[]).includes(name)) {
      problems.push(
        `${where} sets ${name}, which the program sets itself; delete that line (secrets go in secret config, e.g. pulumi config set --secret ${fullKey("clickhousePassword")} ...)`,
      );
    } else if (SECRET_LOOKING_ENV.test(name)) {
      problems.push(
        `${where} sets ${name}, which looks like a secret; flowproxy.env is committed, so keep secrets in secret config instead`,
      );
    }
    if (/["'\\$`]/.test(value)) {
      problems.push(
        `${where}: the value of ${name} has quotes, a backslash, $ or a backtick; systemd would not read it literally, so write the bare value`,
      );
    }
  });
  return problems;
}
