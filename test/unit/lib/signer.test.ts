import assert from "node:assert/strict";
import { test } from "node:test";
import { signerAddress, toChecksumAddress } from "../../../lib/signer";

test("derives the Ethereum address of a known key (Hardhat's first account)", () => {
  assert.equal(
    signerAddress("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
  );
});

test("derives the address of the web3.js documentation key, with or without 0x", () => {
  assert.equal(
    signerAddress("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"),
    "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
  );
});

test("writes addresses with the EIP-55 checksum", () => {
  assert.equal(
    toChecksumAddress("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
  );
});

test("rejects a key that is not a secp256k1 scalar", () => {
  assert.throws(() => signerAddress("00".repeat(32)), /valid secp256k1 scalar/);
  assert.throws(() => signerAddress("ff".repeat(32)), /valid secp256k1 scalar/);
});

test("accepts the largest scalar below the curve's order and refuses the order itself", () => {
  const order = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
  assert.match(signerAddress(order.replace(/41$/, "40")), /^0x[0-9a-fA-F]{40}$/);
  assert.throws(() => signerAddress(order), /valid secp256k1 scalar/);
  assert.throws(() => signerAddress("12".repeat(31)), /32 bytes in hex/);
});
