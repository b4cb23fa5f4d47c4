// A searcher as FlowProxy sees one: its own key, signed transactions to bundle, and requests signed
// the way FlowProxy checks them (src/ingress/mod.rs at 258bbd6 and 029b7c4): the header
// X-Flashbots-Signature holds "<address>:<signature>", an EIP-191 personal_sign of the text
// "0x" + hex(keccak-256 of the exact request body). Transactions and signatures come from viem, so
// nothing here encodes RLP or signs by hand. Used by `pnpm run verify`, the sandbox suite and the
// reliability report.
import { keccak256, parseGwei, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount, PrivateKeyAccount } from "viem/accounts";

export const SIGNATURE_HEADER = "x-flashbots-signature";

export interface SignedRequest {
  /** The exact bytes that were signed: send them unchanged. */
  body: string;
  headers: Record<string, string>;
}

export class Searcher {
  private readonly account: PrivateKeyAccount;
  private nonce = 0;

  constructor(privateKey = generatePrivateKey()) {
    this.account = privateKeyToAccount(privateKey);
  }

  get address(): string {
    return this.account.address;
  }

  /** A mainnet EIP-1559 transfer to itself, signed: what FlowProxy decodes and recovers. */
  signedTransaction(): Promise<`0x${string}`> {
    return this.account.signTransaction({
      type: "eip1559",
      chainId: 1,
      nonce: this.nonce++,
      to: this.account.address,
      value: 0n,
      gas: 21_000n,
      maxFeePerGas: parseGwei("30"),
      maxPriorityFeePerGas: parseGwei("2"),
    });
  }

  /** An eth_sendBundle with `txCount` fresh transactions for `blockNumber`, signed. */
  async bundle(blockNumber: number, txCount = 1): Promise<SignedRequest> {
    const txs: string[] = [];
    for (let i = 0; i < txCount; i++) txs.push(await this.signedTransaction());
    return this.sign({ jsonrpc: "2.0", id: 1, method: "eth_sendBundle", params: [{ txs, blockNumber: toHex(blockNumber) }] });
  }

  async sign(payload: unknown): Promise<SignedRequest> {
    const body = JSON.stringify(payload);
    return { body, headers: { [SIGNATURE_HEADER]: await this.signatureOf(body) } };
  }

  /** The header value for `body`, signed by this searcher. */
  async signatureOf(body: string): Promise<string> {
    const signature = await this.account.signMessage({ message: keccak256(toHex(body)) });
    return `${this.account.address}:${signature}`;
  }
}
