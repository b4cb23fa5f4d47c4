// Monitoring on (config key monitoring): Prometheus's configuration on BuilderHub generated from the
// fleet, the proxies' metrics listeners on their private addresses, NSG rules that admit the scraper
// alone ahead of Azure's AllowVnetInBound, and prometheusTunnel; with it off, nothing of it.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { parse } from "yaml";
import { DEFAULT_REGIONS, METRICS_PORTS, MONITORING, PORTS } from "../../../lib/contract";
import { readAlertRules } from "../../../lib/monitoring";
import { scriptVariable } from "../../../lib/provision";
import { decodeScript, Evaluation, PROJECT_DIR, unmarkSecrets } from "../../../plan/evaluation";
import { nsgPortsOutsideSpec } from "../../../policy/rules";
import { spawnAsync } from "../../support/processes";
import { evaluated, validRequest } from "../../support/program";

const scriptOf = (result: Evaluation, vm: string) =>
  decodeScript(result.extensions.find((e) => e.vmName === vm)!.script);
const envLine = (script: string, name: string) =>
  new RegExp(`^${name}=(.*)$`, "m").exec(scriptVariable(script, "FLOWPROXY_ENV")!)?.[1];
const haproxyEnv = (script: string, name: string) =>
  new RegExp(`^${name}=(.*)$`, "m").exec(scriptVariable(script, "HAPROXY_ENVIRONMENT")!)?.[1];

interface SecurityRule {
  name: string;
  priority: number;
  access: string;
  destinationPortRange: string;
  sourceAddressPrefix: string;
}
const rulesOf = (result: Evaluation, nsg: string) =>
  (unmarkSecrets(result.resources.find((r) => r.name === nsg)!.inputs) as { securityRules: SecurityRule[] })
    .securityRules;

/** The default stack with eastus grown to two proxies, monitored. */
const monitoredGrownRequest = () =>
  validRequest({
    regions: JSON.stringify(DEFAULT_REGIONS.map((r, i) => (i === 0 ? { ...r, proxies: 2 } : r))),
    monitoring: "true",
  });

/** The FlowProxy VMs of the grown stack and their addresses under the plan's mocks. */
const PROXIES = { "vm-eastus": "10.10.1.4", "vm-eastus-2": "10.10.1.6", "vm-westeurope": "10.20.1.4" } as const;
const HUB_IP = "10.10.1.5";
/** Azure's AllowVnetInBound, which a rule must come before to keep the VNets out. */
const ALLOW_VNET_PRIORITY = 65000;

describe("monitoring", () => {
  let on: Evaluation;
  let off: Evaluation;
  before(async () => {
    [on, off] = await Promise.all([evaluated(monitoredGrownRequest()), evaluated(validRequest())]);
  });

  test("scrapes every proxy's FlowProxy and HAProxy metrics at its private address, labelled with its VM and region", () => {
    const config = parse(scriptVariable(scriptOf(on, "vm-builderhub"), "PROMETHEUS_CONFIG")!) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[]; labels: Record<string, string> }[] }[];
    };
    const targets = (job: string) =>
      config.scrape_configs
        .find((c) => c.job_name === job)!
        .static_configs.map((s) => [s.targets.join(), s.labels.vm, s.labels.region].join(" "));
    const expected = (port: number) =>
      Object.entries(PROXIES).map(([vm, ip]) => `${ip}:${port} ${vm} ${vm.replace(/^vm-|-\d+$/g, "")}`);
    assert.deepEqual(targets(MONITORING.jobs.flowproxy), expected(PORTS.flowproxyMetrics));
    assert.deepEqual(targets(MONITORING.jobs.haproxy), expected(PORTS.haproxyMetrics));
    assert.equal(scriptVariable(scriptOf(on, "vm-builderhub"), "ALERT_RULES"), readAlertRules(PROJECT_DIR));
    assert.equal(scriptVariable(scriptOf(on, "vm-builderhub"), "MONITORING"), "true");
  });

  test("promtool accepts the generated configuration with the alert rules", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prometheus-config-"));
    try {
      fs.writeFileSync(
        path.join(dir, "prometheus.yml"),
        scriptVariable(scriptOf(on, "vm-builderhub"), "PROMETHEUS_CONFIG")!.replace(
          '"/etc/prometheus/alerts.yml"',
          "alerts.yml",
        ),
      );
      fs.writeFileSync(path.join(dir, "alerts.yml"), readAlertRules(PROJECT_DIR));
      const { status, stdout, stderr } = await spawnAsync("promtool", ["check", "config", "prometheus.yml"], {
        cwd: dir,
      });
      assert.equal(status, 0, stdout + stderr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("binds FlowProxy's and HAProxy's metrics to each proxy's private address, and to loopback with monitoring off", () => {
    for (const [vm, ip] of Object.entries(PROXIES)) {
      assert.equal(envLine(scriptOf(on, vm), "METRICS_ADDR"), `${ip}:${PORTS.flowproxyMetrics}`, vm);
      assert.equal(haproxyEnv(scriptOf(on, vm), "METRICS_BIND"), ip, vm);
    }
    assert.equal(envLine(scriptOf(off, "vm-eastus"), "METRICS_ADDR"), `127.0.0.1:${PORTS.flowproxyMetrics}`);
    assert.equal(haproxyEnv(scriptOf(off, "vm-eastus"), "METRICS_BIND"), "127.0.0.1");
  });

  test("opens each metrics port to BuilderHub's address alone and denies the VNets before AllowVnetInBound", () => {
    for (const nsg of ["nsg-eastus", "nsg-eastus-2", "nsg-westeurope"]) {
      const rules = rulesOf(on, nsg);
      for (const port of METRICS_PORTS) {
        const own = rules
          .filter((r) => r.destinationPortRange === String(port))
          .sort((a, b) => a.priority - b.priority);
        assert.deepEqual(
          own.map((r) => [r.access, r.sourceAddressPrefix]),
          [
            ["Allow", `${HUB_IP}/32`],
            ["Deny", "VirtualNetwork"],
          ],
          `${nsg}: port ${port}`,
        );
        assert.ok(
          own.every((r) => r.priority < ALLOW_VNET_PRIORITY),
          `${nsg}: port ${port} ahead of AllowVnetInBound`,
        );
      }
    }
    assert.deepEqual(
      rulesOf(off, "nsg-eastus").filter((r) => METRICS_PORTS.map(String).includes(r.destinationPortRange)),
      [],
    );
  });

  test("keeps the policy pack's rule on NSG ports satisfied", () => {
    const vnets = DEFAULT_REGIONS.map((r) => r.vnetCidr);
    for (const nsg of on.resources.filter((r) => r.type === "azure-native:network:NetworkSecurityGroup")) {
      assert.deepEqual(
        nsgPortsOutsideSpec(
          { type: nsg.type, name: nsg.name, props: unmarkSecrets(nsg.inputs) as Record<string, unknown> },
          vnets,
        ),
        [],
        nsg.name,
      );
    }
  });

  test("exports prometheusTunnel through the jump host of sshBuilderhub, and nothing with monitoring off", () => {
    assert.equal(
      on.outputs.prometheusTunnel.value,
      `ssh -N -L ${PORTS.prometheus}:127.0.0.1:${PORTS.prometheus} -J azureuser@203.0.113.10 azureuser@${HUB_IP}`,
    );
    assert.equal(on.outputs.sshBuilderhub.value, `ssh -J azureuser@203.0.113.10 azureuser@${HUB_IP}`);
    assert.equal(off.outputs.prometheusTunnel, undefined);
    assert.equal(scriptVariable(scriptOf(off, "vm-builderhub"), "PROMETHEUS_CONFIG"), "");
  });
});
