// The frame of the reliability report: a section is a table of checks, each passed or failed with
// its evidence; progress goes to the terminal as each check ends.
import { formatSeconds } from "../sandbox/proc";

export interface Check {
  /** First column: what was tried. */
  name: string;
  passed: boolean;
  /** The other columns of the section's table, in its order. */
  evidence: string[];
}

export class Section {
  readonly checks: Check[] = [];
  private readonly started = Date.now();
  private finishedAt?: number;

  constructor(
    readonly title: string,
    /** What the section proves and how: the paragraph above its table. */
    readonly intro: string,
    /** Column headings after the check's name and verdict. */
    readonly columns: string[],
  ) {
    process.stdout.write(`\n${title}\n`);
  }

  get wallMs(): number {
    return (this.finishedAt ?? Date.now()) - this.started;
  }

  get failed(): number {
    return this.checks.filter((c) => !c.passed).length;
  }

  add(check: Check): void {
    this.checks.push(check);
    process.stdout.write(`  ${check.passed ? "pass" : "FAIL"}  ${check.name}: ${check.evidence.join(" | ")}\n`);
  }

  /**
   * Runs one check; an exception fails it with its message as evidence, so one broken check does
   * not hide the others.
   */
  async run(name: string, action: () => Promise<Omit<Check, "name">>): Promise<void> {
    const started = Date.now();
    try {
      const outcome = await action();
      this.add({ name, ...outcome });
    } catch (err) {
      const message = (err as Error).message.split("\n")[0];
      this.add({ name, passed: false, evidence: [`could not run: ${message}`, ...this.columns.slice(1).map(() => "")] });
    }
    process.stdout.write(`        (${formatSeconds(Date.now() - started)})\n`);
  }

  finish(): void {
    this.finishedAt = Date.now();
  }

  rows(): string[][] {
    return this.checks.map((c) => [c.name, c.passed ? "pass" : "**FAIL**", ...c.evidence]);
  }
}
