// Stand-in for the BuilderHub mock `mempirate/mockhub:v0.0.6` in the sandbox's vm-builderhub,
// where it runs as the image mempirate/mockhub:v0.0.6 of the sandbox's Docker Hub (sandbox/internet/docker-hub.ts).
// Test code: it never ships to Azure.
//
// The contract is upstream's program at one revision, no more lenient and no more convenient:
//   BuilderNet/FlowProxy simulation/mockhub/src/main.rs at b56e719 (branch jonas/feat/azure-staging,
//   2025-11-05), built by simulation/mockhub/Dockerfile at the same commit. Its Cargo.lock there pins
//   axum 0.8.4 (axum-core 0.5.2), serde_json 1.0.145, serde 1.0.226, serde_path_to_error 0.1.20,
//   alloy-primitives 1.3.1 (const-hex 1.16.0), dns-lookup 3.0.1, mime 0.3.17 and ryu 1.0.20; the
//   behaviours below cite those crates' sources at those versions: tokio-rs/axum axum-v0.8.4
//   (aa7fc3f) and axum-core-v0.5.2 (1481a82), serde-rs/json v1.0.145 (f7248be), serde-rs/serde
//   v1.0.226 (19b5bb2), dtolnay/path-to-error 0.1.20 (9685afd), alloy-rs/core v1.3.1 (aadc490),
//   keeperofdakeys/dns-lookup 3.0.1 (e360789), hyperium/mime v0.3.17 (ce5062d), dtolnay/ryu 1.0.20
//   (86988bd). (The Dockerfile copies Cargo.toml but not
//   Cargo.lock, so the published image resolved its dependencies when it was built; the lock file
//   is the best record of what it got.)
//
// What it does, in short (each module under test/doubles/mockhub/ names the upstream files it follows):
// - Listens on 0.0.0.0:3000. SYSTEM_PORT must parse as a u16 or the program panics (exit 101);
//   ENABLE_TLS is "true" or anything else (false).
// - POST /api/l1-builder/v1/register_credentials/orderflow_proxy takes axum's Json of
//   {tls_cert: string|null, ecdsa_pubkey_address: Address} and answers 200 with an empty body. The
//   registry lives in memory, keyed by signer address; the first registration of a signer wins and
//   later ones change nothing (still 200). A restart forgets every builder.
// - GET /api/l1-builder/v1/builders lists every entry (a DashMap's iteration order, which is
//   arbitrary: callers must not rely on the order; this double happens to keep insertion order).
// - Unknown paths answer 404, other methods 405 with an Allow header, as axum's router does.
// - HTTP/1.1 as hyper serves it (test/doubles/mockhub/http.ts).
//
// Compared with upstream: its tests (test/unit/doubles/mockhub.test.ts) take a mockhub
// binary (MOCKHUB_BINARY) or URL (MOCKHUB_UNDER_TEST) instead of this double, and were played on
// mockhub v0.0.6 built from its source at b56e719 with the Cargo.lock's crates, by Rust 1.95 (whose
// panic message also names the thread's id: the tests compare it without the id). The differences
// found, each fixed here:
// - const-hex 1.16.0's error texts are lowercase ("odd number of digits", "invalid string length",
//   "invalid character 'g' at position 39"); this double had them capitalised.
// - std's panic message starts with an empty line (rustPanic).
// - hyper: no Host header needed; its automatic 400/431/414 answers with content-length: 0; only
//   HTTP/1.0 and 1.1; at most 100 headers and a head within its buffer; Transfer-Encoding ending in
//   chunked only; no idle timeout on kept-alive connections (Node's server differed in each).
// - `OPTIONS *` answered 500 here (the target did not parse as a URL); upstream's router says 404.
// Two of the tests' own expectations were wrong and were corrected there: the float printed for an
// integer over u64, and a content type with trailing whitespace (which never reaches axum).
//
// Not reproduced: the tracing log format (the log lines only carry the same facts), a backtrace
// under RUST_BACKTRACE, environment values that are not valid Unicode, and what Node's HTTP parser
// decides before this code runs (listed in test/doubles/mockhub/http.ts).
//
// The sandbox-only fault switch (test/doubles/mockhub/faults.ts) is test machinery, not upstream behaviour.
import { BUILDERHUB } from "../../lib/contract";
import { MOCKHUB_STATE_DIR } from "../../sandbox/internet/doubles-interface";
import { MOCKHUB_HOST, startMockhub } from "./mockhub/server";
import { rustPanic, settingsFrom } from "./mockhub/startup";

/** main.rs `TcpListener::bind(addr).await.unwrap()` (line 38, column 50): io::Error as Debug. */
function bindPanic(err: NodeJS.ErrnoException): string {
  const known: Record<string, [number, string, string]> = {
    EADDRINUSE: [98, "AddrInUse", "Address already in use"],
    EACCES: [13, "PermissionDenied", "Permission denied"],
    EADDRNOTAVAIL: [99, "AddrNotAvailable", "Cannot assign requested address"],
  };
  const [code, kind, message] = known[err.code ?? ""] ?? [0, "Other", err.message];
  return rustPanic(
    "src/main.rs:38:50",
    `called \`Result::unwrap()\` on an \`Err\` value: Os { code: ${code}, kind: ${kind}, message: ${JSON.stringify(message)} }`,
  );
}

/** main.rs fn main: its environment, its bind, then the server (test/doubles/mockhub/server.ts). */
function main(): void {
  const settings = settingsFrom(process.env);
  if (!settings.ok) {
    process.stderr.write(settings.panic);
    process.exit(101);
  }
  const { systemPort, enableTls } = settings;
  startMockhub({ systemPort, enableTls, stateDir: MOCKHUB_STATE_DIR }).then(
    () => console.log(`INFO mockhub: Listening on ${MOCKHUB_HOST}:${BUILDERHUB.port} tls_enabled=${enableTls}`),
    (err: NodeJS.ErrnoException) => {
      process.stderr.write(bindPanic(err));
      process.exit(101);
    },
  );
}

if (require.main === module) {
  main();
}
