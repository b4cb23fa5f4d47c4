// What the program, the provisioning bash, the policy pack, the sandbox, the test doubles and
// `pnpm run verify` must agree on: names, ports, BuilderHub's API, the DNS zone, paths on the VMs
// and the default address plan. Each is written here once. The bash receives them as script
// variables (lib/provision.ts), haproxy.cfg as HAProxy's environment, and the files that cannot
// take variables (the systemd units) are held to them by test/unit/lib/contract.test.ts.

export const PROJECT = "flowproxy-staging";

/** The two kinds of VM: FlowProxy VMs (`proxies` of them per region), one BuilderHub VM in the first region. */
export type Role = "flowproxy" | "builderhub";

/**
 * Tags the program puts on every resource that belongs to one VM (NSG, public IP, NIC, VM,
 * extension). Azure shows them in the portal; the plan, the sandbox and the policy pack read a
 * resource's VM and role from them, never from its name.
 */
export const TAG = { vm: "vm", role: "role" } as const;

/** The private DNS zone linked to every VNet, with an A record per VM. */
export const DNS_ZONE = "flowproxy.internal";

export const fqdnOf = (label: string): string => `${label}.${DNS_ZONE}`;

/**
 * Where a region's nth FlowProxy VM sits, as the names of its public IP and NSG carry it: the first
 * keeps the location alone (eastus), so a stack made before regions held several keeps its names;
 * the others add their number as upstream's staging stack does (eastus-2).
 */
export const proxySiteName = (location: string, number = 1): string =>
  number === 1 ? location : `${location}-${number}`;

/** A FlowProxy VM is named after its site (vm-eastus, vm-eastus-2); the name is also its DNS label and node name. */
export const flowproxyVmName = (location: string, number = 1): string => `vm-${proxySiteName(location, number)}`;

export const BUILDERHUB = {
  vmName: "vm-builderhub",
  /** Its A record in DNS_ZONE, the name proxies register at. */
  dnsLabel: "builderhub",
  /** The mock BuilderHub (BuilderNet/FlowProxy simulation/mockhub at b56e719), pinned: `latest` could change its contract. */
  image: "mempirate/mockhub:v0.0.6",
  /** mockhub listens on 0.0.0.0:3000 (simulation/mockhub/src/main.rs). */
  port: 3000,
} as const;

/** mockhub's routes (simulation/mockhub/src/main.rs at b56e719), which FlowProxy calls too. */
export const BUILDERHUB_API = {
  register: "/api/l1-builder/v1/register_credentials/orderflow_proxy",
  builders: "/api/l1-builder/v1/builders",
} as const;

/** The credentials a proxy registers (BuilderHubOrderflowProxyCredentials in mockhub's main.rs; the address as alloy serializes it). */
export interface BuilderCredentials {
  tls_cert: string | null;
  ecdsa_pubkey_address: string;
}

/** One entry of BUILDERHUB_API.builders (BuilderHubBuilder in mockhub's main.rs, in its field order). */
export interface BuilderListing {
  name: string;
  ip: string;
  dns_name: string;
  orderflow_proxy: BuilderCredentials;
  instance: { tls_cert: string };
}

/**
 * The User-Agent of provision/flowproxy-register.sh for each of its callers (its argument), so
 * BuilderHub's log, and the sandbox's aimed faults, can tell provisioning's requests from the
 * timer's and those of FlowProxy's start.
 */
export const REGISTRATION_USER_AGENT = {
  provisioning: "flowproxy-register/provisioning",
  timer: "flowproxy-register/timer",
  flowproxyStart: "flowproxy-register/flowproxy-start",
} as const;

/** Where every FlowProxy VM registers and reads its peers. */
export const BUILDERHUB_ENDPOINT = `http://${fqdnOf(BUILDERHUB.dnsLabel)}:${BUILDERHUB.port}`;

/**
 * Ports. HAProxy's frontends are the only way in: user flow on http and https, system flow between
 * proxies on `system` (the port BuilderHub hands to peers). Everything else listens on loopback.
 */
export const PORTS = {
  ssh: 22,
  http: 80,
  https: 443,
  system: 5544,
  /** HAProxy's Prometheus exporter: loopback, or the VM's private address for the scraper when monitoring is on. */
  haproxyMetrics: 8405,
  /** HAProxy's public_cert frontend: the certificate it presents, as registration reads it; loopback only. */
  servedCertificate: 14727,
  /** FlowProxy's own listeners behind HAProxy (USER_LISTEN_ADDR, SYSTEM_LISTEN_ADDR, METRICS_ADDR). */
  flowproxyUser: 5543,
  flowproxySystem: 5542,
  flowproxyMetrics: 8090,
  /** Prometheus's web page and API on BuilderHub (monitoring on): loopback only, reached through an SSH tunnel. */
  prometheus: 9090,
  /** BuilderHub's node exporter, serving the BuilderHub listing check's textfile to Prometheus: loopback only. */
  listingExporter: 9100,
} as const;

/** The metrics ports of a FlowProxy VM that BuilderHub's Prometheus scrapes when monitoring is on, and nobody else reaches. */
export const METRICS_PORTS = [PORTS.flowproxyMetrics, PORTS.haproxyMetrics] as const;

/** The ports a FlowProxy VM serves only on loopback (the metrics ports unless monitoring is on): the NSG must keep them from the internet too. */
export const LOOPBACK_PORTS = [
  PORTS.haproxyMetrics,
  PORTS.servedCertificate,
  PORTS.flowproxyMetrics,
  PORTS.flowproxySystem,
  PORTS.flowproxyUser,
] as const;

export const LOOPBACK = "127.0.0.1";

/**
 * Monitoring (config key `monitoring`): Prometheus on BuilderHub, which has no public address.
 * The image is pinned by tag like mockhub's: Debian bookworm's prometheus package is 2.42.0, which is
 * what the sandbox's Docker Hub serves under this name, so the stack runs the same version there.
 */
export const MONITORING = {
  image: "prom/prometheus:v2.42.0",
  /** Scrape and rule evaluation interval; the alert rules' `for:` times are multiples of it. */
  scrapeIntervalSeconds: 15,
  /** Prometheus's scrape jobs, which the alert rules select by. */
  jobs: { flowproxy: "flowproxy", haproxy: "haproxy", listing: "builderhub-listing" },
} as const;

/** FlowProxy's listen addresses, which the program writes into flowproxy.env (METRICS_ADDR on the private address when monitoring is on). */
export const FLOWPROXY_LISTEN = {
  USER_LISTEN_ADDR: `${LOOPBACK}:${PORTS.flowproxyUser}`,
  SYSTEM_LISTEN_ADDR: `${LOOPBACK}:${PORTS.flowproxySystem}`,
  METRICS_ADDR: `${LOOPBACK}:${PORTS.flowproxyMetrics}`,
} as const;

const PROVISION_STATE = "/var/lib/flowproxy-provision";
const FLOWPROXY_CONFIG = "/etc/flowproxy";
const HAPROXY_DIR = "/usr/local/etc/haproxy";
const BUILDERHUB_CONFIG = "/etc/builderhub";
const MONITORING_CONFIG = "/etc/flowproxy-monitoring";

/** Paths on the VMs. */
export const VM_PATHS = {
  /** Provisioning's own state: markers, the certificate's names, the last run's record. */
  provisionState: PROVISION_STATE,
  /** What the last provisioning run did, read by `pnpm run verify`. */
  lastRun: `${PROVISION_STATE}/last-run`,
  /** A run's scratch space (downloads, a new certificate, the Tailscale key file), gone when it ends. */
  provisionWork: `${PROVISION_STATE}/work`,
  /** The log of the last `haproxy -c` provisioning ran. */
  haproxyCheckLog: `${PROVISION_STATE}/haproxy-check.log`,
  flowproxyConfigDir: FLOWPROXY_CONFIG,
  flowproxyEnv: `${FLOWPROXY_CONFIG}/flowproxy.env`,
  /** signerKeySource vm: the key made on the VM (0600) and its address. */
  signerKey: `${FLOWPROXY_CONFIG}/signer.key`,
  signerAddress: `${FLOWPROXY_CONFIG}/signer.address`,
  /** The registration hook's settings (no secrets). */
  registrationEnv: `${FLOWPROXY_CONFIG}/registration.env`,
  /** BuilderHub: the FlowProxy VMs of the stack, one "<name> <private IP>" a line, which builderhub-prune keeps the registry to. */
  builderhubFleet: `${BUILDERHUB_CONFIG}/fleet`,
  /** BuilderHub: restarts mockhub when it lists a builder whose VM left the stack (provision/builderhub-prune.sh). */
  pruneHook: "/usr/local/sbin/builderhub-prune",
  /** Its settings (no secrets). */
  pruneEnv: `${BUILDERHUB_CONFIG}/prune.env`,
  /** The listings it restarted mockhub to rename, in its unit's StateDirectory. */
  pruneRenamed: "/var/lib/builderhub-prune/renamed",
  flowproxyBinary: "/usr/local/bin/flowproxy",
  registrationHook: "/usr/local/sbin/flowproxy-register",
  systemdUnits: "/etc/systemd/system",
  /** FlowProxy's ClickHouse backup database, in the unit's StateDirectory. */
  clickhouseBackup: "/var/lib/flowproxy/clickhouse-backup.db",
  foundry: "/opt/foundry",
  /** Mounted read-only into the HAProxy container at the same path. */
  haproxyDir: HAPROXY_DIR,
  haproxyCfg: `${HAPROXY_DIR}/haproxy.cfg`,
  /** Certificate and key, which HAProxy's TLS frontends present. */
  haproxyPem: `${HAPROXY_DIR}/certs/flowproxy.pem`,
  /** The certificate alone, served on PORTS.servedCertificate. */
  servedCertificate: `${HAPROXY_DIR}/static/le.cer`,
  /** BuilderHub, monitoring on: prometheus.yml and the alert rules, mounted read-only into Prometheus's container at /etc/prometheus. */
  monitoringConfigDir: MONITORING_CONFIG,
  prometheusConfig: `${MONITORING_CONFIG}/prometheus.yml`,
  alertRules: `${MONITORING_CONFIG}/alerts.yml`,
  /** Prometheus's database, owned by the image's user (nobody, 65534). */
  prometheusData: "/var/lib/flowproxy-monitoring/prometheus",
  /** The listing check's output, which the node exporter's textfile collector serves. */
  listingTextfileDir: "/var/lib/flowproxy-monitoring/textfile",
  /** BuilderHub, monitoring on: compares BuilderHub's listing with the fleet and the certificates the proxies present. */
  listingHook: "/usr/local/sbin/builderhub-listing",
  /** Its settings (no secrets). */
  listingEnv: `${MONITORING_CONFIG}/listing.env`,
} as const;

/** Where Azure's CustomScript 2.1 handler runs each configuration (a numbered directory per run). */
export const CUSTOM_SCRIPT_DOWNLOADS = "/var/lib/waagent/custom-script/download";

export const UNITS = {
  flowproxy: (vmName: string): string => `flowproxy@${vmName}.service`,
  registrationService: "flowproxy-registration.service",
  registrationTimer: "flowproxy-registration.timer",
  pruneService: "builderhub-prune.service",
  pruneTimer: "builderhub-prune.timer",
  listingService: "builderhub-listing.service",
  listingTimer: "builderhub-listing.timer",
  /** Debian's and Ubuntu's node exporter, restricted by a drop-in to the listing check's textfile on loopback. */
  nodeExporter: "prometheus-node-exporter.service",
} as const;

export const CONTAINERS = {
  haproxy: "haproxy",
  mockhub: "mockhub",
  prometheus: "prometheus",
  /** The label that holds the settings a container was started with; a changed one recreates it. */
  specLabel: `${PROJECT}.spec`,
} as const;

export interface RegionPlan {
  /** Prefix of the region's stack outputs: "east" gives eastPublicIp. */
  name: string;
  location: string;
  vnetCidr: string;
  subnetCidr: string;
  /** How many FlowProxy VMs the region runs; 1 when the entry leaves it out. */
  proxies?: number;
  /** Their Azure size; the stack's vmSize when the entry leaves it out. */
  vmSize?: string;
}

/**
 * The image every VM boots: Ubuntu 22.04 LTS, the release the provisioning scripts are written for.
 * The program declares it, and the policy pack refuses any other.
 */
export const UBUNTU_IMAGE = {
  publisher: "Canonical",
  offer: "0001-com-ubuntu-server-jammy",
  sku: "22_04-lts-gen2",
} as const;

/** Azure's VM size names: Standard_B2s, Standard_B2ls_v2, Standard_D2s_v5. */
export const AZURE_VM_SIZE = /^Standard_[A-Za-z0-9_]+$/;

/**
 * A VM's auto-shutdown, as Azure takes it: a Microsoft.DevTestLab schedule in the VM's resource
 * group whose task is this one and whose name is this one for the VM; Azure answers 400 Bad Request
 * to any other name (found by terraform-provider-azurerm when it added these schedules, #5536).
 */
export const AUTO_SHUTDOWN = {
  taskType: "ComputeVmShutdownTask",
  scheduleName: (vmName: string): string => `shutdown-computevm-${vmName}`,
} as const;

/** The regions the stack deploys unless the `regions` config key says otherwise, one FlowProxy VM each. BuilderHub lives in the first. */
export const DEFAULT_REGIONS: readonly RegionPlan[] = [
  { name: "east", location: "eastus", vnetCidr: "10.10.0.0/16", subnetCidr: "10.10.1.0/24" },
  { name: "west", location: "westeurope", vnetCidr: "10.20.0.0/16", subnetCidr: "10.20.1.0/24" },
];
