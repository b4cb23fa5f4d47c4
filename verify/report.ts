// How `pnpm run verify` shows its results: a table with a row per VM and check, or JSON for
// scripts (the sandbox suite). Details hold what was seen or the cause, never a secret.
import { CheckResult } from "./checks";

export const passed = (results: readonly CheckResult[]): boolean => results.every((r) => r.outcome === "ok");

export function formatTable(description: string, results: readonly CheckResult[]): string {
  const header = { vm: "VM", check: "CHECK", outcome: "RESULT", detail: "DETAIL" };
  const rows = [header, ...results];
  const width = (key: "vm" | "check" | "outcome") => Math.max(...rows.map((r) => r[key].length));
  const [vmWidth, checkWidth, outcomeWidth] = [width("vm"), width("check"), width("outcome")];
  const lines = rows.map(
    (r) => `${r.vm.padEnd(vmWidth)}  ${r.check.padEnd(checkWidth)}  ${r.outcome.padEnd(outcomeWidth)}  ${r.detail}`,
  );
  const bad = results.filter((r) => r.outcome !== "ok");
  const summary =
    bad.length === 0
      ? `${description}: all ${results.length} checks passed`
      : `${description}: ${bad.length} of ${results.length} checks did not pass: ${bad.map((r) => `${r.vm} ${r.check}${r.outcome === "skipped" ? " (skipped)" : ""}`).join(", ")}`;
  return `${lines.join("\n")}\n\n${summary}\n`;
}

export function formatJson(description: string, results: readonly CheckResult[] | undefined, error?: string): string {
  const ok = error === undefined && results !== undefined && passed(results);
  return `${JSON.stringify({ target: description, ok, ...(error === undefined ? {} : { error }), results: results ?? [] }, null, 2)}\n`;
}
