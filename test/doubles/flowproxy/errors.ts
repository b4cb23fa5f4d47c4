// How FlowProxy's run() ends: an error it returns (src/main.rs reports it), a panic, and the
// std::io::Error text a failed bind gives either.

/** run() returned an error: the process reports it and exits (with status 0, see flowproxy.ts). */
export class RunError extends Error {}
/** A Rust panic: the message and the source location upstream panics at. */
export class Panic extends Error {
  constructor(
    message: string,
    readonly location: string,
  ) {
    super(message);
  }
}

/** std::io::Error's Display for the errors a bind gives. */
export function describeIoError(err: NodeJS.ErrnoException): string {
  const known: Record<string, [string, number]> = {
    EADDRINUSE: ["Address already in use", 98],
    EADDRNOTAVAIL: ["Cannot assign requested address", 99],
    EACCES: ["Permission denied", 13],
    EPERM: ["Operation not permitted", 1],
  };
  const entry = err.code ? known[err.code] : undefined;
  return entry ? `${entry[0]} (os error ${entry[1]})` : err.message;
}
