// The sandbox's NSGs (sandbox/networks/nsg.ts): the inbound rules each VM gets from the program rendered
// under mocks, their nftables translation, and refusals of what the sandbox cannot enforce. With
// root and nft, the scripts also go through `nft -c` and a live check in throwaway namespaces of
// this test's own (fps-nsgtest-*, TEST-NET-1 addresses inside them only); the host's own ruleset
// is compared before and after.
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { Evaluation, withEditedProject } from "../../../../plan/evaluation";
import { DEFAULT_INBOUND_RULES, NsgRule, nsgRules, nsgRuleset } from "../../../../sandbox/networks/nsg";
import { findOnPath, SandboxError } from "../../../../sandbox/base/proc";
import { sandboxAddresses } from "../../../../sandbox/azure/stack";
import { sandboxRequest } from "../../../../sandbox/internet/stack-config";
import { Vm, vmByName, VMS } from "../../../../sandbox/base/topology";
import { spawnAsync } from "../../../support/processes";
import { evaluated } from "../../../support/program";

const SECRETS = {
  githubToken: "ghp_TESTONLYtoken0123456789abcdefghijklmn",
  sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q tester@laptop",
  seed: "sandbox-nsg",
  dockerHubUsername: "flowproxysandbox",
  dockerHubToken: "dckr_pat_TESTONLYsandboxNSG",
};
// The program as the sandbox evaluates it (sandbox/azure/stack.ts): its configuration, its VMs' addresses.
const config = { ...sandboxRequest(SECRETS, "3.0.11"), addresses: sandboxAddresses(VMS) };
const rendered = evaluated(config);
const SSH_RULE = `{ name: "ssh", priority: 100, protocol: "Tcp", port: String(PORTS.ssh), source: settings.allowedSshCidr }`;
const renderedWithEditedSsh = withEditedProject(
  "index.ts",
  (text) => {
    assert.ok(text.includes(SSH_RULE), "index.ts no longer declares the SSH rule this test edits");
    return text.replace(
      SSH_RULE,
      `{ name: "ssh", priority: 100, protocol: "Tcp", port: "2222", source: "203.0.113.0/24" }`,
    );
  },
  (projectDir) => evaluated({ ...config, projectDir }),
);

/** priority name access protocol sources -> ports, one line per rule. */
const summary = (rules: readonly NsgRule[]) =>
  rules.map(
    (r) =>
      `${r.priority} ${r.name} ${r.access} ${r.protocol} ${r.sourceAddressPrefixes.join(",")} -> ${r.destinationPortRanges.join(",")}`,
  );

describe("inbound rules from the rendered program", () => {
  test("vm-eastus gets nsg-eastus's rules, then Azure's defaults, by priority", async () => {
    assert.deepEqual(summary(nsgRules(await rendered, vmByName("vm-eastus"))), [
      "100 ssh Allow Tcp 198.18.0.1/32 -> 22",
      "110 http Allow Tcp * -> 80",
      "120 https Allow Tcp * -> 443",
      "130 system-orderflow Allow Tcp * -> 5544",
      "200 icmp-from-westeurope Allow Icmp 10.20.0.0/16 -> *",
      "65000 AllowVnetInBound Allow * VirtualNetwork -> *",
      "65001 AllowAzureLoadBalancerInBound Allow * AzureLoadBalancer -> *",
      "65500 DenyAllInBound Deny * * -> *",
    ]);
  });

  test("vm-builderhub gets nsg-builderhub's rules, open to both VNets only, then the defaults", async () => {
    assert.deepEqual(summary(nsgRules(await rendered, vmByName("vm-builderhub"))), [
      "100 builderhub-api-from-eastus Allow Tcp 10.10.0.0/16 -> 3000",
      "101 builderhub-api-from-westeurope Allow Tcp 10.20.0.0/16 -> 3000",
      "200 ssh-from-eastus Allow Tcp 10.10.0.0/16 -> 22",
      "201 ssh-from-westeurope Allow Tcp 10.20.0.0/16 -> 22",
      "300 icmp-from-eastus Allow Icmp 10.10.0.0/16 -> *",
      "301 icmp-from-westeurope Allow Icmp 10.20.0.0/16 -> *",
      "65000 AllowVnetInBound Allow * VirtualNetwork -> *",
      "65001 AllowAzureLoadBalancerInBound Allow * AzureLoadBalancer -> *",
      "65500 DenyAllInBound Deny * * -> *",
    ]);
  });

  test("vm-westeurope lets ICMP in from the other VNet", async () => {
    const icmp = nsgRules(await rendered, vmByName("vm-westeurope")).filter((r) => r.protocol === "Icmp");
    assert.deepEqual(summary(icmp), ["200 icmp-from-eastus Allow Icmp 10.10.0.0/16 -> *"]);
  });

  test("a changed SSH rule in index.ts changes the FlowProxy VMs' rulesets, not BuilderHub's", async () => {
    const [before, changed] = [await rendered, await renderedWithEditedSsh];
    const eastus = vmByName("vm-eastus");
    assert.equal(summary(nsgRules(changed, eastus))[0], "100 ssh Allow Tcp 203.0.113.0/24 -> 2222");
    const script = nsgRuleset(nsgRules(changed, eastus), eastus);
    assert.match(script, /^\t\tip saddr 203\.0\.113\.0\/24 tcp dport 2222 accept comment "ssh priority 100"$/m);
    assert.notEqual(script, nsgRuleset(nsgRules(before, eastus), eastus));
    const builderhub = vmByName("vm-builderhub");
    assert.equal(
      nsgRuleset(nsgRules(changed, builderhub), builderhub),
      nsgRuleset(nsgRules(before, builderhub), builderhub),
    );
  });
});

describe("the nftables script", () => {
  const rule = (fields: Partial<NsgRule> & Pick<NsgRule, "name" | "priority">): NsgRule => ({
    access: "Allow",
    protocol: "Tcp",
    sourceAddressPrefixes: ["*"],
    sourcePortRanges: ["*"],
    destinationAddressPrefixes: ["*"],
    destinationPortRanges: ["*"],
    ...fields,
  });

  test("replaces its table in one transaction and filters only the NIC's legs, before Docker's DNAT", () => {
    const rules = [
      ...DEFAULT_INBOUND_RULES,
      rule({
        name: "api",
        priority: 100,
        sourceAddressPrefixes: ["10.20.0.0/16", "Internet"],
        destinationPortRanges: ["3000", "8000-8100"],
      }),
    ];
    assert.equal(
      nsgRuleset(rules, vmByName("vm-builderhub")),
      [
        "# Azure NSG rules for vm-builderhub, from the rendered stack (sandbox/networks/nsg.ts).",
        "table inet azure_nsg",
        "delete table inet azure_nsg",
        "table inet azure_nsg {",
        "\tchain prerouting {",
        "\t\ttype filter hook prerouting priority -150; policy accept;",
        '\t\tiifname "eth0" jump inbound',
        "\t}",
        "\tchain inbound {",
        `\t\tct state established,related accept comment "flows already allowed, as Azure's flow records"`,
        '\t\tip saddr 10.20.0.0/16 tcp dport { 3000, 8000-8100 } accept comment "api priority 100"',
        '\t\tip saddr != { 10.10.0.0/16, 10.20.0.0/16 } tcp dport { 3000, 8000-8100 } accept comment "api priority 100"',
        '\t\tip saddr { 10.10.0.0/16, 10.20.0.0/16 } accept comment "AllowVnetInBound priority 65000"',
        '\t\tip saddr 168.63.129.16 accept comment "AllowAzureLoadBalancerInBound priority 65001"',
        '\t\tdrop comment "DenyAllInBound priority 65500"',
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
  });

  test("a FlowProxy VM's public leg eth1 is filtered too: in Azure it is the same NIC", () => {
    assert.match(
      nsgRuleset(DEFAULT_INBOUND_RULES, vmByName("vm-eastus")),
      /^\t\tiifname \{ "eth0", "eth1" \} jump inbound$/m,
    );
  });

  test("translates Deny, UDP, any protocol with ports, source ports and rules that cannot reach the VM", () => {
    const script = nsgRuleset(
      [
        rule({ name: "no-dns", priority: 100, access: "Deny", protocol: "Udp", destinationPortRanges: ["53"] }),
        rule({
          name: "any-proto",
          priority: 110,
          protocol: "*",
          sourcePortRanges: ["1024-65535"],
          destinationPortRanges: ["7000"],
        }),
        rule({ name: "udp-any-port", priority: 120, protocol: "Udp" }),
        rule({ name: "elsewhere", priority: 130, destinationAddressPrefixes: ["10.10.2.0/24", "Internet"] }),
        rule({ name: "own-address", priority: 140, destinationAddressPrefixes: ["10.10.1.4"] }),
        rule({ name: "from-lb", priority: 150, sourceAddressPrefixes: ["AzureLoadBalancer", "virtualnetwork"] }),
      ],
      vmByName("vm-eastus"),
    );
    const body = script
      .split("\n")
      .filter((l) => /priority 1\d\d/.test(l))
      .map((l) => l.trim());
    assert.deepEqual(body, [
      'udp dport 53 drop comment "no-dns priority 100"',
      'meta l4proto { tcp, udp } th sport 1024-65535 th dport 7000 accept comment "any-proto priority 110"',
      'meta l4proto udp accept comment "udp-any-port priority 120"',
      "# elsewhere priority 130: its destination does not cover 10.10.1.4, so it never matches here",
      'meta l4proto tcp accept comment "own-address priority 140"',
      'ip saddr { 168.63.129.16, 10.10.0.0/16, 10.20.0.0/16 } meta l4proto tcp accept comment "from-lb priority 150"',
    ]);
  });

  test("orders by priority whatever order the rules come in", () => {
    const script = nsgRuleset(
      [rule({ name: "late", priority: 300 }), rule({ name: "early", priority: 200 })],
      vmByName("vm-builderhub"),
    );
    assert.ok(script.indexOf('"early priority 200"') < script.indexOf('"late priority 300"'));
  });
});

describe("what the sandbox refuses", () => {
  type Edit = (stack: Evaluation) => void;
  const resource = (stack: Evaluation, name: string) => stack.resources.find((r) => r.name === name)!;
  const sshRule = (stack: Evaluation) =>
    (resource(stack, "nsg-eastus").state.securityRules as Record<string, unknown>[])[0];
  const cases: [string, Edit, RegExp][] = [
    [
      "an ESP rule",
      (s) => (sshRule(s).protocol = "Esp"),
      /nsg-eastus \(the NSG of vm-eastus\), rule "ssh": protocol "Esp" is a protocol Azure takes but the sandbox does not enforce/,
    ],
    [
      "an unknown protocol",
      (s) => (sshRule(s).protocol = "Sctp"),
      /rule "ssh": protocol "Sctp" is not one of Tcp, Udp, Icmp, \*/,
    ],
    [
      "a half range",
      (s) => (sshRule(s).destinationPortRange = "22-"),
      /rule "ssh" \(priority 100\): destinationPortRange\(s\) "22-" is not "\*", a port or a range/,
    ],
    ["a port above 65535", (s) => (sshRule(s).destinationPortRange = "70000"), /destinationPortRange\(s\) "70000"/],
    ["a reversed range", (s) => (sshRule(s).destinationPortRange = "30-20"), /destinationPortRange\(s\) "30-20"/],
    [
      "a service tag the sandbox has no addresses for",
      (s) => (sshRule(s).sourceAddressPrefix = "Storage"),
      /sourceAddressPrefix\(es\) "Storage" is not an IPv4 address, a CIDR/,
    ],
    [
      "an IPv6 source",
      (s) => (sshRule(s).sourceAddressPrefix = "2001:db8::/32"),
      /sourceAddressPrefix\(es\) "2001:db8::\/32" is IPv6/,
    ],
    [
      "a CIDR with host bits",
      (s) => (sshRule(s).sourceAddressPrefix = "198.18.0.1/24"),
      /sourceAddressPrefix\(es\) "198.18.0.1\/24" has host bits set/,
    ],
    [
      "a port and a port list",
      (s) => (sshRule(s).destinationPortRanges = ["23"]),
      /rule "ssh": destinationPortRanges \["23"\] is set next to destinationPortRange "22"/,
    ],
    [
      "no source at all",
      (s) => delete sshRule(s).sourceAddressPrefix,
      /rule "ssh": neither sourceAddressPrefix nor sourceAddressPrefixes is set/,
    ],
    [
      "ICMP with a port",
      (s) => Object.assign(sshRule(s), { protocol: "Icmp" }),
      /rule "ssh" \(priority 100\): protocol "Icmp" has no ports/,
    ],
    [
      "a priority Azure does not take",
      (s) => (sshRule(s).priority = 5000),
      /rule "ssh": priority 5000 is not a whole number from 100 to 4096/,
    ],
    [
      "two rules with one priority",
      (s) => (sshRule(s).priority = 110),
      /rule "(ssh|http)": priority 110 is taken by another inbound rule/,
    ],
    [
      "an access other than Allow or Deny",
      (s) => (sshRule(s).access = "Block"),
      /rule "ssh": access "Block" is not one of Allow, Deny/,
    ],
    [
      "a direction other than Inbound or Outbound",
      (s) => (sshRule(s).direction = "Both"),
      /rule "ssh": direction "Both" is not one of Inbound, Outbound/,
    ],
    [
      "a name Azure does not take",
      (s) => (sshRule(s).name = 'ssh" accept'),
      /name "ssh\\" accept" is not a rule name Azure takes/,
    ],
    [
      "application security groups",
      (s) => (sshRule(s).sourceApplicationSecurityGroups = [{ id: "/asg/bastions" }]),
      /rule "ssh": sourceApplicationSecurityGroups .* the sandbox does not model application security groups/,
    ],
    [
      "a NIC without an NSG",
      (s) => delete resource(s, "nic-vm-eastus").state.networkSecurityGroup,
      /nic-vm-eastus has no network security group/,
    ],
    [
      "an NSG on the subnet too",
      (s) => (resource(s, "subnet-eastus").state.networkSecurityGroup = { id: "/nsg/other" }),
      /subnet-eastus has a network security group of its own/,
    ],
    [
      "a standalone rule beside the inline ones",
      (s) =>
        s.resources.push({
          type: "azure-native:network:SecurityRule",
          name: "extra",
          inputs: {},
          state: { networkSecurityGroupName: resource(s, "nsg-eastus").state.name },
          options: {
            dependsOn: [],
            ignoreChanges: [],
            deleteBeforeReplace: false,
            deletedWith: "",
            replaceOnChanges: [],
          },
        }),
      /extra is a standalone rule of nsg-eastus/,
    ],
    [
      "a second NIC with the VM's address",
      (s) => s.resources.push(structuredClone(resource(s, "nic-vm-eastus"))),
      /2 network interfaces with vm-eastus's private address 10\.10\.1\.4/,
    ],
  ];
  for (const [what, edit, message] of cases) {
    test(`refuses ${what} with one clear SandboxError`, async () => {
      const stack = structuredClone(await rendered);
      edit(stack);
      assert.throws(
        () => nsgRules(stack, vmByName("vm-eastus")),
        (err: Error) => err instanceof SandboxError && message.test(err.message),
      );
    });
  }

  test("reads Azure's names case-insensitively and leaves outbound rules out", async () => {
    const stack = structuredClone(await rendered);
    const rules = resource(stack, "nsg-eastus").state.securityRules as Record<string, unknown>[];
    Object.assign(rules[0], { protocol: "tcp", access: "allow", direction: "inbound" });
    rules.push({ name: "out", priority: 100, direction: "Outbound", access: "Deny", protocol: "Esp" });
    const derived = nsgRules(stack, vmByName("vm-eastus"));
    assert.deepEqual(summary(derived).slice(0, 2), [
      "100 ssh Allow Tcp 198.18.0.1/32 -> 22",
      "110 http Allow Tcp * -> 80",
    ]);
    assert.equal(derived.filter((r) => r.name === "out").length, 0);
  });
});

// ---- with root and nft: the scripts in throwaway namespaces ----

const NETNS = `fps-nsgtest-${process.pid}`;
const PEER_NETNS = `${NETNS}-peer`;
const nftMissing =
  process.getuid?.() !== 0
    ? "needs root for network namespaces"
    : findOnPath("nft") === undefined
      ? "needs nft (Debian package nftables)"
      : findOnPath("ip") === undefined
        ? "needs ip (Debian package iproute2)"
        : undefined;

async function sh(command: string, args: string[], input?: string): Promise<string> {
  const result = await spawnAsync(command, args, { input });
  assert.equal(result.status, 0, `${command} ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

const inNetns = (netns: string, command: string, args: string[], input?: string) =>
  sh("ip", ["netns", "exec", netns, command, ...args], input);

// A small TCP tool run inside a namespace: `listen PORT...` echoes on each port and says "ready";
// `connect JSON` tries [localAddress, host, port] triples at once and prints what each saw:
// "open" (the echo came back), "timeout" (a packet was dropped) or the error code.
const TCP_TOOL = `
const net = require("net");
const [mode, ...args] = process.argv.slice(1);
if (mode === "listen") {
  let pending = args.length;
  for (const port of args) net.createServer((s) => s.pipe(s)).listen(Number(port), () => --pending || console.log("ready"));
} else {
  const attempt = ([localAddress, host, port]) => new Promise((done) => {
    const s = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) }, () => s.write("ping"));
    const timer = setTimeout(() => { s.destroy(); done("timeout"); }, 400);
    s.on("data", (d) => { clearTimeout(timer); s.destroy(); done(String(d) === "ping" ? "open" : "garbled"); });
    s.on("error", (e) => { clearTimeout(timer); done(e.code); });
  });
  Promise.all(JSON.parse(args[0]).map(attempt)).then((r) => console.log(JSON.stringify(r)));
}`;

function listen(netns: string, ports: number[]): Promise<ChildProcess> {
  const child = spawn("ip", ["netns", "exec", netns, process.execPath, "-e", TCP_TOOL, "listen", ...ports.map(String)]);
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => String(d).includes("ready") && resolve(child));
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`the listener in ${netns} exited with ${code}`)));
  });
}

const connect = async (netns: string, attempts: [string, string, number][]) =>
  JSON.parse(await inNetns(netns, process.execPath, ["-e", TCP_TOOL, "connect", JSON.stringify(attempts)])) as string[];

describe("in a throwaway namespace", { skip: nftMissing }, () => {
  let hostRuleset = "";
  const listeners: ChildProcess[] = [];

  before(async () => {
    hostRuleset = await sh("nft", ["list", "ruleset"]);
    await sh("ip", ["netns", "add", NETNS]);
    await sh("ip", ["netns", "add", PEER_NETNS]);
    // The VM's end is eth0, as in the sandbox; neither end ever exists in the host's namespace.
    await sh("ip", ["-n", NETNS, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0", "netns", PEER_NETNS]);
    await sh("ip", ["-n", NETNS, "addr", "add", "192.0.2.10/24", "dev", "eth0"]);
    await sh("ip", ["-n", PEER_NETNS, "addr", "add", "192.0.2.20/24", "dev", "peer0"]);
    await sh("ip", ["-n", PEER_NETNS, "addr", "add", "192.0.2.21/24", "dev", "peer0"]);
    for (const [netns, link] of [
      [NETNS, "eth0"],
      [NETNS, "lo"],
      [PEER_NETNS, "peer0"],
      [PEER_NETNS, "lo"],
    ]) {
      await sh("ip", ["-n", netns, "link", "set", link, "up"]);
    }
  });

  after(async () => {
    for (const child of listeners) child.kill();
    for (const netns of [NETNS, PEER_NETNS]) await spawnAsync("ip", ["netns", "delete", netns]);
    assert.equal(await sh("nft", ["list", "ruleset"]), hostRuleset, "the host's own ruleset changed");
  });

  test("nft accepts every VM's script from the rendered program (check mode)", async () => {
    const stack = await rendered;
    for (const vm of VMS) {
      await inNetns(NETNS, "nft", ["-c", "-f", "-"], nsgRuleset(nsgRules(stack, vm), vm));
    }
  });

  test("an allowed source reaches an allowed port, others are dropped, replies and lo pass; reapplying replaces the rules", async () => {
    // A VM at a TEST-NET-1 address: outside the sandbox VNets, so only the rules below and DenyAll apply.
    const vm: Vm = { ...vmByName("vm-builderhub"), privateIp: "192.0.2.10" };
    const allow = (port: string): NsgRule[] => [
      ...DEFAULT_INBOUND_RULES,
      {
        name: "client",
        priority: 100,
        access: "Allow",
        protocol: "Tcp",
        sourceAddressPrefixes: ["192.0.2.20"],
        sourcePortRanges: ["*"],
        destinationAddressPrefixes: ["*"],
        destinationPortRanges: [port],
      },
    ];
    listeners.push(await listen(NETNS, [8080, 8081]), await listen(PEER_NETNS, [9000]));

    await inNetns(NETNS, "nft", ["-f", "-"], nsgRuleset(allow("8080"), vm));
    assert.deepEqual(
      await connect(PEER_NETNS, [
        ["192.0.2.20", "192.0.2.10", 8080],
        ["192.0.2.21", "192.0.2.10", 8080],
        ["192.0.2.20", "192.0.2.10", 8081],
      ]),
      ["open", "timeout", "timeout"],
    );
    // The VM's own connection out: its replies come back on eth0, which DenyAll would otherwise drop.
    assert.deepEqual(
      await connect(NETNS, [
        ["", "192.0.2.20", 9000],
        ["", "127.0.0.1", 8081],
      ]),
      ["open", "open"],
    );

    await inNetns(NETNS, "nft", ["-f", "-"], nsgRuleset(allow("8081"), vm));
    assert.deepEqual(
      await connect(PEER_NETNS, [
        ["192.0.2.20", "192.0.2.10", 8080],
        ["192.0.2.20", "192.0.2.10", 8081],
      ]),
      ["timeout", "open"],
    );
    assert.equal(await inNetns(NETNS, "nft", ["list", "tables"]), "table inet azure_nsg\n");
  });
});
