// Requests FlowProxy must refuse, sent through Flashbots' own client (verify/flashbots-client.ts): an
// auth signer that names another searcher, and requests that lose their signature on the way.
import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { BundleClient, BundleRefused, SIGNATURE_HEADER, UserEndpoint } from "../../verify/searcher";

/** An auth signer that signs with its own key but names `claimed` as the signer: a forged X-Flashbots-Signature. */
export class Impostor extends Wallet {
  constructor(
    key: string,
    private readonly claimed: string,
  ) {
    super(key);
  }

  override async getAddress(): Promise<string> {
    return this.claimed;
  }
}

/** `endpoint`, with the signature header dropped from every request on its way. */
export function unsigned(endpoint: UserEndpoint): UserEndpoint {
  return {
    url: endpoint.url,
    post: (body, headers) =>
      endpoint.post(
        body,
        Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== SIGNATURE_HEADER)),
      ),
  };
}

/** FlowProxy's refusal of `client`'s bundle (its answer is `reply`); fails when it took the bundle. */
export async function refusal(
  client: BundleClient,
  endpoint: UserEndpoint,
  blockNumber: number,
): Promise<BundleRefused> {
  let hash: string;
  try {
    hash = await client.sendBundle(endpoint, blockNumber);
  } catch (err) {
    if (err instanceof BundleRefused) return err;
    throw err;
  }
  assert.fail(`${endpoint.url} took a bundle from ${client.name} (${hash})`);
}
