// The zips the sandbox's GitHub double serves as workflow artifacts (sandbox/internet/doubles.ts), made with
// fflate. Real GitHub artifacts are zips of the uploaded files, and `unzip` in the VMs must read
// these as it reads those: deflated entries with their Unix modes (an executable stays one).
import { Zippable, zipSync } from "fflate";

export interface ZipEntry {
  name: string;
  data: Buffer;
  /** Unix permission bits, e.g. 0o755 for an executable. */
  mode: number;
}

const UNIX = 3;
const S_IFREG = 0o100000;
// A fixed time, so the same inputs always give the same bytes (and the same artifact digest).
const MTIME = new Date("2024-01-01T00:00:00");

export function createZip(entries: readonly ZipEntry[]): Buffer {
  const files: Zippable = {};
  for (const entry of entries) {
    files[entry.name] = [new Uint8Array(entry.data), { os: UNIX, attrs: (S_IFREG | entry.mode) << 16, mtime: MTIME }];
  }
  return Buffer.from(zipSync(files, { level: 6 }));
}
