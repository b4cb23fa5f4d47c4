// The VM image: a Debian trixie root filesystem made by debootstrap, cached under a name that hashes
// its whole recipe, so it is rebuilt only when the recipe changes. The doubles are not part of it:
// they are mounted into each VM at /opt/sandbox, so changing one needs no rebuild. The CA goes in
// before update-ca-certificates, so curl and dockerd trust the doubles' and Docker Hub's TLS.
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { debianMirror } from "../base/apt-sources";
import { ensureCa } from "../base/ca";
import { CACHE_DIR, cachePaths } from "../base/paths";
import { check, lastNonEmptyLine, run, SandboxError } from "../base/proc";

const SUITE = "trixie";

/**
 * systemd boots the VM; docker.io and docker-cli are the engine provisioning starts (Ubuntu's
 * docker.io carries both); openssh-server and sudo are what the admin user logs in with, as on
 * Ubuntu's Azure image; nodejs runs the doubles only; the rest is what the provisioning scripts
 * and debugging use; prometheus-node-exporter is what BuilderHub's provisioning installs from Ubuntu's
 * archive when monitoring is on (the sandbox's VMs reach no archive).
 */
const PACKAGES = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "curl",
  "ca-certificates",
  "openssl",
  "jq",
  "unzip",
  "iproute2",
  "nodejs",
  "procps",
  "iputils-ping",
  "bind9-dnsutils",
  "docker.io",
  "docker-cli",
  "openssh-server",
  "sudo",
  "prometheus-node-exporter",
];

interface VmImageFile {
  path: string;
  mode: number;
  content: string;
}

const SANDBOX_CA_IN_IMAGE = "/usr/local/share/ca-certificates/flowproxy-sandbox-ca.crt";

/** Run in the new root after the files are written. */
const CHROOT_COMMANDS: readonly string[][] = [
  // Installing docker.io enables the engine; on Azure it is provisioning that installs and starts
  // it, so the image leaves it off and ensure_docker_running has to do that work here too.
  ["systemctl", "disable", "docker.service", "docker.socket", "containerd.service"],
  // Likewise the node exporter: provisioning starts it, restricted by its drop-in, on BuilderHub alone.
  ["systemctl", "disable", "prometheus-node-exporter.service"],
  // Host keys made here would be every VM's; each VM's disk gets its own (sandbox/machines/vm.ts), as each
  // Azure VM makes its own at first boot.
  ["sh", "-c", "rm -f /etc/ssh/ssh_host_*"],
  ["update-ca-certificates"],
  ["apt-get", "clean"],
];

interface VmImageRecipe {
  suite: string;
  mirror: string;
  packages: string[];
  files: VmImageFile[];
  commands: readonly string[][];
}

async function recipe(): Promise<VmImageRecipe> {
  const ca = await ensureCa();
  return {
    suite: SUITE,
    mirror: debianMirror(),
    packages: PACKAGES,
    files: [
      { path: SANDBOX_CA_IN_IMAGE, mode: 0o644, content: fs.readFileSync(ca.certFile, "utf8") },
      // Each VM gets its own resolv.conf and hostname when its disk is made (sandbox/machines/vm.ts).
      { path: "/etc/resolv.conf", mode: 0o644, content: "# written per VM by the sandbox\n" },
      // Empty: every VM generates its own machine ID on first boot.
      { path: "/etc/machine-id", mode: 0o444, content: "" },
    ],
    commands: CHROOT_COMMANDS,
  };
}

function recipeHash(r: VmImageRecipe): string {
  return createHash("sha256").update(JSON.stringify(r)).digest("hex").slice(0, 16);
}

async function build(r: VmImageRecipe, target: string, log: string): Promise<void> {
  const staging = `${target}.build`;
  fs.rmSync(staging, { recursive: true, force: true });
  const args = ["--variant=minbase", `--include=${r.packages.join(",")}`, r.suite, staging, r.mirror];
  const result = await run("debootstrap", args, { timeoutMs: 15 * 60 * 1000 });
  fs.writeFileSync(log, result.stdout + result.stderr);
  if (result.code !== 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new SandboxError(
      `debootstrap of Debian ${r.suite} failed (${lastNonEmptyLine(result.stdout + result.stderr) ?? "no output"}); ` +
        `full log: ${log}; is ${r.mirror} reachable?`,
    );
  }
  try {
    for (const file of r.files) {
      const dest = path.join(staging, file.path);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.rmSync(dest, { force: true });
      fs.writeFileSync(dest, file.content, { mode: file.mode });
      fs.chmodSync(dest, file.mode);
    }
    for (const command of r.commands) {
      await check("chroot", [staging, ...command]);
    }
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  fs.renameSync(staging, target);
}

/** Removes cached images other than `keep` that no VM disk is based on. */
function pruneImages(keep: string, inUse: ReadonlySet<string>): void {
  for (const entry of fs.readdirSync(CACHE_DIR)) {
    const dir = path.join(CACHE_DIR, entry);
    if (/^image-[0-9a-f]+(\.build)?$/.test(entry) && dir !== keep && !inUse.has(dir)) {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(`${dir}.log`, { force: true });
    }
  }
}

/** The image directory for the current recipe, built if missing. */
export async function ensureImage(inUse: ReadonlySet<string>): Promise<{ dir: string; built: boolean }> {
  const r = await recipe();
  const dir = cachePaths.image(recipeHash(r));
  if (fs.existsSync(dir)) {
    return { dir, built: false };
  }
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  await build(r, dir, `${dir}.log`);
  pruneImages(dir, inUse);
  return { dir, built: true };
}
