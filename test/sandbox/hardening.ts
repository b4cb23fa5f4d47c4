// Section 4 of the reliability report: how exposed FlowProxy's unit is by systemd's own measure,
// what TLS the public ports speak, and that the VM-local ports stay local
// (sandbox/scenarios/hardening.ts).
import { PORTS } from "../../lib/contract";
import { localPortsStayLocal, offlineUnitExposure, publicTls, runningUnitExposure } from "../../sandbox/scenarios/hardening";
import { flowproxyVms } from "../../sandbox/topology";
import { reportSection } from "../support/evidence";

reportSection(
  {
    title: "4. Hardening",
    intro:
      "`systemd-analyze security` scores the exposure of `flowproxy@.service` (0 = locked down, 10 = unprotected), once " +
      "offline from the committed file with the host's systemd and once for the unit running in a VM with Debian " +
      "trixie's systemd. `sslscan` connects from the host to each public TLS port: no protocol below TLS 1.2 and, for " +
      "TLS 1.2, only ECDHE key exchange with AEAD ciphers (no CBC, SHA-1 MACs, RC4, 3DES, NULL or EXPORT). The metrics " +
      "and certificate ports must be dropped from the internet and refused from the other VNet.",
    columns: ["value", "target"],
  },
  (check) => {
    const proxies = flowproxyVms();
    check("systemd-analyze security flowproxy@.service (offline)", offlineUnitExposure);
    check("systemd-analyze security of the running unit", () => runningUnitExposure(proxies[0]));
    for (const vm of proxies) {
      for (const port of [PORTS.https, PORTS.system]) {
        check(`TLS on ${vm.name}:${port} (sslscan from the host)`, () => publicTls(vm, port));
      }
    }
    for (const vm of proxies) {
      const peer = proxies.find((other) => other !== vm)!;
      check(`metrics (${PORTS.haproxyMetrics}) and public_cert (${PORTS.servedCertificate}) on ${vm.name} from outside`, () => localPortsStayLocal(vm, peer));
    }
  },
);
