import assert from "node:assert/strict";
import { test } from "node:test";
import { keccak_256 } from "@noble/hashes/sha3";
import { runCast } from "../doubles/cast";
import { addressOfPrivateKey, keccak256, toChecksumAddress } from "../doubles/keccak";

const HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const HARDHAT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

test("keccak-256 of the empty input is Ethereum's well-known empty hash", () => {
  assert.equal(keccak256(Buffer.alloc(0)).toString("hex"), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
});

test("keccak-256 matches @noble/hashes around the 136-byte block boundary", () => {
  for (const length of [1, 55, 135, 136, 137, 271, 272, 1000]) {
    const data = Buffer.alloc(length, length % 251);
    assert.equal(keccak256(data).toString("hex"), Buffer.from(keccak_256(data)).toString("hex"), `length ${length}`);
  }
});

test("derives the address of Hardhat's first account from its private key", () => {
  assert.equal(addressOfPrivateKey(HARDHAT_KEY), HARDHAT_ADDRESS);
  assert.equal(addressOfPrivateKey(HARDHAT_KEY.slice(2)), HARDHAT_ADDRESS);
});

test("writes addresses with the EIP-55 checksum", () => {
  assert.equal(toChecksumAddress("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"), "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
});

test("cast wallet new prints a fresh keypair in cast's layout, the address matching the key", () => {
  const first = runCast(["wallet", "new"]);
  const second = runCast(["wallet", "new"]);
  assert.equal(first.code, 0);
  const match = /^Successfully created new keypair\.\nAddress: {5}(0x[0-9a-fA-F]{40})\nPrivate key: (0x[0-9a-f]{64})\n$/.exec(first.stdout);
  assert.ok(match, first.stdout);
  assert.equal(addressOfPrivateKey(match[2]), match[1]);
  assert.notEqual(first.stdout, second.stdout);
});

test("cast wallet address takes the key as argument or --private-key", () => {
  assert.equal(runCast(["wallet", "address", HARDHAT_KEY]).stdout, `${HARDHAT_ADDRESS}\n`);
  assert.equal(runCast(["wallet", "address", "--private-key", HARDHAT_KEY]).stdout, `${HARDHAT_ADDRESS}\n`);
  assert.equal(runCast(["wallet", "address", `--private-key=${HARDHAT_KEY}`]).stdout, `${HARDHAT_ADDRESS}\n`);
  assert.equal(runCast(["wallet", "address", "0x1234"]).code, 1);
});

test("cast refuses what the double does not implement, as a usage error", () => {
  const result = runCast(["send", "0x0"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /does not support `cast send 0x0`/);
});
