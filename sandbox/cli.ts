// `pnpm run sandbox up|down|status|exec`: the local sandbox that runs the program's provisioning on
// real systemd containers. See sandbox/sandbox.ts for what each command does.
import { formatSeconds, SandboxError } from "./base/proc";
import { down, endpointHints, status, up } from "./sandbox";
import { vmByName } from "./base/topology";
import { vmExec } from "./machines/vm";

const USAGE = `usage: pnpm run sandbox <command>
  up [--keep-on-failure] [--monitoring]
                           build or reuse the image, create networks, boot the VMs and run the
                           program's extensions (again, on a running sandbox); --monitoring sets
                           the config key monitoring to true (Prometheus on BuilderHub)
  down                     stop and delete everything except the image cache
  status                   show what runs
  exec VM -- COMMAND...    run a command as root inside a VM`;

const print = (line: string) => console.log(line);

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "up": {
      const unknown = rest.filter((a) => a !== "--keep-on-failure" && a !== "--monitoring");
      if (unknown.length > 0) {
        throw new SandboxError(`unknown option ${unknown[0]} for up\n${USAGE}`);
      }
      const started = Date.now();
      const overrides: Record<string, string> = rest.includes("--monitoring") ? { monitoring: "true" } : {};
      await up({ keepOnFailure: rest.includes("--keep-on-failure"), overrides, log: print });
      print(`\nThe sandbox is up (${formatSeconds(Date.now() - started)}). Try from this host:`);
      endpointHints().forEach((line) => print(`  ${line}`));
      print("Inside a VM: pnpm run sandbox exec vm-eastus -- journalctl -u flowproxy@vm-eastus --no-pager");
      return 0;
    }
    case "down":
      await down();
      print("The sandbox is gone (the image cache is kept).");
      return 0;
    case "status": {
      const report = await status();
      for (const vm of report.vms) {
        const last = vm.lastRun
          ? `last extension download/${vm.lastRun.seq}: ${vm.lastRun.exitCode !== null ? `exit ${vm.lastRun.exitCode}` : vm.lastRun.result} at ${vm.lastRun.at}`
          : "no extension run";
        print(`${vm.name.padEnd(14)} ${vm.running ? `running (${vm.systemState})` : "stopped"}; ${last}`);
      }
      const present = (map: Record<string, boolean>) =>
        Object.entries(map)
          .map(([name, ok]) => `${name}${ok ? "" : " (missing)"}`)
          .join(", ");
      print(`bridges:       ${present(report.network.bridges)}`);
      print(`namespaces:    ${present(report.network.namespaces)}`);
      print(
        `DNS servers:   ${Object.entries(report.network.dns)
          .map(([v, pid]) => `${v} ${pid ? `PID ${pid}` : "stopped"}`)
          .join(", ")}`,
      );
      print(`outbound:      ${report.network.outboundRelay ? `PID ${report.network.outboundRelay}` : "stopped"}`);
      print(`GitHub double: ${report.githubDouble ? `PID ${report.githubDouble}` : "stopped"}`);
      print(`Docker Hub (docker-registry): ${report.dockerHub ? `PID ${report.dockerHub}` : "stopped"}`);
      return 0;
    }
    case "exec": {
      const separator = rest.indexOf("--");
      if (rest.length < 3 || separator !== 1) {
        throw new SandboxError(`exec needs a VM name, --, and a command\n${USAGE}`);
      }
      const result = await vmExec(vmByName(rest[0]), rest.slice(2));
      process.stdout.write(result.stdout);
      process.stderr.write(result.stderr);
      return result.code ?? 1;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    // A SandboxError says what is wrong and what to do; anything else is a bug, whose stack helps.
    console.error(err instanceof SandboxError ? `sandbox: ${err.message}` : err.stack);
    process.exitCode = 1;
  },
);
