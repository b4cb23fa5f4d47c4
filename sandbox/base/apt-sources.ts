// The Debian archive this machine's apt already uses. The VM image and Docker Hub's images take
// their packages from it, so the sandbox reaches whatever mirror the machine is set up for and the
// code names none. apt reads sources.list and the .list and .sources files of sources.list.d
// (one-line and deb822 formats, sources.list(5)); files with other suffixes it ignores, and so do we.
import * as fs from "fs";
import * as path from "path";
import { SandboxError } from "./proc";

const SOURCES_LIST = "/etc/apt/sources.list";
const SOURCES_DIR = "/etc/apt/sources.list.d";
const OS_RELEASE = "/etc/os-release";

export interface SourcesFile {
  path: string;
  text: string;
}

interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  enabled: boolean;
}

const withoutComment = (line: string): string => line.replace(/#.*$/, "").trim();

function oneLineSources(text: string): AptSource[] {
  return text.split("\n").flatMap((raw) => {
    // Options sit in brackets between the type and the URI: "deb [signed-by=...] URI suite comp".
    const words = withoutComment(raw)
      .replace(/\[[^\]]*\]/, " ")
      .split(/\s+/)
      .filter(Boolean);
    if (words.length < 3) return [];
    return [{ types: [words[0]], uris: [words[1]], suites: [words[2]], enabled: true }];
  });
}

function deb822Sources(text: string): AptSource[] {
  const stanzas = text.split(/\n\s*\n/);
  return stanzas.flatMap((stanza) => {
    const fields = new Map<string, string>();
    let last = "";
    for (const raw of stanza.split("\n")) {
      if (raw.startsWith("#")) continue;
      // A line starting with white space continues the field before it.
      if (/^\s/.test(raw) && last) {
        fields.set(last, `${fields.get(last)} ${raw.trim()}`);
        continue;
      }
      const match = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (!match) continue;
      last = match[1].toLowerCase();
      fields.set(last, match[2].trim());
    }
    const list = (name: string) => (fields.get(name) ?? "").split(/\s+/).filter(Boolean);
    if (!fields.has("uris")) return [];
    return [
      {
        types: list("types"),
        uris: list("uris"),
        suites: list("suites"),
        enabled: fields.get("enabled")?.toLowerCase() !== "no",
      },
    ];
  });
}

function parseSources(file: SourcesFile): AptSource[] {
  return file.path.endsWith(".sources") ? deb822Sources(file.text) : oneLineSources(file.text);
}

/**
 * The URI of the first enabled binary source that serves the release itself (its codename as the
 * suite, not -updates or -security): the archive that also holds every other Debian release.
 */
export function debianArchive(files: readonly SourcesFile[], codename: string): string | undefined {
  for (const source of files.flatMap(parseSources)) {
    if (source.enabled && source.types.includes("deb") && source.suites.includes(codename) && source.uris.length > 0) {
      return source.uris[0].replace(/\/+$/, "");
    }
  }
  return undefined;
}

function machineSourcesFiles(): SourcesFile[] {
  const inDir = fs.existsSync(SOURCES_DIR)
    ? fs
        .readdirSync(SOURCES_DIR)
        .filter((name) => name.endsWith(".list") || name.endsWith(".sources"))
        .sort()
        .map((name) => path.join(SOURCES_DIR, name))
    : [];
  return [SOURCES_LIST, ...inDir]
    .filter((file) => fs.existsSync(file))
    .map((file) => ({ path: file, text: fs.readFileSync(file, "utf8") }));
}

function machineCodename(): string | undefined {
  if (!fs.existsSync(OS_RELEASE)) return undefined;
  return /^VERSION_CODENAME=["']?([^"'\n]+)/m.exec(fs.readFileSync(OS_RELEASE, "utf8"))?.[1];
}

let cached: string | undefined;

/** The machine's Debian archive, read once; a machine without one gets what to add. */
export function debianMirror(): string {
  if (cached) return cached;
  const codename = machineCodename();
  if (!codename)
    throw new SandboxError(
      `${OS_RELEASE} names no VERSION_CODENAME; the sandbox needs a Debian host whose apt has a Debian archive`,
    );
  const archive = debianArchive(machineSourcesFiles(), codename);
  if (!archive) {
    throw new SandboxError(
      `apt's sources (${SOURCES_LIST}, ${SOURCES_DIR}/*.list, *.sources) name no Debian archive for ${codename}; ` +
        `add the mirror this machine may use as a "deb" source of suite ${codename}, component main`,
    );
  }
  cached = archive;
  return archive;
}
