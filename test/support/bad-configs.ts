// The catalogue of bad inputs the program must refuse, each with the message it must give. Shared by
// the unit tests and the reliability report, so both prove the same list.
import * as fs from "fs";
import * as path from "path";
import { ConfigError } from "../../lib/config";
import { EvaluationRequest, PROJECT_DIR, ProgramRefusal, withEditedProject } from "../../plan/evaluation";
import { Outcome, outcomeOf, validRequest } from "./program";
import { SSH_KEYS } from "./ssh-keys";

export interface BadConfig {
  title: string;
  request?: EvaluationRequest;
  /** A project file replaced (or removed, with null) in a copy of the project. */
  file?: { name: string; content: string | null };
  expected: RegExp[];
}

const P = "flowproxy-staging";
const env = fs.readFileSync(path.join(PROJECT_DIR, "flowproxy.env"), "utf8");
const east = { name: "east", location: "eastus", vnetCidr: "10.10.0.0/16", subnetCidr: "10.10.1.0/24" };
const west = { name: "west", location: "westeurope", vnetCidr: "10.20.0.0/16", subnetCidr: "10.20.1.0/24" };
const regions = (entries: object[]) => JSON.stringify(entries);
const CLICKHOUSE = {
  clickhouseHost: "https://clickhouse.example.com:8443",
  clickhouseDatabase: "buildernet",
  clickhouseUsername: "fp",
  clickhousePassword: "pw-123",
};

function inPlainText(overrides: Record<string, string>, plainKey: string): EvaluationRequest {
  const request = validRequest(overrides);
  return { ...request, secretKeys: request.secretKeys!.filter((k) => k !== plainKey) };
}

const missing = ["adminUsername", "sshPublicKey", "flowProxyArtifact", "githubToken", "haProxyVersion"].map(
  (key): BadConfig => ({
    title: `a missing ${key} is named with the command that sets it`,
    request: validRequest({ [key]: undefined }),
    expected: [new RegExp(`${P}:${key} is required but not set\\. Example: pulumi config set`)],
  }),
);

const plainSecrets: BadConfig[] = (
  [
    ["sshPublicKey", {}],
    ["githubToken", {}],
    ["tailscaleAuthKey", { tailscaleAuthKey: "tskey-auth-abc123" }],
    ["clickhousePassword", { ...CLICKHOUSE, clickhousePassword: "hunter2hunter2" }],
    ["dockerHubToken", { dockerHubUsername: "flowproxyops", dockerHubToken: "dckr_pat_plain" }],
  ] as [key: string, overrides: Record<string, string>][]
).map(([key, overrides]) => ({
  title: `${key} in plain text is refused`,
  request: inPlainText(overrides, key),
  expected: [
    new RegExp(`${P}:${key} is stored in plain text but must be a secret.*pulumi config set --secret ${P}:${key}`),
  ],
}));

export const BAD_CONFIGS: BadConfig[] = [
  ...missing,
  ...plainSecrets,
  {
    title: "an SSH key with a damaged body is refused",
    request: validRequest({ sshPublicKey: "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ me@host" }),
    expected: [/sshPublicKey has a key body that is not a ssh-ed25519 key/],
  },
  {
    title: "a private key pasted into sshPublicKey is refused",
    request: validRequest({ sshPublicKey: "-----BEGIN OPENSSH PRIVATE KEY-----" }),
    expected: [/sshPublicKey does not start with a key type Azure takes/],
  },
  {
    title: "an ECDSA SSH key, which Azure refuses, is refused naming the key types Azure takes",
    request: validRequest({ sshPublicKey: SSH_KEYS.ecdsa256 }),
    expected: [
      /sshPublicKey is a ecdsa-sha2-nistp256 key, which Azure refuses for a Linux VM: it takes ssh-ed25519 keys, and ssh-rsa keys of 2048 bits or more; make one with ssh-keygen -t ed25519/,
    ],
  },
  {
    title: "a security-key (sk-) SSH key, which Azure refuses, is refused",
    request: validRequest({ sshPublicKey: SSH_KEYS.skEd25519 }),
    expected: [/sshPublicKey is a sk-ssh-ed25519@openssh\.com key, which Azure refuses for a Linux VM/],
  },
  {
    title: "an RSA SSH key under 2048 bits is refused with its bit length",
    request: validRequest({ sshPublicKey: SSH_KEYS.rsa1024 }),
    expected: [/sshPublicKey is a 1024-bit RSA key, which Azure refuses for a Linux VM.*ssh-keygen -t rsa -b 4096/],
  },
  {
    title: "a key the program does not know is refused, naming the key it nearly is",
    request: validRequest({ allowedSSHCidr: "203.0.113.0/24" }),
    expected: [
      /flowproxy-staging:allowedSSHCidr is not a key of this program; did you mean allowedSshCidr\? Move its value there: pulumi config rm flowproxy-staging:allowedSSHCidr, then pulumi config set flowproxy-staging:allowedSshCidr/,
    ],
  },
  {
    title: "a CIDR with a prefix over 32 is refused",
    request: validRequest({ allowedSshCidr: "10.0.0.0/33" }),
    expected: [/allowedSshCidr "10\.0\.0\.0\/33" has an invalid prefix length/],
  },
  {
    title: "a CIDR with host bits set names the network meant",
    request: validRequest({ allowedSshCidr: "198.51.100.7/24" }),
    expected: [/has host bits set; the network is 198\.51\.100\.0\/24/],
  },
  {
    title: "an artifact URL that is not a GitHub Actions artifact is refused",
    request: validRequest({ flowProxyArtifact: "https://example.com/flowproxy.zip" }),
    expected: [/flowProxyArtifact "https:\/\/example\.com\/flowproxy\.zip" is not a GitHub Actions artifact URL/],
  },
  {
    title: "an image tag with a malformed digest is refused",
    request: validRequest({ haProxyVersion: "3.0.6@sha256:abc" }),
    expected: [/haProxyVersion "3\.0\.6@sha256:abc" is not a Docker image tag/],
  },
  {
    title: "an image tag with shell syntax is refused",
    request: validRequest({ haProxyVersion: "3.0.6; reboot" }),
    expected: [/haProxyVersion "3\.0\.6; reboot" is not a Docker image tag/],
  },
  {
    title: "a user name with command substitution is refused",
    request: validRequest({ adminUsername: "$(reboot)" }),
    expected: [/adminUsername "\$\(reboot\)" is not a valid Linux user name/],
  },
  {
    title: "a user name Azure reserves is refused",
    request: validRequest({ adminUsername: "root" }),
    expected: [/adminUsername "root" is reserved by Azure/],
  },
  {
    title: "a value with a newline is refused",
    request: validRequest({ allowedSshCidr: "10.0.0.0/8\nrm -rf /" }),
    expected: [/allowedSshCidr contains a newline or control character/],
  },
  {
    title: "a GitHub token with a quote and command substitution is refused",
    request: validRequest({ githubToken: "ghp_abc'$(curl evil.example)'0123456789" }),
    expected: [/githubToken does not look like a GitHub token/],
  },
  {
    title: "a Tailscale key with backticks is refused",
    request: validRequest({ tailscaleAuthKey: "tskey-`id`" }),
    expected: [/tailscaleAuthKey is not a Tailscale auth key/],
  },
  {
    title: "a ClickHouse user with a quote is refused",
    request: validRequest({ ...CLICKHOUSE, clickhouseUsername: "fp'; rm -rf /" }),
    expected: [/clickhouseUsername may only hold letters, digits and _ \. @ -/],
  },
  {
    title: "a flowProxySha256 of the wrong length is refused",
    request: validRequest({ flowProxySha256: "abc123" }),
    expected: [/flowProxySha256 is not 64 hexadecimal digits/],
  },
  {
    title: "a VM size with shell syntax is refused",
    request: validRequest({ vmSize: "Standard_B2s $(id)" }),
    expected: [/vmSize "Standard_B2s \$\(id\)" is not an Azure VM size/],
  },
  {
    title: "an unknown signerKeySource is refused",
    request: validRequest({ signerKeySource: "hsm" }),
    expected: [/signerKeySource "hsm" must be "stack" or "vm"/],
  },
  {
    title: "a ClickHouse user without a password is refused",
    request: validRequest({ clickhouseUsername: "fp" }),
    expected: [
      /clickhousePassword is not set, but clickhouseUsername is: FlowProxy needs all four ClickHouse keys or none/,
    ],
  },
  {
    title: "ClickHouse credentials without host and database are refused, naming both",
    request: validRequest({ clickhouseUsername: "fp", clickhousePassword: "pw-123" }),
    expected: [
      /clickhouseHost is not set, but clickhouseUsername, clickhousePassword are/,
      /clickhouseDatabase is not set/,
    ],
  },
  {
    title: "a Docker Hub username without its token is refused",
    request: validRequest({ dockerHubUsername: "flowproxyops" }),
    expected: [/dockerHubToken is not set, but dockerHubUsername is: every VM logs in to Docker Hub with both/],
  },
  {
    title: "a ClickHouse password that systemd would not pass on as written is refused",
    request: validRequest({ ...CLICKHOUSE, clickhousePassword: 'p\\ss"1' }),
    expected: [/clickhousePassword holds a quote, a backslash or leading or trailing blanks/],
  },
  {
    title: "a ClickHouse host that is not a URL is refused",
    request: validRequest({ ...CLICKHOUSE, clickhouseHost: "clickhouse:8443; id" }),
    expected: [/clickhouseHost "clickhouse:8443; id" is not a ClickHouse URL/],
  },
  {
    title: "an unknown flowProxyGeneration is refused",
    request: validRequest({ flowProxyGeneration: "http" }),
    expected: [/flowProxyGeneration "http" must be 1 \(HTTP system API, FlowProxy v1\.1-v1\.2\) or 2/],
  },
  {
    title: "flowProxyGeneration 3 (mutual TLS) is refused as unsupported",
    request: validRequest({ flowProxyGeneration: "3" }),
    expected: [/flowProxyGeneration 3 \(mutual TLS .*\) is not supported by this stack/],
  },
  {
    title: "overlapping VNets are refused",
    request: validRequest({
      regions: regions([
        east,
        { name: "west", location: "westeurope", vnetCidr: "10.10.128.0/17", subnetCidr: "10.10.200.0/24" },
      ]),
    }),
    expected: [/regions entry 2: vnetCidr "10\.10\.128\.0\/17" overlaps the vnetCidr of entry 1/],
  },
  {
    title: "a subnet outside its VNet is refused",
    request: validRequest({ regions: regions([{ ...east, subnetCidr: "10.11.1.0/24" }]) }),
    expected: [/regions entry 1: subnetCidr "10\.11\.1\.0\/24" is not inside vnetCidr "10\.10\.0\.0\/16"/],
  },
  {
    title: "a region table of the wrong type is refused",
    request: validRequest({ regions: "42" }),
    expected: [/regions must be a non-empty list/],
  },
  {
    title: "a region table that is not JSON is refused",
    request: validRequest({ regions: "[{name: east" }),
    expected: [/regions is not valid JSON/],
  },
  {
    title: "a region entry without its CIDRs is refused",
    request: validRequest({ regions: regions([{ name: "east", location: "eastus" }]) }),
    expected: [/regions entry 1 lacks vnetCidr, subnetCidr/],
  },
  {
    title: "a region location with command substitution is refused",
    request: validRequest({ regions: regions([east, { ...west, location: "$(reboot)" }]) }),
    expected: [/regions entry 2: location "\$\(reboot\)" is not an Azure region name/],
  },
  {
    title: "two regions in one location are refused",
    request: validRequest({ regions: regions([east, { ...west, location: "eastus" }]) }),
    expected: [/regions entry 2: location "eastus" is used twice/],
  },
  {
    title: "a region of no proxies is refused",
    request: validRequest({ regions: regions([{ ...east, proxies: 0 }, west]) }),
    expected: [/regions entry 1: proxies 0 must be a whole number of 1 or more, unquoted .*e\.g\. proxies: 2/],
  },
  {
    title: "a fractional count of proxies is refused",
    request: validRequest({ regions: regions([east, { ...west, proxies: 1.5 }]) }),
    expected: [/regions entry 2: proxies 1\.5 must be a whole number of 1 or more/],
  },
  {
    title: "a count of proxies written as text is refused",
    request: validRequest({ regions: regions([{ ...east, proxies: "2" }, west]) }),
    expected: [/regions entry 1: proxies "2" must be a whole number of 1 or more, unquoted/],
  },
  {
    title: "a region's VM size that is no Azure size is refused",
    request: validRequest({ regions: regions([east, { ...west, vmSize: "B4ls_v2" }]) }),
    expected: [/regions entry 2: vmSize "B4ls_v2" is not an Azure VM size such as Standard_B2s/],
  },
  {
    title: "a region grown past the addresses of its subnet is refused, naming the count that fits",
    request: validRequest({ regions: regions([{ ...east, subnetCidr: "10.10.1.0/28", proxies: 11 }, west]) }),
    expected: [
      /regions entry 1: subnetCidr "10\.10\.1\.0\/28" has 11 addresses for VMs \(Azure keeps 5 of every subnet\), but the region needs 12 \(11 proxies and BuilderHub\); lower proxies to 10 or give the region a larger subnetCidr/,
    ],
  },
  {
    title: "two subnets in one reverse DNS zone are refused",
    request: validRequest({
      regions: regions([
        { ...east, vnetCidr: "10.0.0.0/9", subnetCidr: "10.0.0.0/15" },
        { ...west, vnetCidr: "10.128.0.0/9", subnetCidr: "10.128.0.0/15" },
      ]),
    }),
    expected: [
      /regions entry 2: subnetCidr "10\.128\.0\.0\/15" falls in the reverse DNS zone 10\.in-addr\.arpa of region "east"/,
    ],
  },
  {
    title: "a region named like another region's second proxy is refused",
    request: validRequest({
      regions: regions([
        { ...east, proxies: 2 },
        { ...west, name: "east2" },
      ]),
    }),
    expected: [
      /the outputs of proxy 2 of region "east" are named east2PublicIp, \.\.\. like those of region "east2"; rename that region/,
    ],
  },
  {
    title: "all problems are reported together",
    request: validRequest({ adminUsername: undefined, haProxyVersion: "bad tag" }),
    expected: [/2 problems/, /adminUsername is required/, /haProxyVersion "bad tag"/],
  },
  {
    title: "a provisioningRun that is not a whole number is refused",
    request: validRequest({ provisioningRun: "-1" }),
    expected: [
      /provisioningRun "-1" is not a whole number of 0 or more; raise it by one to rerun every extension\. Example: pulumi config set flowproxy-staging:provisioningRun '1'/,
    ],
  },
  {
    title: "an autoShutdownTime past 2359 is refused",
    request: validRequest({ autoShutdownTime: "2460" }),
    expected: [
      /autoShutdownTime "2460" is not a time of day as HHMM, 24-hour, from 0000 to 2359 \(1900 is 7 pm\); remove the key for no daily shutdown\. Example: pulumi config set flowproxy-staging:autoShutdownTime '1900'/,
    ],
  },
  {
    title: "an autoShutdownTime written as 7pm is refused with the HHMM it means",
    request: validRequest({ autoShutdownTime: "7pm" }),
    expected: [
      /autoShutdownTime "7pm" is not a time of day as HHMM.* \(for 7pm, write 1900\).*Example: pulumi config set flowproxy-staging:autoShutdownTime '1900'/,
    ],
  },
  {
    title: "an IANA autoShutdownTimeZone is refused with the Windows id Azure takes for it",
    request: validRequest({ autoShutdownTime: "1900", autoShutdownTimeZone: "Europe/Berlin" }),
    expected: [
      /autoShutdownTimeZone "Europe\/Berlin" is an IANA time zone name, but Azure's auto-shutdown takes Windows time zone ids only.*; Europe\/Berlin's is "W\. Europe Standard Time"\. Example: pulumi config set flowproxy-staging:autoShutdownTimeZone 'W\. Europe Standard Time'/,
    ],
  },
  {
    title: "a misspelt autoShutdownTimeZone is refused with the nearest Windows id",
    request: validRequest({ autoShutdownTime: "1900", autoShutdownTimeZone: "Pacific Standrd Time" }),
    expected: [
      /autoShutdownTimeZone "Pacific Standrd Time" is not a Windows time zone id.*; the nearest id is "Pacific Standard Time"\. Example: pulumi config set flowproxy-staging:autoShutdownTimeZone 'Pacific Standard Time'/,
    ],
  },
  {
    title: "a monitoring value other than true or false is refused",
    request: validRequest({ monitoring: "yes" }),
    expected: [
      /monitoring "yes" must be true or false\. Example: pulumi config set flowproxy-staging:monitoring 'true'/,
    ],
  },
  {
    title: "a missing haproxy.cfg is named",
    file: { name: "haproxy.cfg", content: null },
    expected: [/haproxy\.cfg is missing from .*git checkout -- 'haproxy\.cfg'/],
  },
  {
    title: "an empty flowproxy.env is named",
    file: { name: "flowproxy.env", content: "\n" },
    expected: [/flowproxy\.env is empty/],
  },
  {
    title: "a missing flowproxy@.service is named",
    file: { name: "flowproxy@.service", content: null },
    expected: [/flowproxy@\.service is missing/],
  },
  {
    title: "flowproxy.env may not set the signer key",
    file: { name: "flowproxy.env", content: `${env}FLASHBOTS_ORDERFLOW_SIGNER=0x${"11".repeat(32)}\n` },
    expected: [/flowproxy\.env line \d+ sets FLASHBOTS_ORDERFLOW_SIGNER, which the program sets itself/],
  },
  {
    title: "flowproxy.env may not set the node name",
    file: { name: "flowproxy.env", content: `${env}BUILDERNET_NODE_NAME=vm-eastus\n` },
    expected: [/flowproxy\.env line \d+ sets BUILDERNET_NODE_NAME, which the program sets itself/],
  },
  {
    title: "flowproxy.env may not hold a secret",
    file: { name: "flowproxy.env", content: `${env}API_TOKEN=hunter2\n` },
    expected: [/sets API_TOKEN, which looks like a secret/],
  },
  {
    title: "flowproxy.env may not set part of the ClickHouse group",
    file: { name: "flowproxy.env", content: `${env}CLICKHOUSE_HOST=https://clickhouse.example.com:8443\n` },
    expected: [
      /sets CLICKHOUSE_HOST; the program writes the ClickHouse group from config, all together or not at all.*clickhouseHost/,
    ],
  },
  {
    title: "flowproxy.env may not tune ClickHouse when ClickHouse is not configured",
    file: { name: "flowproxy.env", content: `${env}CLICKHOUSE_BUNDLES_TABLE_NAME=bundles\n` },
    expected: [/sets CLICKHOUSE_BUNDLES_TABLE_NAME, a ClickHouse setting, but ClickHouse is not configured/],
  },
  {
    title: "flowproxy.env may not turn on Parquet indexing beside ClickHouse",
    request: validRequest(CLICKHOUSE),
    file: {
      name: "flowproxy.env",
      content: `${env}PARQUET_BUNDLE_RECEIPTS_FILE_PATH=/var/lib/flowproxy/receipts.parquet\n`,
    },
    expected: [
      /sets PARQUET_BUNDLE_RECEIPTS_FILE_PATH, but FlowProxy refuses Parquet indexing together with ClickHouse/,
    ],
  },
  {
    title: "flowproxy.env may not hold a value with command substitution",
    file: { name: "flowproxy.env", content: `${env}RUST_BACKTRACE=$(id)\n` },
    expected: [/the value of RUST_BACKTRACE has quotes, a backslash, \$ or a backtick/],
  },
  {
    title: "flowproxy.env may not move FlowProxy's listeners away from where HAProxy and the NSGs expect them",
    file: { name: "flowproxy.env", content: `${env}USER_LISTEN_ADDR=0.0.0.0:5543\n` },
    expected: [
      /flowproxy\.env line \d+ sets USER_LISTEN_ADDR, which the program sets itself to 127\.0\.0\.1:5543: HAProxy's backends, the NSGs and pnpm run verify expect FlowProxy there; delete that line/,
    ],
  },
];

/** The message's problem lines ("  - key ..."); the line above them only says how many there are. */
export function problemLines(message: string): string[] {
  return message
    .split("\n")
    .filter((line) => line.startsWith("  - "))
    .map((line) => line.slice(4));
}

const outcomes = new Map<BadConfig, Promise<Outcome>>();

/**
 * Runs the program on a bad input, once per input in this process (its counterpart reads the same
 * outcome); a file edit happens in a throwaway copy of the project.
 */
export function tryBadConfig(bad: BadConfig): Promise<Outcome> {
  let outcome = outcomes.get(bad);
  if (!outcome) {
    const request = bad.request ?? validRequest();
    const file = bad.file;
    outcome = file
      ? withEditedProject(
          file.name,
          () => file.content,
          (projectDir) => outcomeOf({ ...request, projectDir }),
        )
      : outcomeOf(request);
    outcomes.set(bad, outcome);
  }
  return outcome;
}

/**
 * The refusal the program would give if it did not check what `bad` is about: its problems without
 * the ones `bad` expects, or, when none is left, `accepted` (the program goes on and declares).
 */
export function withoutExpectedProblems(bad: BadConfig, refused: Outcome, accepted: Outcome): Outcome {
  if (refused.kind !== "refused")
    throw new Error(`"${bad.title}" was not refused, so there is no refusal to take a problem from`);
  const problems = problemLines(refused.refusal.message).filter(
    (problem) => !bad.expected.some((pattern) => pattern.test(problem)),
  );
  if (problems.length === 0) return accepted;
  return { kind: "refused", refusal: new ProgramRefusal(new ConfigError(problems).message, 0) };
}

/** What is wrong with how the program refused, or undefined when it refused as it must. */
export function judgeRefusal(bad: BadConfig, outcome: Outcome): string | undefined {
  if (outcome.kind === "declared")
    return `the program declared its resources instead of refusing with ${bad.expected.join(", ")}`;
  if (outcome.kind === "failed") return `the program crashed instead of refusing: ${outcome.failure.message}`;
  const { message, declared } = outcome.refusal;
  if (declared > 0) return `the program declared ${declared} resources before it refused`;
  if (/^\s+at .+:\d+:\d+\)?$/m.test(message)) return "the message carries a stack trace";
  const unmatched = bad.expected.filter((pattern) => !pattern.test(message));
  if (unmatched.length > 0) return `the message does not say ${unmatched.join(", ")}:\n${message}`;
  return undefined;
}
