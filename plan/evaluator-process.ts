// plan/evaluate.ts in a Node process of its own, which evaluates one request at a time and loads
// the program's modules once. Two costs of evaluating in the caller's process stay out of it:
// a process that tracks every promise with async hooks (node:test does) makes each of Pulumi's
// thousands of promises dearer, and every child process the caller spawns forks the caller, whose
// cost grows with its memory, which Pulumi's runtime would triple.
import { ChildProcess, fork } from "child_process";
import { EvaluateOptions, Evaluation, EvaluationRequest, ProgramFailure, ProgramRefusal } from "./evaluation";

type Reply =
  | { id: number; evaluation: Evaluation }
  | { id: number; refusal: { message: string; declared: number } }
  | { id: number; failure: string };

type Request = { id: number; request: EvaluationRequest; options: EvaluateOptions };

/** The evaluating process's side: evaluates each request it is sent and sends the outcome back. */
function serveEvaluations(): void {
  // Required here: the caller's side never loads Pulumi.
  const { evaluate } = require("./evaluate") as typeof import("./evaluate");
  process.on("message", ({ id, request, options }: Request) => {
    evaluate(request, options).then(
      (evaluation) => process.send!({ id, evaluation } satisfies Reply),
      (err: unknown) =>
        process.send!(
          (err instanceof ProgramRefusal
            ? { id, refusal: { message: err.message, declared: err.declared } }
            : { id, failure: err instanceof Error ? (err.stack ?? err.message) : String(err) }) satisfies Reply,
        ),
    );
  });
  // The caller going away ends this process too.
  process.on("disconnect", () => process.exit(0));
}

interface Waiting {
  resolve: (e: Evaluation) => void;
  reject: (err: Error) => void;
}

export class EvaluatorProcess {
  private child?: ChildProcess;
  private nextId = 0;
  private readonly pending = new Map<number, Waiting>();

  evaluate(request: EvaluationRequest, options: EvaluateOptions = {}): Promise<Evaluation> {
    const child = this.start();
    const id = this.nextId++;
    // Busy, the process keeps the caller alive; idle, it must not.
    if (this.pending.size === 0) this.hold(child, true);
    return new Promise<Evaluation>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.send({ id, request, options } satisfies Request);
    });
  }

  private hold(child: ChildProcess, busy: boolean): void {
    const channel = child.channel as { ref(): void; unref(): void } | undefined;
    if (busy) {
      child.ref();
      channel?.ref();
    } else {
      child.unref();
      channel?.unref();
    }
  }

  private settle(id: number, outcome: (waiting: Waiting) => void): void {
    const waiting = this.pending.get(id);
    if (!waiting) return;
    this.pending.delete(id);
    if (this.pending.size === 0 && this.child) this.hold(this.child, false);
    outcome(waiting);
  }

  private start(): ChildProcess {
    if (this.child) return this.child;
    // The program is loaded through ts-node, as Pulumi loads it. A young generation larger than
    // V8's default suits Pulumi's many short-lived promises: it halves the time spent collecting them.
    const child = fork(__filename, [], {
      execArgv: ["--require", require.resolve("ts-node/register/transpile-only"), "--max-semi-space-size=128"],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    child.on("message", (reply: Reply) =>
      this.settle(reply.id, (waiting) => {
        if ("evaluation" in reply) waiting.resolve(reply.evaluation);
        else if ("refusal" in reply) waiting.reject(new ProgramRefusal(reply.refusal.message, reply.refusal.declared));
        else waiting.reject(new ProgramFailure(reply.failure));
      }),
    );
    const lost = (why: string) => {
      this.child = undefined;
      for (const id of [...this.pending.keys()])
        this.settle(id, (waiting) => waiting.reject(new ProgramFailure(`the evaluating process ${why}`)));
    };
    child.on("error", (err) => lost(`failed: ${err.message}`));
    child.on("exit", (code, signal) => lost(`exited (${signal ?? `code ${code}`})`));
    this.hold(child, false);
    this.child = child;
    return child;
  }
}

if (require.main === module) serveEvaluations();
