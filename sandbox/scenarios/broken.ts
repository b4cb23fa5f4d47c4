// What the scenarios hand to the counterparts of their checks (test/support/counterparts.ts): a check
// run on its subject broken on purpose, and what it said.

/** What was broken, what the check failed with (empty when it passed), and what that must name. */
export interface BrokenRun {
  broke: string;
  failure: string[];
  naming: string[];
}

/** What `check` failed with; empty when it passed. */
export async function failureOf(check: () => Promise<unknown>): Promise<string[]> {
  try {
    await check();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}
