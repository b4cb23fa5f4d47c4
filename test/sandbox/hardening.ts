// Section 4 of the reliability report: how exposed FlowProxy's unit is by systemd's own measure,
// what TLS the public ports speak, and that the VM-local ports stay local
// (test/sandbox/scenarios/hardening.ts).
import { withEditedProject } from "../../plan/evaluation";
import { up } from "../../sandbox/sandbox";
import type { BrokenRun } from "./scenarios/broken";
import {
  exposureCounterparts,
  localPortsCounterparts,
  localPortsStayLocal,
  offlineUnitExposure,
  publicTls,
  runningUnitExposure,
  tlsCounterparts,
  withCbcSuite,
} from "./scenarios/hardening";
import { withMetricsOpen } from "./scenarios/verify-faults";
import { flowproxyVms } from "../../sandbox/base/topology";
import { counterparts } from "../support/counterparts";
import { reportSection } from "../support/evidence";
import { HARDENING, HARDENING_CHECKS, PUBLIC_TLS_PORTS } from "../support/report-sections";

reportSection(HARDENING, (check) => {
  const proxies = flowproxyVms();
  check(HARDENING_CHECKS.offlineUnitExposure, () => offlineUnitExposure());
  check(HARDENING_CHECKS.runningUnitExposure, () => runningUnitExposure(proxies[0]));
  for (const vm of proxies) {
    for (const port of PUBLIC_TLS_PORTS) {
      check(HARDENING_CHECKS.publicTls(vm.name, port), () => publicTls(vm, port));
    }
  }
  for (const vm of proxies) {
    const peer = proxies.find((other) => other !== vm)!;
    check(HARDENING_CHECKS.localPortsStayLocal(vm.name), () => localPortsStayLocal(vm, peer));
  }
});

/** Deploys the project with `file` edited, runs `play`, and deploys the committed project again. */
function whileDeployed<T>(file: string, edit: (text: string) => string, play: () => Promise<T>): Promise<T> {
  return withEditedProject(file, edit, async (projectDir) => {
    await up({ projectDir });
    try {
      return await play();
    } finally {
      await up();
    }
  });
}

// After the checks: the unit without its sandboxing, HAProxy accepting a CBC suite, the NSG opened
// on the metrics port; each deployed once for all the checks it breaks.
counterparts(HARDENING, (play) => {
  const proxies = flowproxyVms();
  let exposure: ReturnType<typeof exposureCounterparts> | undefined;
  let tls: Promise<Map<string, BrokenRun[]>> | undefined;
  let local: Promise<Map<string, BrokenRun[]>> | undefined;
  play(
    HARDENING_CHECKS.offlineUnitExposure,
    async () => (await (exposure ??= exposureCounterparts(proxies[0]))).offline,
  );
  play(
    HARDENING_CHECKS.runningUnitExposure,
    async () => (await (exposure ??= exposureCounterparts(proxies[0]))).running,
  );
  for (const vm of proxies) {
    for (const port of PUBLIC_TLS_PORTS) {
      play(HARDENING_CHECKS.publicTls(vm.name, port), async () => {
        tls ??= whileDeployed("haproxy.cfg", withCbcSuite, () => tlsCounterparts(proxies, PUBLIC_TLS_PORTS));
        return (await tls).get(`${vm.name}:${port}`) ?? [];
      });
    }
  }
  for (const vm of proxies) {
    play(HARDENING_CHECKS.localPortsStayLocal(vm.name), async () => {
      local ??= whileDeployed("index.ts", withMetricsOpen, () => localPortsCounterparts(proxies));
      return (await local).get(vm.name) ?? [];
    });
  }
});
