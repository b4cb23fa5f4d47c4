// plan/evaluate.ts on a worker thread of its own. Pulumi's runtime makes thousands of promises per
// evaluation, and a process that tracks every promise with async hooks (node:test does, to tie
// each asynchronous resource to its test) makes each evaluation several times slower. The thread
// has no such hooks; it loads the program's modules once and evaluates one request at a time.
import { parentPort, Worker } from "worker_threads";
import { EvaluateOptions, Evaluation, EvaluationRequest, ProgramFailure, ProgramRefusal } from "./evaluation";

type Reply =
  | { id: number; evaluation: Evaluation }
  | { id: number; refusal: { message: string; declared: number } }
  | { id: number; failure: string };

/** The thread's side: evaluates each request it is sent and posts the outcome back. */
export function serveEvaluations(): void {
  // Required here, on the thread: the caller's side never loads Pulumi.
  const { evaluate } = require("./evaluate") as typeof import("./evaluate");
  parentPort!.on("message", ({ id, request, options }: { id: number; request: EvaluationRequest; options: EvaluateOptions }) => {
    evaluate(request, options).then(
      (evaluation) => parentPort!.postMessage({ id, evaluation } satisfies Reply),
      (err: unknown) =>
        parentPort!.postMessage(
          (err instanceof ProgramRefusal
            ? { id, refusal: { message: err.message, declared: err.declared } }
            : { id, failure: err instanceof Error ? (err.stack ?? err.message) : String(err) }) satisfies Reply,
        ),
    );
  });
}

export class EvaluatorThread {
  private worker?: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (e: Evaluation) => void; reject: (err: Error) => void }>();

  evaluate(request: EvaluationRequest, options: EvaluateOptions = {}): Promise<Evaluation> {
    const worker = this.start();
    const id = this.nextId++;
    // Busy, the thread keeps the process alive; idle, it must not.
    if (this.pending.size === 0) worker.ref();
    return new Promise<Evaluation>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, request, options });
    });
  }

  private settle(id: number, outcome: (waiting: { resolve: (e: Evaluation) => void; reject: (err: Error) => void }) => void): void {
    const waiting = this.pending.get(id);
    if (!waiting) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    outcome(waiting);
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // The thread loads this file through ts-node, as Pulumi loads the program.
    const entry = `require(${JSON.stringify(require.resolve("ts-node/register/transpile-only"))}); require(${JSON.stringify(__filename)}).serveEvaluations();`;
    const worker = new Worker(entry, { eval: true, execArgv: [], resourceLimits: { maxYoungGenerationSizeMb: 128 } });
    worker.on("message", (reply: Reply) =>
      this.settle(reply.id, (waiting) => {
        if ("evaluation" in reply) waiting.resolve(reply.evaluation);
        else if ("refusal" in reply) waiting.reject(new ProgramRefusal(reply.refusal.message, reply.refusal.declared));
        else waiting.reject(new ProgramFailure(reply.failure));
      }),
    );
    worker.on("error", (err) => {
      for (const id of [...this.pending.keys()]) this.settle(id, (waiting) => waiting.reject(err));
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
