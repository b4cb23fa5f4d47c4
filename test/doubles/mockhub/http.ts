// HTTP/1.1 as mockhub serves it: hyper 1.7.0 under axum::serve (both as simulation/mockhub/Cargo.lock@b56e719 pins).
//
// What hyper's server does before axum sees a request, where Node's HTTP server does otherwise
// (found by running these tests against mockhub built from b56e719):
// - no Host header is needed (Node answers 400 without one by default);
// - a request it cannot parse gets an automatic answer, src/proto/h1/role.rs `on_error`: 400 (431
//   for a head too large), `connection: close`, `content-length: 0` and no body, then the connection
//   closes (Node's default answer has no content-length);
// - httparse 1.10.1 reads only HTTP/1.0 and HTTP/1.1 (Node also takes HTTP/0.9 and HTTP/2.0 request
//   lines): any other version is a parse error, 400;
// - role.rs parses at most DEFAULT_MAX_HEADERS (100) headers, more is 431; the head must fit in
//   src/proto/h1/io.rs DEFAULT_MAX_BUFFER_SIZE (8192 + 4096 * 100 bytes), more is 431 (Node's
//   default limit is 16 KiB; hyper checks the limit between reads, so it may take a head of up to
//   twice the limit, which this double refuses); a request target longer than the http crate's
//   (1.3.1 src/uri/mod.rs) MAX_LEN, u16::MAX - 1, is 414;
// - role.rs: a request with a Transfer-Encoding whose last coding is not `chunked`, or any
//   Transfer-Encoding in HTTP/1.0, is 400 (Node reads such a body to the end of the connection);
// - axum 0.8.4 src/serve/mod.rs gives hyper no timer, and without one hyper's src/common/time.rs
//   `check` drops the default 30 s header timeout: nothing times out, no idle kept-alive connection
//   (Node closes one after 5 s and says so in a Keep-Alive header), no header, no request.
// Not reproduced (Node's parser decides before any of our code runs): hyper answers an HTTP/1.0
// request with an HTTP/1.0 status line (Node always writes HTTP/1.1); it routes any token as a method
// (`FOO`, `get`: 405 on our paths, where Node's parser answers 400); CONNECT gets axum's 404 (Node
// drops the connection); the HTTP/2 preface is dropped unanswered (Node answers 400); an answer that
// keeps the connection says nothing of it (Node adds `connection: keep-alive`).
import * as http from "node:http";
import type * as stream from "node:stream";

const HYPER_MAX_HEADERS = 100;
export const HYPER_MAX_BUFFER_SIZE = 8192 + 4096 * 100;
const HTTP_URI_MAX_LEN = 65_535 - 1;

/** The status of hyper's automatic answer to a request Node parsed but hyper would not, if any. */
export function refusedByHyper(req: http.IncomingMessage): number | undefined {
  if (req.httpVersionMajor !== 1 || (req.httpVersionMinor !== 0 && req.httpVersionMinor !== 1)) {
    return 400;
  }
  if (req.rawHeaders.length / 2 > HYPER_MAX_HEADERS) {
    return 431;
  }
  if ((req.url ?? "").length > HTTP_URI_MAX_LEN) {
    return 414;
  }
  const codings = req.rawHeaders.filter(
    (_, i) => i % 2 === 1 && req.rawHeaders[i - 1].toLowerCase() === "transfer-encoding",
  );
  if (
    codings.length > 0 &&
    (req.httpVersionMinor === 0 ||
      (codings[codings.length - 1].split(",").pop() ?? "").trim().toLowerCase() !== "chunked")
  ) {
    return 400;
  }
  return undefined;
}

/** Connections whose last answer was hyper's refusal, closing once it is sent. */
export const answeredAndClosing = new WeakSet<stream.Duplex>();

/** role.rs on_error's answer to what Node's parser refused (a head too large: 431; anything else: 400). */
export function answerParseError(err: NodeJS.ErrnoException, socket: stream.Duplex): void {
  if (answeredAndClosing.has(socket)) {
    socket.end();
    return;
  }
  if (!socket.writable || err.code === "ECONNRESET") {
    socket.destroy();
    return;
  }
  const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\ndate: ${new Date().toUTCString()}\r\n\r\n`,
  );
}

/** An answer with its whole body, which hyper sends with a content-length (Node would chunk it). */
export function reply(
  res: http.ServerResponse,
  status: number,
  body = "",
  headers: http.OutgoingHttpHeaders = {},
): void {
  const text = Buffer.from(body, "utf8");
  res.writeHead(status, { ...headers, "content-length": text.length });
  res.end(text);
}
