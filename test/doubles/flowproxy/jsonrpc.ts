// JSON-RPC as FlowProxy's ingress speaks it (src/jsonrpc.rs): requests read as serde_json reads
// them, the error codes and statuses it answers, and the requests it forwards.
import { plainJson, readJsonRpcRequest } from "./serdejson";
import { ParamsError } from "./orders";

export interface JsonRpcError {
  code: number;
  message: string;
  status: number;
}

/** src/jsonrpc.rs: JsonRpcError codes, messages and HTTP statuses. */
export const RPC = {
  parse: { code: -32700, message: "Parse error", status: 400 },
  invalidRequest: { code: -32600, message: "Invalid Request", status: 400 },
  invalidSignature: { code: -32603, message: "Invalid signature", status: 400 },
  invalidParams: { code: -32602, message: "Invalid params", status: 400 },
  rateLimited: { code: -32603, message: "Rate limited", status: 429 },
  internal: { code: -32603, message: "Internal error", status: 500 },
  methodNotFound: (method: string): JsonRpcError => ({
    code: -32601,
    message: `Method not found: ${method}`,
    status: 404,
  }),
};

/** An order the handler refused; `validation` marks src/validation.rs failures, which count against the signer. */
export class Rejected extends Error {
  constructor(readonly validation: boolean) {
    super("rejected");
  }
}

export type RpcReply = { id: unknown; result: unknown } | { id: unknown; error: JsonRpcError };

export type Dropped = { dropped: true };

export function fail(): never {
  throw new ParamsError("invalid params");
}

/** serde_json's `json!({"id": 1, "jsonrpc": "2.0", "method": ..., "params": [...]})`, keys in insertion order. */
export function jsonRpc(method: string, param: string): string {
  return `{"id":1,"jsonrpc":"2.0","method":"${method}","params":[${param}]}`;
}

/** JsonRpcRequest::from_bytes (src/jsonrpc.rs): serde_json's reading (serdejson.ts), then jsonrpc must be "2.0". */
export function parseRequest(body: Buffer): { id: unknown; method: string; params?: unknown[] } | JsonRpcError {
  const request = readJsonRpcRequest(body);
  if (request === undefined) {
    return RPC.parse;
  }
  if (request.jsonrpc !== "2.0") {
    return RPC.invalidRequest;
  }
  return { id: request.id, method: request.method, params: request.params?.map(plainJson) };
}
