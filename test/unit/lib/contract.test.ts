// The contract (lib/contract.ts) is the one place ports, paths and names are defined: the bash
// reads them as script variables, haproxy.cfg from HAProxy's environment, and the committed
// files that cannot take variables (the systemd units) must agree with it.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { PORTS, REGISTRATION_USER_AGENT, Role, UNITS, VM_PATHS } from "../../../lib/contract";
import { haproxyEnvironment, readProvisionFile, readRoleSources, ROLE_SOURCES } from "../../../lib/provision";
import { decodeScript, Evaluation, PROJECT_DIR } from "../../../plan/evaluation";
import { evaluated, everyOptionRequest, validRequest } from "../../support/program";

const read = (file: string) => fs.readFileSync(path.join(PROJECT_DIR, file), "utf8");

/** The names an "Inputs" header lists: `#   NAME  what it is` and `#   NAME, OTHER  what they are`. */
function headerNames(source: string): string[] {
  const header = source.slice(source.indexOf("# Inputs"), source.search(/^[^#]/m));
  return [...header.matchAll(/^# {3}([A-Z][A-Z0-9_]*(?:, [A-Z][A-Z0-9_]*)*)(?= )/gm)].flatMap((m) => m[1].split(", "));
}

/** The names the `: "${NAME?}"` lines make bash refuse to run without. */
function guardedNames(source: string): string[] {
  const guard = /^: "\$\{[A-Z_0-9]+\?\}"(?:\\\n|.)*$/m.exec(source);
  assert.ok(guard, 'the file has a `: "${NAME?}"` line');
  return [...guard[0].matchAll(/\$\{([A-Z][A-Z0-9_]*)\?\}/g)].map((m) => m[1]);
}

/** The variables the program renders above a role's bash. */
function renderedNames(evaluation: Evaluation, vmName: string, role: Role): string[] {
  const script = decodeScript(evaluation.extensions.find((e) => e.vmName === vmName)!.script);
  const sourcesAt = script.indexOf(readRoleSources(PROJECT_DIR, role).trimEnd());
  assert.ok(sourcesAt > 0, `${vmName}'s script carries ${ROLE_SOURCES[role].join(" and ")} verbatim`);
  // Whole quoted values are matched, so a file carried in one (the registration hook) adds no names.
  return [...script.slice(0, sourcesAt).matchAll(/^readonly ([A-Z][A-Z0-9_]*)='(?:[^']|'\\'')*'$/gm)].map((m) => m[1]);
}

const sorted = (names: string[]) => [...new Set(names)].sort();

describe("the role scripts' inputs", () => {
  let everyOption: Evaluation;
  let vmKeys: Evaluation;
  before(async () => {
    [everyOption, vmKeys] = await Promise.all([
      evaluated(everyOptionRequest()),
      evaluated(validRequest({ signerKeySource: "vm" })),
    ]);
  });

  for (const file of ["common.sh", "flowproxy.sh", "builderhub.sh"]) {
    test(`${file}'s header lists exactly the variables its guard line requires`, () => {
      const source = readProvisionFile(PROJECT_DIR, file);
      assert.deepEqual(sorted(headerNames(source)), sorted(guardedNames(source)));
    });
  }

  const roles: [Role, string, () => Evaluation][] = [
    ["flowproxy", "vm-eastus", () => everyOption],
    ["flowproxy", "vm-westeurope", () => vmKeys],
    ["builderhub", "vm-builderhub", () => everyOption],
  ];
  for (const [role, vmName, evaluation] of roles) {
    test(`the program renders for ${vmName} exactly the variables its ${role} scripts list`, () => {
      const listed = ROLE_SOURCES[role].flatMap((file) => headerNames(readProvisionFile(PROJECT_DIR, file)));
      assert.deepEqual(sorted(renderedNames(evaluation(), vmName, role)), sorted(listed));
    });
  }
});

test("haproxy.cfg uses exactly the settings of HAProxy's environment, and refuses to start without them", () => {
  const cfg = read("haproxy.cfg");
  const given = (systemApi: "http" | "tcp") =>
    haproxyEnvironment(systemApi)
      .split("\n")
      .map((line) => line.split("=")[0]);
  assert.deepEqual(given("http"), given("tcp"));
  const used = sorted([...cfg.replace(/^\s*#.*$/gm, "").matchAll(/\$\{([A-Z][A-Z0-9_]*)\}/g)].map((m) => m[1]));
  const checked = sorted([...cfg.matchAll(/defined\(([A-Z][A-Z0-9_]*)\)/g)].map((m) => m[1]));
  assert.deepEqual(used, sorted(given("http").filter((name) => name !== "FLOWPROXY_SYSTEM_API")));
  assert.deepEqual(checked, sorted(given("http")));
});

test("flowproxy@.service runs the contract's binary with its environment file and registration hook", () => {
  const unit = read("flowproxy@.service");
  assert.match(unit, new RegExp(`^ExecStart=${VM_PATHS.flowproxyBinary}$`, "m"));
  assert.match(unit, new RegExp(`^EnvironmentFile=${VM_PATHS.flowproxyEnv}$`, "m"));
  assert.match(unit, new RegExp(`^ExecStartPre=${VM_PATHS.registrationHook}$`, "m"));
  assert.equal(UNITS.flowproxy("vm-eastus"), "flowproxy@vm-eastus.service");
});

test("the registration hook, which systemd runs without provisioning's variables, reads the contract's settings file", () => {
  const hook = readProvisionFile(PROJECT_DIR, "flowproxy-register.sh");
  assert.match(
    hook,
    new RegExp(`^readonly CONFIG_FILE=\\$\\{FLOWPROXY_REGISTRATION_ENV:-${VM_PATHS.registrationEnv}\\}$`, "m"),
  );
});

// A timer without Unit= activates the service of its own name (systemd.timer(5)), so the timer
// starts the registration service only if the contract names them alike and the timer names no other.
test("the registration service runs the contract's hook as the timer, and its timer starts that service", () => {
  assert.match(
    readProvisionFile(PROJECT_DIR, "flowproxy-registration.service"),
    new RegExp(`^ExecStart=${VM_PATHS.registrationHook} ${REGISTRATION_USER_AGENT.timer.split("/")[1]}$`, "m"),
  );
  assert.doesNotMatch(readProvisionFile(PROJECT_DIR, "flowproxy-registration.timer"), /^Unit=/m);
  assert.equal(UNITS.registrationTimer.replace(/\.timer$/, ""), UNITS.registrationService.replace(/\.service$/, ""));
});

test("builderhub-prune reads the contract's settings file, runs as its service and keeps its record in that service's state directory", () => {
  const hook = readProvisionFile(PROJECT_DIR, "builderhub-prune.sh");
  assert.match(hook, new RegExp(`^readonly CONFIG_FILE=\\$\\{BUILDERHUB_PRUNE_ENV:-${VM_PATHS.pruneEnv}\\}$`, "m"));
  const service = readProvisionFile(PROJECT_DIR, "builderhub-prune.service");
  assert.match(service, new RegExp(`^ExecStart=${VM_PATHS.pruneHook}$`, "m"));
  assert.match(service, new RegExp(`^StateDirectory=${path.basename(path.dirname(VM_PATHS.pruneRenamed))}$`, "m"));
  assert.equal(path.dirname(path.dirname(VM_PATHS.pruneRenamed)), "/var/lib");
  assert.doesNotMatch(readProvisionFile(PROJECT_DIR, "builderhub-prune.timer"), /^Unit=/m);
  assert.equal(UNITS.pruneTimer.replace(/\.timer$/, ""), UNITS.pruneService.replace(/\.service$/, ""));
});

// FlowProxy reaches a peer BuilderHub lists at <dns_name>:5544, a port it does not take from
// BuilderHub: DEFAULT_SYSTEM_PORT = 5544 in src/lib.rs@258bbd6 and src/builderhub/mod.rs@029b7c4.
// HAProxy's system frontend must listen there.
test("the system port is the one FlowProxy dials its peers on", () => {
  assert.equal(PORTS.system, 5544);
});
