// A searcher as FlowProxy sees one: its own key, signed transactions to bundle, and requests signed
// the way FlowProxy checks them (src/ingress/mod.rs at 258bbd6 and 029b7c4): the header
// X-Flashbots-Signature holds "<address>:<signature>", an EIP-191 personal_sign of the text
// "0x" + hex(keccak-256 of the exact request body). Transactions and signatures come from viem, so
// nothing here encodes RLP or signs by hand. Searchers' own client, which signs the same header
// itself, is verify/flashbots-client.ts; `pnpm run verify`, the sandbox suite and the reliability
// report send user flow with both, through the BundleClient interface below.
import { keccak256, parseGwei, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount, PrivateKeyAccount } from "viem/accounts";
import { Reply } from "./target";

export const SIGNATURE_HEADER = "x-flashbots-signature";

export interface SignedRequest {
  /** The exact bytes that were signed: send them unchanged. */
  body: string;
  headers: Record<string, string>;
}

/**
 * A FlowProxy user endpoint as this machine reaches it: the URL a searcher would name, and the
 * connection that carries a request there (verify's goes out only to the certificate BuilderHub
 * lists). `post` sends the body and headers exactly as given.
 */
export interface UserEndpoint {
  url: string;
  post(body: string, headers: Record<string, string>): Promise<Reply>;
}

/** FlowProxy answered, but not with a bundle hash: what it answered, for the report. */
export class BundleRefused extends Error {
  constructor(
    readonly reply: Reply,
    options?: ErrorOptions,
  ) {
    super(`HTTP ${reply.status} ${reply.body.trim().slice(0, 200)}`, options);
    this.name = "BundleRefused";
  }
}

/** A way searchers send bundles; verify and the sandbox send user flow with each. */
export interface BundleClient {
  /** Who signs, as reports name it. */
  readonly name: string;
  /**
   * Sends a fresh bundle for `blockNumber` to `endpoint`: FlowProxy's bundle hash, a BundleRefused
   * when it answered otherwise, or the connection's own error.
   */
  sendBundle(endpoint: UserEndpoint, blockNumber: number): Promise<string>;
}

/** The `result` of a JSON-RPC answer, if the body is one. */
function resultOf(body: string): unknown {
  try {
    return (JSON.parse(body) as { result?: unknown }).result;
  } catch {
    return undefined;
  }
}

/** The bundle hash in the result of FlowProxy's answer to eth_sendBundle, if it is one. */
export function bundleHashOf(result: unknown): string | undefined {
  const hash = (result as { bundleHash?: unknown } | undefined)?.bundleHash;
  return typeof hash === "string" && /^0x[0-9a-f]{64}$/.test(hash) ? hash : undefined;
}

/** A mainnet EIP-1559 transfer of nothing to `to`: what FlowProxy decodes and recovers, from either client. */
export const transfer = (to: `0x${string}`, nonce: number) =>
  ({
    type: "eip1559",
    chainId: 1,
    nonce,
    to,
    value: 0n,
    gas: 21_000n,
    maxFeePerGas: parseGwei("30"),
    maxPriorityFeePerGas: parseGwei("2"),
  }) as const;

export class Searcher implements BundleClient {
  readonly name = "our signer";
  private readonly account: PrivateKeyAccount;
  private nonce = 0;

  constructor(privateKey = generatePrivateKey()) {
    this.account = privateKeyToAccount(privateKey);
  }

  get address(): string {
    return this.account.address;
  }

  /** A transfer to itself, signed. */
  signedTransaction(): Promise<`0x${string}`> {
    return this.account.signTransaction(transfer(this.account.address, this.nonce++));
  }

  /** An eth_sendBundle with `txCount` fresh transactions for `blockNumber`, signed. */
  async bundle(blockNumber: number, txCount = 1): Promise<SignedRequest> {
    const txs: string[] = [];
    for (let i = 0; i < txCount; i++) txs.push(await this.signedTransaction());
    return this.sign({
      jsonrpc: "2.0",
      id: 1,
      method: "eth_sendBundle",
      params: [{ txs, blockNumber: toHex(blockNumber) }],
    });
  }

  async sendBundle(endpoint: UserEndpoint, blockNumber: number): Promise<string> {
    const signed = await this.bundle(blockNumber);
    const reply = await endpoint.post(signed.body, signed.headers);
    const hash = reply.status === 200 ? bundleHashOf(resultOf(reply.body)) : undefined;
    if (hash === undefined) throw new BundleRefused(reply);
    return hash;
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
