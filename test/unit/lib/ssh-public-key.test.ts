// Which OpenSSH public keys the program takes for sshPublicKey: those Azure puts on a Linux VM
// (lib/config.ts, azureSshKeyRefusal), read from the key's wire format rather than its length.
import assert from "node:assert/strict";
import { test } from "node:test";
import { azureSshKeyRefusal, checkSshPublicKey } from "../../../lib/config";
import { SSH_KEYS } from "../../support/ssh-keys";

const HOW_TO_MAKE = /ssh-keygen -t ed25519 \(or ssh-keygen -t rsa -b 4096\)/;

/** A key line of `type` around `strings` (each length-prefixed, as in the SSH wire format). */
function keyLine(type: string, strings: Buffer[]): string {
  const blob = Buffer.concat(strings.flatMap((s) => [Buffer.from([0, 0, (s.length >> 8) & 0xff, s.length & 0xff]), s]));
  return `${type} ${blob.toString("base64")} test@host`;
}

/** The length-prefixed strings of a fixture's blob. */
function stringsOf(line: string): Buffer[] {
  const blob = Buffer.from(line.split(" ")[1], "base64");
  const strings: Buffer[] = [];
  for (let at = 0; at < blob.length; at += 4 + blob.readUInt32BE(at))
    strings.push(blob.subarray(at + 4, at + 4 + blob.readUInt32BE(at)));
  return strings;
}

test("ed25519 keys and RSA keys of 2048 bits are taken", () => {
  assert.equal(azureSshKeyRefusal(SSH_KEYS.ed25519), undefined);
  assert.equal(azureSshKeyRefusal(SSH_KEYS.rsa2048), undefined);
  assert.equal(checkSshPublicKey(SSH_KEYS.rsa2048), undefined);
});

test("an RSA key under 2048 bits is refused with the bit length of its modulus and how to make a key Azure takes", () => {
  for (const [line, bits] of [
    [SSH_KEYS.rsa1024, 1024],
    [SSH_KEYS.rsa2040, 2040],
  ] as const) {
    const refusal = azureSshKeyRefusal(line) ?? "";
    assert.match(
      refusal,
      new RegExp(
        `^is a ${bits}-bit RSA key, which Azure refuses for a Linux VM: it takes ssh-ed25519 keys, and ssh-rsa keys of 2048 bits or more`,
      ),
    );
    assert.match(refusal, HOW_TO_MAKE);
  }
});

test("ECDSA and security-key (sk-) keys are refused, naming their type and the key types Azure takes", () => {
  for (const line of [SSH_KEYS.ecdsa256, SSH_KEYS.skEd25519, SSH_KEYS.skEcdsa256]) {
    const type = line.split(" ")[0];
    const refusal = azureSshKeyRefusal(line) ?? "";
    assert.ok(
      refusal.startsWith(
        `is a ${type} key, which Azure refuses for a Linux VM: it takes ssh-ed25519 keys, and ssh-rsa keys`,
      ),
      refusal,
    );
    assert.match(refusal, HOW_TO_MAKE);
  }
});

test("an ed25519 key line whose blob is not one 32-byte ed25519 key is refused as damaged", () => {
  const [type, key] = stringsOf(SSH_KEYS.ed25519);
  const damaged = /^has a key body that is not a ssh-ed25519 key \(damaged or truncated when copied\?\)/;
  assert.match(azureSshKeyRefusal(keyLine("ssh-ed25519", [type, key.subarray(1)])) ?? "", damaged, "31 bytes");
  assert.match(
    azureSshKeyRefusal(keyLine("ssh-ed25519", [type, key, Buffer.from("extra")])) ?? "",
    damaged,
    "a string after the key",
  );
  assert.match(
    azureSshKeyRefusal(keyLine("ssh-ed25519", [Buffer.from("ssh-rsa"), key])) ?? "",
    damaged,
    "another type inside",
  );
  const truncated = SSH_KEYS.ed25519.split(" ")[1].slice(0, 40);
  assert.match(azureSshKeyRefusal(`ssh-ed25519 ${truncated}`) ?? "", damaged, "cut short");
});

test("an RSA key line without a positive exponent and modulus is refused as damaged", () => {
  const [type, e, n] = stringsOf(SSH_KEYS.rsa2048);
  const damaged = /^has a key body that is not a ssh-rsa key/;
  assert.match(azureSshKeyRefusal(keyLine("ssh-rsa", [type, e])) ?? "", damaged, "no modulus");
  assert.match(
    azureSshKeyRefusal(keyLine("ssh-rsa", [type, e, n.subarray(1)])) ?? "",
    damaged,
    "a negative modulus (its leading zero byte gone)",
  );
  assert.match(azureSshKeyRefusal(keyLine("ssh-rsa", [type, Buffer.alloc(0), n])) ?? "", damaged, "an empty exponent");
});

test("a line that is no public key is refused, naming the key types Azure takes", () => {
  for (const line of ["-----BEGIN OPENSSH PRIVATE KEY-----", "AAAAC3NzaC1lZDI1NTE5AAAAIGo9 me@host"]) {
    assert.match(
      azureSshKeyRefusal(line) ?? "",
      /^does not start with a key type Azure takes \(ssh-ed25519 keys, and ssh-rsa keys of 2048 bits or more\); paste the whole line of your \.pub file/,
    );
  }
  assert.match(azureSshKeyRefusal("ssh-rsa") ?? "", /^has no base64 key body after its type/);
});
