// Searchers' own client: Flashbots' @flashbots/ethers-provider-bundle 1.0.0, on ethers 6.7.1 (the
// exact version its peer dependency asks for). It builds and signs each request itself: a POST of
// {"method":"eth_sendBundle","params":[{"txs":[…],"blockNumber":"0x…"}],"id":1,"jsonrpc":"2.0"} with
// X-Flashbots-Signature "<address>:<signMessage(id(body))>". Sending user flow with it as well as
// with our own signer (searcher.ts) proves that FlowProxy takes what searchers send, not only our
// reading of the scheme.
import { FlashbotsBundleProvider, FlashbotsTransaction } from "@flashbots/ethers-provider-bundle";
import { AbstractProvider, FetchRequest, hexlify, randomBytes, Signer, Wallet } from "ethers";
import { BundleClient, BundleRefused, bundleHashOf, transfer, UserEndpoint } from "./searcher";
import { Reply } from "./target";

type Post = UserEndpoint["post"];

/**
 * The connection that carries each request the client sends. ethers 6.7.1 lets a program replace its
 * HTTP layer only for the whole process (FetchRequest.registerGetUrl), so the replacement looks the
 * request up here; the request's preflight hook, which ethers copies to every clone the client makes
 * of it, enters it just before it goes out.
 */
const carriers = new WeakMap<FetchRequest, Post>();
let carrying = false;

function carriedRequest(url: string, post: Post): FetchRequest {
  if (!carrying) {
    FetchRequest.registerGetUrl(async (req) => {
      const carry = carriers.get(req);
      // Nothing else here speaks through ethers, so any other request is one the client was not
      // meant to make (a chain RPC): refused rather than sent somewhere.
      if (carry === undefined) throw new Error(`ethers was asked for ${req.url}, which is no FlowProxy endpoint`);
      const reply = await carry(Buffer.from(req.body ?? []).toString("utf8"), req.headers);
      return { statusCode: reply.status, statusMessage: "", headers: {}, body: Buffer.from(reply.body, "utf8") };
    });
    carrying = true;
  }
  const request = new FetchRequest(url);
  request.preflightFunc = async (req) => {
    carriers.set(req, post);
    return req;
  };
  return request;
}

const randomWallet = () => new Wallet(hexlify(randomBytes(32)));

export class FlashbotsSearcher implements BundleClient {
  readonly name = "Flashbots' client";
  private nonce = 0;

  /**
   * `authSigner` signs the requests (the key a searcher is known by, in the client's words); the
   * transactions are signed by a wallet of their own, as searchers keep the two apart.
   */
  constructor(
    readonly authSigner: Signer = randomWallet(),
    private readonly wallet = randomWallet(),
  ) {}

  async sendBundle(endpoint: UserEndpoint, blockNumber: number): Promise<string> {
    const seen: { reply?: Reply } = {};
    const request = carriedRequest(
      endpoint.url,
      async (body, headers) => (seen.reply = await endpoint.post(body, headers)),
    );
    const tx = transfer(this.wallet.address as `0x${string}`, this.nonce++);
    // Given the network, the client asks no chain for it; the provider it would otherwise ask has no
    // chain behind it, so any call it did make would fail rather than go anywhere. FlowProxy takes
    // bundles without a chain, and a transaction that carries its nonce and gas needs none either.
    const client = await FlashbotsBundleProvider.create(
      new AbstractProvider(tx.chainId),
      this.authSigner,
      request,
      tx.chainId,
    );
    let sent: FlashbotsTransaction;
    try {
      sent = await client.sendBundle(
        [
          {
            signer: this.wallet,
            transaction: {
              type: 2,
              chainId: tx.chainId,
              nonce: tx.nonce,
              to: tx.to,
              value: tx.value,
              gasLimit: tx.gas,
              maxFeePerGas: tx.maxFeePerGas,
              maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
            },
          },
        ],
        blockNumber,
      );
    } catch (err) {
      // The client throws on any status but 2xx, and on an answer without a result: FlowProxy's
      // refusals, kept as FlowProxy gave them. Without an answer, the connection's error stands.
      if (seen.reply === undefined) throw err;
      throw new BundleRefused(seen.reply, { cause: err });
    }
    const hash = "error" in sent ? undefined : bundleHashOf(sent);
    if (hash === undefined) throw new BundleRefused(seen.reply as Reply);
    return hash;
  }
}
