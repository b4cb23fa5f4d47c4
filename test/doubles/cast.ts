// Stand-in for Foundry's `cast` in the sandbox VMs, installed by the foundryup double. Test code:
// it never ships to Azure. It makes real secp256k1 keys with their real Ethereum addresses (the
// curve and keccak-256 are @noble's, inlined by sandbox/internet/bundle.ts), so the provisioning script
// registers a valid signer, but supports only the subcommands provisioning uses.
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak_256 } from "@noble/hashes/sha3";

export const CAST_VERSION = "cast Version: 1.0.0-sandbox";

/** The EIP-55 address of a secret key: keccak-256 of the uncompressed public key, last 20 bytes. */
function addressOf(secret: Uint8Array): string {
  const lower = Buffer.from(keccak_256(secp256k1.getPublicKey(secret, false).subarray(1)).subarray(12)).toString("hex");
  const hash = Buffer.from(keccak_256(Buffer.from(lower, "ascii"))).toString("hex");
  return `0x${[...lower].map((c, i) => (parseInt(hash[i], 16) >= 8 ? c.toUpperCase() : c)).join("")}`;
}

export function addressOfPrivateKey(privateKeyHex: string): string {
  const secret = Buffer.from(privateKeyHex.replace(/^0x/i, ""), "hex");
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(privateKeyHex) || !secp256k1.utils.isValidPrivateKey(secret)) {
    throw new Error("a private key is 64 hex digits, optionally prefixed with 0x");
  }
  return addressOf(secret);
}

function newKeypair(): { address: string; privateKey: string } {
  const secret = secp256k1.utils.randomPrivateKey();
  return { address: addressOf(secret), privateKey: `0x${Buffer.from(secret).toString("hex")}` };
}

export interface CastResult {
  code: number;
  stdout: string;
  stderr: string;
}

const ok = (stdout: string): CastResult => ({ code: 0, stdout, stderr: "" });
const usage = (message: string): CastResult => ({ code: 2, stdout: "", stderr: `error: ${message}\n` });

function walletAddress(args: string[]): CastResult {
  let key: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--private-key") {
      key = args[++i];
    } else if (arg.startsWith("--private-key=")) {
      key = arg.slice("--private-key=".length);
    } else if (!arg.startsWith("-") && key === undefined) {
      key = arg;
    } else {
      return usage(`unexpected argument '${arg}' found`);
    }
  }
  if (key === undefined) {
    return usage("cast wallet address needs a private key (positional or --private-key)");
  }
  try {
    return ok(`${addressOfPrivateKey(key)}\n`);
  } catch (err) {
    return { code: 1, stdout: "", stderr: `Error: ${(err as Error).message}\n` };
  }
}

export function runCast(args: string[]): CastResult {
  const [command, sub, ...rest] = args;
  if (command === "--version" || command === "-V") {
    return ok(`${CAST_VERSION}\n`);
  }
  if (command === "wallet" && sub === "new" && rest.length === 0) {
    const keypair = newKeypair();
    return ok(
      `Successfully created new keypair.\nAddress:     ${keypair.address}\nPrivate key: ${keypair.privateKey}\n`,
    );
  }
  if (command === "wallet" && sub === "address") {
    return walletAddress(rest);
  }
  return usage(`the sandbox's cast double does not support \`cast ${args.join(" ")}\``);
}

if (require.main === module) {
  const result = runCast(process.argv.slice(2));
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  process.exitCode = result.code;
}
