// Builds the test doubles into the state directory: plain JavaScript for the VMs (mounted read-only
// at /opt/sandbox, so changing a double needs no image rebuild), the installer scripts the GitHub
// double serves, and the FlowProxy artifact zips it serves.
import * as fs from "fs";
import * as path from "path";
import { createZip } from "./zip";
import { bundle, BundleOptions } from "./bundle";
import { PROJECT_DIR } from "../../plan/evaluation";
import { statePaths } from "../base/paths";
import { writeAtomically } from "../base/proc";

const DOUBLES_SOURCE = path.join(PROJECT_DIR, "test", "doubles");
const NODE_SHEBANG = "#!/usr/bin/env node";

/** Built file name, TypeScript entry, bundle options. */
const SCRIPTS: readonly [string, string, BundleOptions][] = [
  ["mockhub.js", "mockhub.ts", {}],
  ["github.js", "github.ts", {}],
  ["dockerhub.js", "dockerhub.ts", {}],
  ["outbound.js", "outbound.ts", {}],
  // These two are downloaded and run as programs of their own.
  ["cast.js", "cast.ts", { shebang: NODE_SHEBANG }],
  ["tailscale.js", "tailscale.ts", { shebang: NODE_SHEBANG }],
];

const SHELL_FILES = ["foundry-install.sh", "foundryup.sh", "tailscale-install.sh"];

// Files are replaced with writeAtomically: the directory is bind-mounted into running VMs, which
// must see either the old file or the new one, and the directory must stay the same inode.

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

/**
 * Which FlowProxy the artifact double stands for. The version's major picks the upstream revision
 * the double follows (see test/doubles/flowproxy.ts); `flowproxy --version` prints
 * `flowproxy <version>-<gitHash>` as clap does, and generation 2 exports both in flowproxy_build_info.
 */
export interface FlowProxyBuild {
  /** CARGO_PKG_VERSION, e.g. "1.1.2". */
  version: string;
  /** The short commit build.rs stamps, e.g. "258bbd6". */
  gitHash: string;
  /** A test build, not an upstream one: it panics at start, every time, like a broken release. */
  crashLoop?: boolean;
}

/** The HTTP-system-API FlowProxy the spec ran: v1.1.2, commit 258bbd6. */
export const GENERATION_1_BUILD: FlowProxyBuild = { version: "1.1.2", gitHash: "258bbd6" };
/** The TCP-system-API FlowProxy on main: tag v2.1.0, commit 029b7c4, whose Cargo.toml still says 2.0.2. */
export const GENERATION_2_BUILD: FlowProxyBuild = { version: "2.0.2", gitHash: "029b7c4" };

export interface ArtifactSpec {
  owner: string;
  repo: string;
  id: string;
  build: FlowProxyBuild;
}

/** The FlowProxy double as it travels in the artifact: one executable file. */
export function flowproxyExecutable(build: FlowProxyBuild): string {
  return bundle(path.join(DOUBLES_SOURCE, "flowproxy.ts"), {
    // --jitless: the unit may set MemoryDenyWriteExecute=yes, which V8's JIT cannot run under.
    shebang: "#!/usr/bin/env -S node --jitless --no-expose-wasm",
    prelude: `globalThis.FLOWPROXY_BUILD = ${JSON.stringify(build)};`,
  });
}

/** Writes the artifact zip where the GitHub double serves it; returns its path. */
export function publishArtifact(spec: ArtifactSpec): string {
  const dir = path.join(statePaths.github.artifacts, spec.owner, spec.repo);
  fs.mkdirSync(dir, { recursive: true });
  const zip = createZip([{ name: "flowproxy", data: Buffer.from(flowproxyExecutable(spec.build)), mode: 0o755 }]);
  const file = path.join(dir, `${spec.id}.zip`);
  writeAtomically(file, zip, 0o644);
  return file;
}
