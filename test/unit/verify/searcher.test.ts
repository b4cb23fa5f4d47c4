// verify's searcher (verify/searcher.ts) signs with viem; FlowProxy checks X-Flashbots-Signature
// as an EIP-191 personal_sign of the text "0x" + hex(keccak-256 of the body) (src/ingress/mod.rs at
// 258bbd6 and 029b7c4). The expected header is built here with @noble, a second implementation,
// from the scheme's definition (EIP-191: "\x19Ethereum Signed Message:\n" + length + message).
import assert from "node:assert/strict";
import { test } from "node:test";
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak_256 } from "@noble/hashes/sha3";
import { SIGNATURE_HEADER, Searcher } from "../../../verify/searcher";

const HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const HARDHAT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

function expectedHeader(body: string): string {
  const text = Buffer.from(`0x${Buffer.from(keccak_256(Buffer.from(body, "utf8"))).toString("hex")}`, "ascii");
  const digest = keccak_256(
    Buffer.concat([Buffer.from(`\x19Ethereum Signed Message:\n${text.length}`, "ascii"), text]),
  );
  // RFC 6979 makes the signature deterministic, so viem's must be these very bytes.
  const signature = secp256k1.sign(digest, Buffer.from(HARDHAT_KEY.slice(2), "hex"), { lowS: true });
  const bytes = Buffer.concat([Buffer.from(signature.toCompactRawBytes()), Buffer.from([27 + signature.recovery])]);
  return `${HARDHAT_ADDRESS}:0x${bytes.toString("hex")}`;
}

test("the searcher's X-Flashbots-Signature is the EIP-191 signature of the body's keccak-256 in hex, with its checksummed address", async () => {
  const searcher = new Searcher(HARDHAT_KEY);
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "eth_sendBundle",
    params: [{ txs: [], blockNumber: "0x1" }],
  });
  assert.equal(await searcher.signatureOf(body), expectedHeader(body));
  const signed = await searcher.sign({ jsonrpc: "2.0", id: 2, method: "eth_sendBundle", params: [] });
  assert.deepEqual(signed.headers, { [SIGNATURE_HEADER]: expectedHeader(signed.body) });
});
