// Section 4 of the reliability report: how exposed FlowProxy's unit is by systemd's own measure,
// what TLS the public ports speak, and that the VM-local ports stay local
// (sandbox/scenarios/hardening.ts).
import { localPortsStayLocal, offlineUnitExposure, publicTls, runningUnitExposure } from "../../sandbox/scenarios/hardening";
import { flowproxyVms } from "../../sandbox/topology";
import { reportSection } from "../support/evidence";
import { HARDENING, HARDENING_CHECKS, PUBLIC_TLS_PORTS } from "../support/report-sections";

reportSection(
  HARDENING,
  (check) => {
    const proxies = flowproxyVms();
    check(HARDENING_CHECKS.offlineUnitExposure, offlineUnitExposure);
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
  },
);
