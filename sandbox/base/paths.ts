// Where the sandbox keeps its files. The image cache survives `sandbox down`; the state directory
// (VM disks, secrets, logs, PIDs) does not.
import * as path from "path";

export const CACHE_DIR = process.env.FLOWPROXY_SANDBOX_CACHE ?? "/var/cache/flowproxy-sandbox";
export const STATE_DIR = process.env.FLOWPROXY_SANDBOX_STATE ?? "/var/lib/flowproxy-sandbox";

/** Mounted read-only at this path in every VM. */
export const DOUBLES_MOUNT = "/opt/sandbox";

export const cachePaths = {
  caKey: path.join(CACHE_DIR, "ca", "ca.key"),
  caCert: path.join(CACHE_DIR, "ca", "ca.crt"),
  image: (hash: string) => path.join(CACHE_DIR, `image-${hash}`),
  /** Debian's docker-registry, unpacked (not installed: its package would start a service). */
  registry: path.join(CACHE_DIR, "docker-registry"),
  /** The registry's storage with every image the sandbox's Docker Hub serves. */
  dockerHub: (hash: string) => path.join(CACHE_DIR, `docker-hub-${hash}`),
};

export const statePaths = {
  root: STATE_DIR,
  secrets: path.join(STATE_DIR, "secrets.json"),
  /** The stack outputs of the last up, without secrets, as Pulumi's state keeps a stack's: what `verify --sandbox` reads. */
  outputs: path.join(STATE_DIR, "outputs.json"),
  /**
   * The sandbox's SSH key pair (private key 0600; `.pub` beside it), whose public half is the stack's
   * sshPublicKey, and the client configuration every ssh of the suite uses, jump hosts included.
   */
  ssh: {
    key: path.join(STATE_DIR, "ssh", "id_ed25519"),
    publicKey: path.join(STATE_DIR, "ssh", "id_ed25519.pub"),
    knownHosts: path.join(STATE_DIR, "ssh", "known_hosts"),
    config: path.join(STATE_DIR, "ssh", "config"),
  },
  /** The doubles, transpiled to plain JavaScript: DOUBLES_MOUNT in the VMs. */
  doubles: path.join(STATE_DIR, "doubles"),
  /** One DNS server per VNet, as Azure's resolver answers each VNet for its own NIC names. */
  dns: (vnet: string) => ({
    config: path.join(STATE_DIR, "dns", `${vnet}.conf`),
    pid: path.join(STATE_DIR, "dns", `${vnet}.pid`),
    log: path.join(STATE_DIR, "dns", `${vnet}.log`),
  }),
  outbound: {
    pid: path.join(STATE_DIR, "outbound", "relay.pid"),
    log: path.join(STATE_DIR, "outbound", "relay.log"),
  },
  github: {
    dir: path.join(STATE_DIR, "github"),
    config: path.join(STATE_DIR, "github", "config.json"),
    tlsCert: path.join(STATE_DIR, "github", "tls.crt"),
    tlsKey: path.join(STATE_DIR, "github", "tls.key"),
    artifacts: path.join(STATE_DIR, "github", "artifacts"),
    fault: path.join(STATE_DIR, "github", "fault"),
    requests: path.join(STATE_DIR, "github", "requests.jsonl"),
    pid: path.join(STATE_DIR, "github", "server.pid"),
    log: path.join(STATE_DIR, "github", "server.log"),
  },
  dockerHub: {
    dir: path.join(STATE_DIR, "docker-hub"),
    /** The cache directory of the content being served (written by ensureDockerHubContent). */
    content: path.join(STATE_DIR, "docker-hub", "content"),
    config: path.join(STATE_DIR, "docker-hub", "registry.yml"),
    tlsCert: path.join(STATE_DIR, "docker-hub", "tls.crt"),
    tlsKey: path.join(STATE_DIR, "docker-hub", "tls.key"),
    pid: path.join(STATE_DIR, "docker-hub", "registry.pid"),
    log: path.join(STATE_DIR, "docker-hub", "registry.log"),
    /** The Docker Hub double in front of the registry (test/doubles/dockerhub.ts). */
    front: {
      config: path.join(STATE_DIR, "docker-hub", "front.json"),
      policy: path.join(STATE_DIR, "docker-hub", "policy.json"),
      requests: path.join(STATE_DIR, "docker-hub", "requests.jsonl"),
      pid: path.join(STATE_DIR, "docker-hub", "front.pid"),
      log: path.join(STATE_DIR, "docker-hub", "front.log"),
    },
  },
  /** One directory per VM the sandbox made, named after it. */
  vms: path.join(STATE_DIR, "vms"),
  vm: (name: string) => {
    const dir = path.join(STATE_DIR, "vms", name);
    return {
      dir,
      /** The image directory this VM's disk was made from. */
      imageRef: path.join(dir, "image"),
      upper: path.join(dir, "upper"),
      work: path.join(dir, "work"),
      root: path.join(dir, "root"),
      pid: path.join(dir, "nspawn.pid"),
      console: path.join(dir, "console.log"),
      /** The VM's /var/lib/docker: overlay2 cannot stack on the VM's overlay root, so it lives on the host's disk. */
      docker: path.join(dir, "docker"),
      extensionSeq: path.join(dir, "extension-seq"),
      extensionRuns: path.join(dir, "extension-runs.jsonl"),
    };
  },
};
