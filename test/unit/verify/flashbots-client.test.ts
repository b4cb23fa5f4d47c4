// Flashbots' own client (verify/flashbots-client.ts, @flashbots/ethers-provider-bundle on ethers)
// against the FlowProxy double's user endpoint (test/doubles/flowproxy, following FlowProxy 258bbd6
// and 029b7c4): what it sends, that FlowProxy takes it from the signer it names, and that FlowProxy
// refuses it unsigned or signed by someone else. The signature is checked here with viem, beside the
// double's own recovery.
import assert from "node:assert/strict";
import * as http from "node:http";
import { test } from "node:test";
import { FetchRequest, Wallet } from "ethers";
import { keccak256, recoverMessageAddress, toHex } from "viem";
import { FlowProxy, parseCli } from "../../doubles/flowproxy";
import { Generation } from "../../doubles/flowproxy/cli";
import { Logger } from "../../doubles/flowproxy/log";
import { FlashbotsSearcher } from "../../../verify/flashbots-client";
import { SIGNATURE_HEADER, Searcher, UserEndpoint } from "../../../verify/searcher";
import { Reply } from "../../../verify/target";
import { Impostor, refusal, unsigned } from "../../support/searchers";

const AUTH_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const AUTH_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/** FlowProxy's answer to a missing or wrong signature (src/ingress/mod.rs at 258bbd6 and 029b7c4). */
const INVALID_SIGNATURE = { id: null, jsonrpc: "2.0", error: { code: -32603, message: "Invalid signature" } };

/** The double in this process, logging at debug level, where FlowProxy names each bundle's signer. */
async function startFlowproxy(generation: Generation) {
  const lines: string[] = [];
  const env = {
    USER_LISTEN_ADDR: "127.0.0.1:0",
    SYSTEM_LISTEN_ADDR: "127.0.0.1:0",
    BUILDERNET_NODE_NAME: "vm-test",
    LOG_JSON: "true",
    RUST_LOG: "debug",
  };
  const cli = parseCli(generation, [], env, "flowproxy", "test");
  if (cli.kind !== "run") throw new Error(cli.stderr);
  const proxy = new FlowProxy({
    generation,
    settings: cli.settings,
    gitHash: "test",
    version: generation === 1 ? "1.1.2" : "2.0.2",
    logger: new Logger(true, env, (line) => lines.push(line)),
    onFatal: (err) => assert.fail(err),
  });
  await proxy.start();
  const sent: { body: string; headers: Record<string, string> }[] = [];
  /** Its user endpoint over plain HTTP, recording each request as the client hands it over. */
  const endpoint: UserEndpoint = {
    url: `http://127.0.0.1:${proxy.ports.user}/`,
    post: (body, headers) =>
      new Promise<Reply>((resolve, reject) => {
        sent.push({ body, headers });
        const request = http.request(
          { host: "127.0.0.1", port: proxy.ports.user, method: "POST", path: "/", headers },
          (response) => {
            const chunks: Buffer[] = [];
            response.on("data", (c: Buffer) => chunks.push(c));
            response.on("end", () =>
              resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
            );
          },
        );
        request.on("error", reject);
        request.end(body);
      }),
  };
  const bundleSpans = () =>
    lines
      .map(
        (line) =>
          JSON.parse(line) as { fields: { message: string }; span?: { name: string; hash: string; signer: string } },
      )
      .filter((line) => line.fields.message === "decoded new bundle")
      .map((line) => line.span);
  return { endpoint, sent, bundleSpans, stop: () => proxy.stop() };
}

test("a bundle sent with Flashbots' client is taken from the signer its X-Flashbots-Signature names, at both generations", async () => {
  for (const generation of [1, 2] as const) {
    const flowproxy = await startFlowproxy(generation);
    try {
      const hash = await new FlashbotsSearcher(new Wallet(AUTH_KEY)).sendBundle(flowproxy.endpoint, 42);
      assert.match(hash, /^0x[0-9a-f]{64}$/);
      const [{ body, headers }] = flowproxy.sent;
      const request = JSON.parse(body) as { params: [{ txs: string[] }] };
      assert.deepEqual(request, {
        method: "eth_sendBundle",
        params: [{ txs: request.params[0].txs, blockNumber: "0x2a" }],
        id: 1,
        jsonrpc: "2.0",
      });
      assert.match(request.params[0].txs[0], /^0x02[0-9a-f]+$/, "an EIP-1559 transaction, signed");
      assert.deepEqual(Object.keys(headers).sort(), [
        "accept-encoding",
        "content-length",
        "content-type",
        SIGNATURE_HEADER,
      ]);
      assert.equal(headers["content-type"], "application/json");
      const [address, signature] = headers[SIGNATURE_HEADER].split(":");
      assert.equal(address, AUTH_ADDRESS);
      assert.equal(
        await recoverMessageAddress({ message: keccak256(toHex(body)), signature: signature as `0x${string}` }),
        AUTH_ADDRESS,
      );
      // RFC 6979 signatures are deterministic: our own signer writes the very same header.
      assert.equal(headers[SIGNATURE_HEADER], await new Searcher(AUTH_KEY).signatureOf(body));
      assert.deepEqual(
        flowproxy.bundleSpans(),
        [{ name: "bundle", hash, signer: AUTH_ADDRESS, priority: "medium" }],
        `generation ${generation}`,
      );
    } finally {
      await flowproxy.stop();
    }
  }
});

test("Flashbots' client unsigned on the way, or naming another signer, is refused with FlowProxy's error, which the client raised", async () => {
  const flowproxy = await startFlowproxy(2);
  try {
    const cases = [
      ["unsigned", new FlashbotsSearcher(), unsigned(flowproxy.endpoint)],
      ["impostor", new FlashbotsSearcher(new Impostor(OTHER_KEY, AUTH_ADDRESS)), flowproxy.endpoint],
    ] as const;
    for (const [label, client, endpoint] of cases) {
      const refused = await refusal(client, endpoint, 1);
      assert.deepEqual([refused.reply.status, JSON.parse(refused.reply.body)], [400, INVALID_SIGNATURE], label);
      assert.match(
        (refused.cause as Error).message,
        /^Request failed with status 400 \(URL: http:\/\/127\.0\.0\.1:\d+\/\): \{"id":null,/,
        label,
      );
    }
    assert.equal(
      flowproxy.sent[0].headers[SIGNATURE_HEADER],
      undefined,
      "the unsigned request went without the header",
    );
    assert.match(
      flowproxy.sent[1].headers[SIGNATURE_HEADER],
      new RegExp(`^${AUTH_ADDRESS}:0x[0-9a-f]{130}$`),
      "the impostor named the searcher",
    );
    assert.deepEqual(flowproxy.bundleSpans(), [], "no bundle was taken");
  } finally {
    await flowproxy.stop();
  }
});

test("ethers sends nothing but the client's requests to their endpoint: any other request fails before it goes out", async () => {
  // A client has replaced ethers' HTTP layer by now; a chain RPC is the kind of request it would refuse.
  await new FlashbotsSearcher()
    .sendBundle({ url: "https://203.0.113.10/", post: async () => ({ status: 503, body: "" }) }, 1)
    .catch(() => undefined);
  await assert.rejects(
    new FetchRequest("http://127.0.0.1:9/").send(),
    /ethers was asked for http:\/\/127\.0\.0\.1:9\/, which is no FlowProxy endpoint/,
  );
});
