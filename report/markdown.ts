// Shared by the benchmark and the reliability report: machine facts and Markdown tables.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_DIR } from "../plan/evaluation";

export function machineSummary(): string {
  const memoryGiB = (os.totalmem() / 2 ** 30).toFixed(1);
  let commit = "uncommitted";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: PROJECT_DIR, encoding: "utf8" }).trim();
  } catch {
    // Outside a git checkout the commit is simply unknown.
  }
  return (
    `${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? "unknown CPU"}), ${memoryGiB} GiB memory, ` +
    `Node ${process.version}, commit ${commit}, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`
  );
}

/** The middle value (the upper one of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

export function markdownTable(header: string[], rows: string[][]): string {
  return [
    `| ${header.map(cell).join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
  ].join("\n");
}

/** A fixed-width table for the terminal. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").split("\n")[0].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (c ?? "").split("\n")[0].padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function writeDoc(relativePath: string, text: string): void {
  const full = path.join(PROJECT_DIR, relativePath);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, text);
}
