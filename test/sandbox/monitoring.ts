// Section 8 of the reliability report: the stack with monitoring on (test/sandbox/scenarios/monitoring.ts).
// Played before the operator scenarios, whose first up brings the committed stack back, monitoring
// off, which stops Prometheus and the listing check again.
import assert from "node:assert/strict";
import {
  bundleReachesEveryPeer,
  everyTargetUp,
  monitoringCounterparts,
  monitoringOn,
  onlyTheScraperReaches,
  PROXY_DOWN_BUDGET_S,
  stopFiresProxyDown,
  verifyMonitoring,
} from "./scenarios/monitoring";
import { counterparts } from "../support/counterparts";
import { reportSection } from "../support/evidence";
import { MONITORING_CHECKS, MONITORING_SECTION } from "../support/report-sections";

reportSection(MONITORING_SECTION, (check) => {
  check(MONITORING_CHECKS.targetsUp, async () => [`${await monitoringOn()}; ${await everyTargetUp()}`]);
  check(MONITORING_CHECKS.flowInPrometheus, async () => [await bundleReachesEveryPeer()]);
  check(MONITORING_CHECKS.proxyDownFires, async () => {
    const { seconds, evidence } = await stopFiresProxyDown();
    assert.ok(seconds <= PROXY_DOWN_BUDGET_S);
    return [evidence];
  });
  check(MONITORING_CHECKS.onlyScraper, async () => [await onlyTheScraperReaches()]);
  check(MONITORING_CHECKS.verify, async () => [await verifyMonitoring()]);
});

counterparts(MONITORING_SECTION, (play) => {
  play(MONITORING_CHECKS.targetsUp, () => monitoringCounterparts.targetsUp());
  play(MONITORING_CHECKS.flowInPrometheus, () => monitoringCounterparts.flowRises());
  play(MONITORING_CHECKS.onlyScraper, () => monitoringCounterparts.onlyScraper());
  play(MONITORING_CHECKS.verify, () => monitoringCounterparts.verifyRefusal());
});
