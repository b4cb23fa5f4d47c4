// What Azure does to a new VM from the program's osProfile before any extension runs, as the
// provisioning agent of Ubuntu's Azure images (cloud-init with its Azure datasource) does it: the
// admin user with the configured public keys, sudo without a password, password logins off. The
// sandbox plays it once per VM disk, after the first boot, reading the osProfile the program
// declared (never a copy of it), and marks the disk as provisioned as the Azure agent does. Before
// that, it refuses what Azure's VM create refuses in the osProfile: a public key of a type Azure
// does not take, by the program's own rule (azureSshKeyRefusal in lib/config.ts).
import * as path from "path";
import { azureSshKeyRefusal } from "../../lib/config";
import { SandboxError } from "../base/proc";
import type { Evaluation } from "../../plan/evaluation";
import { isMarkedSecret } from "../../plan/evaluation";
import { Vm } from "../base/topology";
import { vmCheck, vmExec } from "../machines/vm";

const VIRTUAL_MACHINE = "azure-native:compute:VirtualMachine";
/** The Azure Linux agent's record that provisioning finished; nothing provisions a VM twice. */
const PROVISIONED_MARKER = "/var/lib/waagent/provisioned";
/** Azure's answer to a VM create whose osProfile holds a public key it does not take (code InvalidParameter). */
const INVALID_KEY_DATA = "The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid.";
/** Where cloud-init puts the default user's sudo rule and its sshd settings on Ubuntu. */
const SUDOERS_FILE = "/etc/sudoers.d/90-cloud-init-users";
const SSHD_SETTINGS_FILE = "/etc/ssh/sshd_config.d/50-cloud-init.conf";
/** The groups cloud-init's default user gets on Ubuntu that exist on every Debian system. */
const ADMIN_GROUPS = "adm,sudo";
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

interface PublicKey {
  path: string;
  keyData: string;
}

export interface OsProfile {
  computerName: string;
  adminUsername: string;
  disablePasswordAuthentication: boolean;
  publicKeys: PublicKey[];
}

/** An evaluation keeps secrets as {"$secret": value}. */
function revealed(value: unknown): unknown {
  return isMarkedSecret(value) ? value.$secret : value;
}

/** The osProfile the program declared for `vm` (found by its computerName, which is the VM's name). */
export function osProfileOf(stack: Evaluation, vm: Vm): OsProfile {
  const profiles = stack.resources
    .filter((r) => r.type === VIRTUAL_MACHINE)
    .map((r) => revealed(r.state.osProfile) as Record<string, unknown> | undefined);
  const profile = profiles.find((p) => p?.computerName === vm.name);
  if (!profile) {
    throw new SandboxError(`the program declares no VM whose osProfile.computerName is ${vm.name}`);
  }
  const linux = (revealed(profile.linuxConfiguration) ?? {}) as Record<string, unknown>;
  const ssh = (revealed(linux.ssh) ?? {}) as Record<string, unknown>;
  const keys = ((revealed(ssh.publicKeys) ?? []) as unknown[]).map((k) => {
    const key = revealed(k) as Record<string, unknown>;
    return { path: String(revealed(key.path)), keyData: String(revealed(key.keyData)) };
  });
  const adminUsername = String(revealed(profile.adminUsername));
  if (!USER_NAME.test(adminUsername)) {
    throw new SandboxError(
      `${vm.name}: osProfile.adminUsername "${adminUsername}" is not a Linux user name Azure accepts`,
    );
  }
  for (const key of keys) {
    if (!path.isAbsolute(key.path) || key.path.includes("..")) {
      throw new SandboxError(`${vm.name}: the public key path "${key.path}" is not an absolute path`);
    }
    const refusal = azureSshKeyRefusal(key.keyData);
    if (refusal)
      throw new SandboxError(
        `${vm.name}: Azure would refuse the VM: InvalidParameter: ${INVALID_KEY_DATA} The key ${refusal}`,
      );
  }
  return {
    computerName: vm.name,
    adminUsername,
    disablePasswordAuthentication: revealed(linux.disablePasswordAuthentication) === true,
    publicKeys: keys,
  };
}

async function writeVmFile(vm: Vm, file: string, content: string, mode: string, owner = "root"): Promise<void> {
  await vmCheck(vm, ["install", "-d", "-m", "755", path.dirname(file)]);
  await vmCheck(vm, ["sh", "-c", 'cat > "$1"', "sh", file], { input: content });
  await vmCheck(vm, ["chmod", mode, file]);
  await vmCheck(vm, ["chown", `${owner}:${owner}`, file]);
}

/** Provisions the VM from `profile` unless it was provisioned before; returns whether it did. */
export async function provisionFromOsProfile(vm: Vm, profile: OsProfile): Promise<boolean> {
  if ((await vmExec(vm, ["test", "-e", PROVISIONED_MARKER])).code === 0) {
    return false;
  }
  const user = profile.adminUsername;
  if ((await vmExec(vm, ["id", "-u", user])).code !== 0) {
    // No password: the account's password is locked, as Azure leaves it with SSH keys only.
    await vmCheck(vm, ["useradd", "--create-home", "--shell", "/bin/bash", "--groups", ADMIN_GROUPS, user]);
  }
  for (const key of profile.publicKeys) {
    await vmCheck(vm, ["install", "-d", "-m", "700", "-o", user, "-g", user, path.dirname(key.path)]);
    await writeVmFile(vm, key.path, `${key.keyData.trim()}\n`, "600", user);
  }
  await writeVmFile(vm, SUDOERS_FILE, `${user} ALL=(ALL) NOPASSWD:ALL\n`, "440");
  await vmCheck(vm, ["visudo", "-c", "-q", "-f", SUDOERS_FILE]);
  if (profile.disablePasswordAuthentication) {
    await writeVmFile(vm, SSHD_SETTINGS_FILE, "PasswordAuthentication no\n", "644");
  }
  await vmCheck(vm, ["systemctl", "reload-or-restart", "ssh.service"]);
  await vmCheck(vm, ["install", "-D", "-m", "644", "/dev/null", PROVISIONED_MARKER]);
  return true;
}
