// Each bad configuration stops the program before any resource exists, with one clear message that
// names the key, says what is wrong and shows a good value; never a stack trace.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { describe, test } from "node:test";
import { copyProject, runRenderAsync, validRequest } from "../support/stack";
import type { RenderRequest } from "../support/render-stack";

const P = "flowproxy-staging";

async function expectRejected(request: RenderRequest, ...expected: RegExp[]): Promise<void> {
  const outcome = await runRenderAsync(request);
  assert.equal(outcome.status, 1, `the program should stop with exit 1, got ${outcome.status}: ${outcome.stderr}`);
  assert.equal(outcome.stdout, "", "nothing was declared");
  assert.doesNotMatch(outcome.stderr, /^\s+at .+\(.*:\d+:\d+\)$/m, "no stack trace");
  for (const pattern of expected) assert.match(outcome.stderr, pattern);
}

function plain(overrides: Record<string, string>, plainKeys: string[]): RenderRequest {
  const request = validRequest(overrides);
  return { ...request, secretKeys: request.secretKeys!.filter((k) => !plainKeys.includes(k)) };
}

async function withProjectEdit(file: string, content: string | null, ...expected: RegExp[]): Promise<void> {
  const dir = copyProject();
  try {
    if (content === null) fs.rmSync(path.join(dir, file));
    else fs.writeFileSync(path.join(dir, file), content);
    await expectRejected({ ...validRequest(), projectDir: dir }, ...expected);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const env = fs.readFileSync(path.join(__dirname, "..", "..", "flowproxy.env"), "utf8");
const regions = (entries: object[]) => JSON.stringify(entries);
const east = { name: "east", location: "eastus", vnetCidr: "10.10.0.0/16", subnetCidr: "10.10.1.0/24" };

describe("configuration errors", { concurrency: 2 }, () => {
  for (const key of ["adminUsername", "sshPublicKey", "flowProxyArtifact", "githubToken", "haProxyVersion"]) {
    test(`a missing ${key} is named with the command that sets it`, () =>
      expectRejected(validRequest({ [key]: undefined }), new RegExp(`${P}:${key} is required but not set\\. Example: pulumi config set`)));
  }

  for (const key of ["sshPublicKey", "githubToken"]) {
    test(`${key} in plain text is refused`, () =>
      expectRejected(plain({}, [key]), new RegExp(`${P}:${key} is stored in plain text but must be a secret.*pulumi config set --secret ${P}:${key}`)));
  }

  test("tailscaleAuthKey in plain text is refused", () =>
    expectRejected(plain({ tailscaleAuthKey: "tskey-auth-abc123" }, ["tailscaleAuthKey"]), /tailscaleAuthKey is stored in plain text/));

  test("clickhousePassword in plain text is refused", () =>
    expectRejected(plain({ clickhouseUsername: "fp", clickhousePassword: "hunter2hunter2" }, ["clickhousePassword"]), /clickhousePassword is stored in plain text/));

  test("an SSH key with a damaged body is refused", () =>
    expectRejected(validRequest({ sshPublicKey: "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ me@host" }), /sshPublicKey has a key body that is not a ssh-ed25519 key/));

  test("a private key or other text in sshPublicKey is refused", () =>
    expectRejected(validRequest({ sshPublicKey: "-----BEGIN OPENSSH PRIVATE KEY-----" }), /sshPublicKey does not start with a supported key type/));

  test("a CIDR with a prefix over 32 is refused", () =>
    expectRejected(validRequest({ allowedSshCidr: "10.0.0.0/33" }), /allowedSshCidr "10\.0\.0\.0\/33" has an invalid prefix length/));

  test("a CIDR with host bits set names the network meant", () =>
    expectRejected(validRequest({ allowedSshCidr: "198.51.100.7/24" }), /has host bits set; the network is 198\.51\.100\.0\/24/));

  test("an artifact URL that is not a GitHub Actions artifact is refused", () =>
    expectRejected(validRequest({ flowProxyArtifact: "https://example.com/flowproxy.zip" }), /flowProxyArtifact "https:\/\/example\.com\/flowproxy\.zip" is not a GitHub Actions artifact URL/));

  test("an image tag with a malformed digest is refused", () =>
    expectRejected(validRequest({ haProxyVersion: "3.0.6@sha256:abc" }), /haProxyVersion "3\.0\.6@sha256:abc" is not a Docker image tag/));

  test("an image tag with shell syntax is refused", () =>
    expectRejected(validRequest({ haProxyVersion: "3.0.6; reboot" }), /haProxyVersion "3\.0\.6; reboot" is not a Docker image tag/));

  test("a user name with command substitution is refused", () =>
    expectRejected(validRequest({ adminUsername: "$(reboot)" }), /adminUsername "\$\(reboot\)" is not a valid Linux user name/));

  test("a user name Azure reserves is refused", () =>
    expectRejected(validRequest({ adminUsername: "root" }), /adminUsername "root" is reserved by Azure/));

  test("a value with a newline is refused", () =>
    expectRejected(validRequest({ allowedSshCidr: "10.0.0.0/8\nrm -rf /" }), /allowedSshCidr contains a newline or control character/));

  test("an unknown signerKeySource is refused", () =>
    expectRejected(validRequest({ signerKeySource: "hsm" }), /signerKeySource "hsm" must be "stack" or "vm"/));

  test("a ClickHouse user without a password is refused", () =>
    expectRejected(validRequest({ clickhouseUsername: "fp" }), /clickhousePassword must be set together with clickhouseUsername/));

  test("overlapping VNets are refused", () =>
    expectRejected(
      validRequest({ regions: regions([east, { name: "west", location: "westeurope", vnetCidr: "10.10.128.0/17", subnetCidr: "10.10.200.0/24" }]) }),
      /regions entry 2: vnetCidr "10\.10\.128\.0\/17" overlaps the vnetCidr of entry 1/,
    ));

  test("a subnet outside its VNet is refused", () =>
    expectRejected(
      validRequest({ regions: regions([{ ...east, subnetCidr: "10.11.1.0/24" }]) }),
      /regions entry 1: subnetCidr "10\.11\.1\.0\/24" is not inside vnetCidr "10\.10\.0\.0\/16"/,
    ));

  test("a region table that is not a list is refused", () =>
    expectRejected(validRequest({ regions: '{"name":"east"}' }), /regions must be a non-empty list/));

  test("a region entry without its CIDRs is refused", () =>
    expectRejected(validRequest({ regions: regions([{ name: "east", location: "eastus" }]) }), /regions entry 1 lacks vnetCidr, subnetCidr/));

  test("all problems are reported together", () =>
    expectRejected(validRequest({ adminUsername: undefined, haProxyVersion: "bad tag" }), /2 problems/, /adminUsername is required/, /haProxyVersion "bad tag"/));

  test("a missing haproxy.cfg is named", () => withProjectEdit("haproxy.cfg", null, /haproxy\.cfg is missing from .*git checkout -- 'haproxy\.cfg'/));

  test("an empty flowproxy.env is named", () => withProjectEdit("flowproxy.env", "\n", /flowproxy\.env is empty/));

  test("flowproxy.env may not set the signer key", () =>
    withProjectEdit("flowproxy.env", `${env}FLASHBOTS_ORDERFLOW_SIGNER=0x${"11".repeat(32)}\n`, /flowproxy\.env line \d+ sets FLASHBOTS_ORDERFLOW_SIGNER, which the program sets itself/));

  test("flowproxy.env may not set the node name", () =>
    withProjectEdit("flowproxy.env", `${env}BUILDERNET_NODE_NAME=vm-eastus\n`, /flowproxy\.env line \d+ sets BUILDERNET_NODE_NAME, which the program sets itself/));

  test("flowproxy.env may not hold a secret", () =>
    withProjectEdit("flowproxy.env", `${env}CLICKHOUSE_PASSWORD=hunter2\n`, /sets CLICKHOUSE_PASSWORD, which the program sets itself.*pulumi config set --secret/));

  test("flowproxy.env must set the listen addresses FlowProxy requires", () =>
    withProjectEdit("flowproxy.env", env.replace(/^USER_LISTEN_ADDR=.*\n/m, ""), /flowproxy\.env does not set USER_LISTEN_ADDR/));
});
