// The sandbox-only fault switch of the BuilderHub double: test machinery, NOT upstream behaviour.
//
// The sandbox's reliability tests make BuilderHub misbehave through the file `fault` in
// MOCKHUB_STATE_DIR (sandbox/internet/doubles-interface.ts; setMockhubFault in sandbox/probe.ts). It holds one
// line, read on every request:
//   down             every connection is closed without an answer
//   flap AGENT       every other request whose User-Agent is AGENT answers 503, starting with the
//                    first; everyone else is served. Aimed, so that the peers' polls and the
//                    registration timers cannot take the 503s meant for the request under test.
//   slow             every answer is delayed by 15 s
//   error            every request answers 500
// Without the file (or with it empty) the double is exactly the contract (test/doubles/mockhub.ts). Every injected
// answer appends a line "STATUS METHOD PATH AGENT" to the file MOCKHUB_INJECTED_FILE beside it, so a test can
// show the fault met the request it was aimed at.
import * as fs from "node:fs";
import type * as http from "node:http";
import * as path from "node:path";
import { MOCKHUB_INJECTED_FILE } from "../../../sandbox/internet/doubles-interface";
import { reply } from "./http";

const SLOW_DELAY_MS = 15_000;

export class FaultSwitch {
  /** Requests of the flap's agent seen since the fault file last changed. */
  private aimedRequests = 0;
  private lastFault = "";

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  private current(): string {
    try {
      return fs.readFileSync(path.join(this.dir, "fault"), "utf8").trim();
    } catch {
      return "";
    }
  }

  private inject(req: http.IncomingMessage, res: http.ServerResponse, status: number, fault: string): void {
    req.resume();
    fs.appendFileSync(
      path.join(this.dir, MOCKHUB_INJECTED_FILE),
      `${status} ${req.method} ${req.url} ${req.headers["user-agent"] ?? "-"}\n`,
    );
    reply(res, status, `fault injected: ${fault}`, { "content-type": "text/plain; charset=utf-8" });
  }

  apply(req: http.IncomingMessage, res: http.ServerResponse, serve: () => void): void {
    const fault = this.current();
    if (fault !== this.lastFault) {
      this.lastFault = fault;
      this.aimedRequests = 0;
    }
    const [kind, agent] = fault.split(/\s+/, 2);
    if (kind === "down") {
      req.socket.destroy();
    } else if (kind === "error") {
      this.inject(req, res, 500, fault);
    } else if (
      kind === "flap" &&
      agent !== undefined &&
      req.headers["user-agent"] === agent &&
      this.aimedRequests++ % 2 === 0
    ) {
      this.inject(req, res, 503, fault);
    } else if (kind === "slow") {
      setTimeout(serve, SLOW_DELAY_MS);
    } else {
      serve();
    }
  }
}
