// A short-lived self-signed certificate on the P-256 curve, as the VMs make theirs (provision/flowproxy.sh),
// for tests that need one a TLS peer will present.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface SelfSigned {
  /** PEM. */
  cert: string;
  key: string;
}

/** Writes `<name>.crt` and `<name>.key` in `dir` for subject CN=<name> and the subjectAltName `san` (DNS:…, IP:…). */
export function selfSignedCertificate(dir: string, name: string, san: string): SelfSigned {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  // prettier-ignore
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-subj", `/CN=${name}`, "-addext", `subjectAltName=${san}`, "-keyout", keyFile, "-out", certFile,
  ], { stdio: ["ignore", "ignore", "pipe"] });
  return { cert: fs.readFileSync(certFile, "utf8"), key: fs.readFileSync(keyFile, "utf8") };
}
