// Builds the test doubles into the state directory: plain JavaScript for the VMs (mounted read-only
// at /opt/sandbox, so changing a double needs no image rebuild), the installer scripts the GitHub
// double serves, and the FlowProxy artifact zips it serves.
import * as fs from "fs";
import * as path from "path";
import { createZip } from "../test/doubles/zip";
import { bundle, BundleOptions } from "./bundle";
import { PROJECT_DIR, statePaths } from "./paths";

const DOUBLES_SOURCE = path.join(PROJECT_DIR, "test", "doubles");
const NODE_SHEBANG = "#!/usr/bin/env node";

/** Built file name, TypeScript entry, bundle options. */
const SCRIPTS: readonly [string, string, BundleOptions][] = [
  ["docker.js", "docker.ts", {}],
  ["mockhub.js", "mockhub.ts", {}],
  ["github.js", "github.ts", {}],
  ["outbound.js", "outbound.ts", {}],
  // These two are downloaded and run as programs of their own.
  ["cast.js", "cast.ts", { shebang: NODE_SHEBANG }],
  ["tailscale.js", "tailscale.ts", { shebang: NODE_SHEBANG }],
];

const SHELL_FILES = ["foundry-install.sh", "foundryup.sh", "tailscale-install.sh"];

/** Replaces a file atomically: the directory is bind-mounted into running VMs and must stay the same inode. */
function writeAtomically(file: string, content: string | Buffer, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

export function buildDoubles(): void {
  const out = statePaths.doubles;
  fs.mkdirSync(out, { recursive: true, mode: 0o755 });
  for (const [file, entry, options] of SCRIPTS) {
    writeAtomically(path.join(out, file), bundle(path.join(DOUBLES_SOURCE, entry), options), 0o755);
  }
  for (const file of SHELL_FILES) {
    writeAtomically(path.join(out, file), fs.readFileSync(path.join(DOUBLES_SOURCE, file)), 0o755);
  }
}

export interface ArtifactSpec {
  owner: string;
  repo: string;
  id: string;
  /** Shown by `flowproxy --version` and in its metrics, so a test can tell builds apart. */
  variant: string;
}

/** The FlowProxy double as it travels in the artifact: one executable file. */
export function flowproxyExecutable(variant: string): string {
  return bundle(path.join(DOUBLES_SOURCE, "flowproxy.ts"), {
    // --jitless: the unit may set MemoryDenyWriteExecute=yes, which V8's JIT cannot run under.
    shebang: "#!/usr/bin/env -S node --jitless --no-expose-wasm",
    prelude: `globalThis.FLOWPROXY_DOUBLE_VARIANT = ${JSON.stringify(variant)};`,
  });
}

/** Writes the artifact zip where the GitHub double serves it; returns its path. */
export function publishArtifact(spec: ArtifactSpec): string {
  const dir = path.join(statePaths.github.artifacts, spec.owner, spec.repo);
  fs.mkdirSync(dir, { recursive: true });
  const zip = createZip([{ name: "flowproxy", data: Buffer.from(flowproxyExecutable(spec.variant)), mode: 0o755 }]);
  const file = path.join(dir, `${spec.id}.zip`);
  writeAtomically(file, zip, 0o644);
  return file;
}
