// What the sandbox and its test doubles (test/doubles/) say to each other, beyond the upstream
// contracts the doubles follow: where the doubles look for their fault switches, the words those
// switches take, and the GitHub double's settings. Both sides import this; the doubles carry it in
// their bundles (sandbox/internet/bundle.ts). The sandbox itself imports no test code: it installs the doubles
// as files (sandbox/internet/doubles.ts).

/** Faults of the GitHub double, one word in its fault file, read on every request (test/doubles/github.ts). */
export type GithubFault = "401" | "404" | "flaky" | "hang" | "slow" | "truncated" | "corrupt" | "no-binary";

export interface GithubDoubleConfig {
  host: string;
  port: number;
  token: string;
  /** Artifacts as <artifactsDir>/<owner>/<repo>/<id>.zip. */
  artifactsDir: string;
  /** cast.js, tailscale.js and the installer scripts. */
  filesDir: string;
  faultFile: string;
  requestLog: string;
  /** PEM files; without them the double speaks plain HTTP (unit tests). */
  tls?: { certFile: string; keyFile: string };
}

/** The directory of the BuilderHub double's fault switch (the file `fault`) inside its container. */
export const MOCKHUB_STATE_DIR = "/var/lib/mockhub";
/**
 * Faults of the BuilderHub double, one line in its fault file, read on every request
 * (test/doubles/mockhub/faults.ts): a word, or "flap" aimed at one User-Agent.
 */
export type MockhubFault = "down" | "slow" | "error" | { flapFor: string };
/** The file beside the fault file where the double records each answer it injected. */
export const MOCKHUB_INJECTED_FILE = "injected";

export const mockhubFaultLine = (fault: MockhubFault): string =>
  typeof fault === "string" ? fault : `flap ${fault.flapFor}`;

/**
 * What the Docker Hub double (test/doubles/dockerhub.ts) enforces, read from its policy file on every
 * request: whether pulling needs a login (as a private repository does), and the pulls each subject
 * may make per window (Docker Hub's limits: an anonymous address, an account). A new policy starts a
 * new window.
 */
export interface DockerHubPolicy {
  requireLogin: boolean;
  limits: { anonymous: number; authenticated: number };
}

/** One line of the Docker Hub double's request log. */
export interface DockerHubRequest {
  time: string;
  host: string;
  method: string;
  path: string;
  /** The account the request acted as ("" anonymous). */
  account: string;
  status: number;
}

export interface DockerHubDoubleConfig {
  host: string;
  port: number;
  /** The registry it fronts, plain HTTP on loopback (Debian's docker-registry). */
  upstream: { host: string; port: number };
  /** Docker Hub accounts: user name to access token. */
  accounts: Record<string, string>;
  policyFile: string;
  /** A JSON line per request (time, host, method, path, account, status); never a token. */
  requestLog: string;
  /** PEM files; without them the double speaks plain HTTP (unit tests). */
  tls?: { certFile: string; keyFile: string };
}
