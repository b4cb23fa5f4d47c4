// The sandbox's certificate authority. Its certificate is baked into the VM image's trust store, so
// curl in the VMs trusts the internet doubles exactly as it trusts the real sites. It lives in the
// image cache, beside the images that trust it, and survives `sandbox down`.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { cachePaths } from "./paths";
import { check } from "./proc";

const CA_DAYS = "3650";
const SERVER_DAYS = "825";

export async function ensureCa(): Promise<{ certFile: string; keyFile: string }> {
  const certFile = cachePaths.caCert;
  const keyFile = cachePaths.caKey;
  if (!fs.existsSync(certFile) || !fs.existsSync(keyFile)) {
    fs.mkdirSync(path.dirname(certFile), { recursive: true, mode: 0o700 });
    await check("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      CA_DAYS,
      "-subj",
      "/CN=FlowProxy sandbox CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ]);
    fs.chmodSync(keyFile, 0o600);
  }
  return { certFile, keyFile };
}

/** Issues a server certificate from the sandbox CA naming every host and IP given. */
export async function issueServerCertificate(
  hostnames: readonly string[],
  ips: readonly string[],
  certFile: string,
  keyFile: string,
): Promise<void> {
  const ca = await ensureCa();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "fps-cert-"));
  try {
    const csr = path.join(work, "server.csr");
    const extensions = path.join(work, "server.ext");
    const names = [...hostnames.map((h) => `DNS:${h}`), ...ips.map((ip) => `IP:${ip}`)].join(",");
    fs.writeFileSync(
      extensions,
      [
        `subjectAltName=${names}`,
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        "",
      ].join("\n"),
    );
    await check("openssl", [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      `/CN=${hostnames[0]}`,
      "-keyout",
      keyFile,
      "-out",
      csr,
    ]);
    fs.chmodSync(keyFile, 0o600);
    await check("openssl", [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca.certFile,
      "-CAkey",
      ca.keyFile,
      "-CAcreateserial",
      "-CAserial",
      path.join(work, "ca.srl"),
      "-days",
      SERVER_DAYS,
      "-extfile",
      extensions,
      "-out",
      certFile,
    ]);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
