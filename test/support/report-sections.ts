// The sections of the reliability report (docs/RELIABILITY.md) that the unit tests play: what each
// proves and the columns of its table. The sandbox suite's sections are in test/sandbox/.
import type { ReportSection } from "../../report/results";
import { BAD_CONFIGS } from "./bad-configs";

export const BAD_CONFIGURATION: ReportSection = {
  title: "1. Bad configuration",
  intro:
    `Each input of the catalogue \`test/support/bad-configs.ts\` (${BAD_CONFIGS.length} inputs: missing keys, malformed and ` +
    "wrong-type values, secrets in plain text, overlapping CIDRs, hostile strings with quotes, `$(…)`, backticks and " +
    "newlines, broken local files) is given to the program, evaluated under Pulumi's mocks as `pulumi preview` runs it " +
    "(`plan/evaluate.ts`). A pass means the program refused it before declaring any resource, with the message the " +
    "catalogue expects and no stack trace; the evidence is the message's first problem line. Hostile but legal file " +
    "content must instead reach the rendered script as one single-quoted word.",
  columns: ["evidence"],
};

export const AZURE_READINESS: ReportSection = {
  title: "7. Azure control plane and first boot (checked locally)",
  intro:
    "The program is evaluated under Pulumi's mocks with the default regions and with a third region, and its " +
    "dependency graph, resource options and rendered script are held to what Azure needs: one write at a time per " +
    "VNet, FlowProxy extensions after the network they register over, a retry knob that reruns every extension, " +
    "replacement and destroy options, explicit outbound access, and a script ready for a VM's first boot. The lock " +
    "wait runs the script's own function in bash against a lock held by another process. What only Azure can show " +
    "is listed in the README under \"What the sandbox cannot prove\".",
  columns: ["evidence"],
};
