// The cast double's keys and addresses (test/doubles/cast.ts), made with @noble's keccak-256 and
// secp256k1; the tests check them against published addresses and against viem's derivation.
import assert from "node:assert/strict";
import { test } from "node:test";
import { privateKeyToAddress } from "viem/accounts";
import { addressOfPrivateKey, runCast } from "../../doubles/cast";

const HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const HARDHAT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

test("cast derives the EIP-55 address of Hardhat's first account from its private key", () => {
  assert.equal(addressOfPrivateKey(HARDHAT_KEY), HARDHAT_ADDRESS);
  assert.equal(addressOfPrivateKey(HARDHAT_KEY.slice(2)), HARDHAT_ADDRESS);
});

test("cast wallet new prints a fresh keypair in cast's layout, the address the one viem derives from the key", () => {
  const first = runCast(["wallet", "new"]);
  const second = runCast(["wallet", "new"]);
  assert.equal(first.code, 0);
  const match =
    /^Successfully created new keypair\.\nAddress: {5}(0x[0-9a-fA-F]{40})\nPrivate key: (0x[0-9a-f]{64})\n$/.exec(
      first.stdout,
    );
  assert.ok(match, first.stdout);
  assert.equal(privateKeyToAddress(match[2] as `0x${string}`), match[1]);
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
