// FlowProxy's metrics endpoint: axum's at 258bbd6 (src/metrics.rs), prometric's exporter at
// 029b7c4, with the process gauges each generation exports.
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import { parseSocketAddr } from "./cli";
import type { ProxyCore } from "./core";
import { describeIoError, RunError } from "./errors";

/**
 * Generation 1: axum on METRICS_ADDR, GET /metrics and GET / (src/metrics.rs@258bbd6).
 * Generation 2: prometric's exporter, any method on /metrics, else 404 "Not Found"; it is
 * spawned, so a failed bind is silent (prometric exporter.rs 0.2.1).
 */
export async function startMetrics(
  p: ProxyCore,
  address: string,
  build: { version: string; gitHash: string },
): Promise<http.Server> {
  const parsed = parseSocketAddr(address);
  if (!parsed) {
    throw new RunError("invalid socket address syntax");
  }
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (p.g === 1 ? path !== "/metrics" && path !== "/" : path !== "/metrics") {
      res
        .writeHead(404, p.g === 2 ? { "content-length": 9 } : { "content-length": 0 })
        .end(p.g === 2 ? "Not Found" : undefined);
      return;
    }
    if (p.g === 1 && req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET,HEAD", "content-length": 0 }).end();
      return;
    }
    updateProcessMetrics(p);
    const body = p.metrics.render();
    res.writeHead(200, {
      "content-type": p.g === 1 ? "text/plain" : "text/plain; version=0.0.4",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  });
  const bound = new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(new RunError(describeIoError(err))));
    server.listen(parsed.port, parsed.host, () => resolve());
  });
  if (p.g === 1) {
    await bound;
  } else {
    await bound.catch(() => undefined);
    p.metrics.set("build_info", { version: build.version, commit: build.gitHash }, 1);
    p.metrics.set("indexer_clickhouse_disk_backup_size_is_rejecting_flow", {}, 0);
    p.metrics.set(
      "indexer_clickhouse_disk_backup_size_reject_flow_threshold_bytes",
      {},
      Number(p.s.DISK_BACKUP_SIZE_REJECT_FLOW_THRESHOLD_MB) * 1024 * 1024,
    );
    p.metrics.set(
      "indexer_clickhouse_disk_backup_size_resume_flow_threshold_bytes",
      {},
      Number(p.s.DISK_BACKUP_SIZE_TO_RESUME_FLOW_THRESHOLD_MB) * 1024 * 1024,
    );
  }
  return server;
}

/** Process gauges from /proc (metrics-process at generation 1, prometric's collector at generation 2). */
function updateProcessMetrics(p: ProxyCore): void {
  const read = (file: string) => {
    try {
      return fs.readFileSync(file, "utf8");
    } catch {
      return "";
    }
  };
  const status = read("/proc/self/status");
  const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const limits = /^Max open files\s+(\d+)/m.exec(read("/proc/self/limits"));
  let fds: number;
  try {
    fds = fs.readdirSync("/proc/self/fd").length;
  } catch {
    fds = 0;
  }
  p.metrics.set("process_threads", {}, threads);
  p.metrics.set("process_open_fds", {}, fds);
  p.metrics.set("process_max_fds", {}, Number(limits?.[1] ?? 0));
  p.metrics.set("process_resident_memory_bytes", {}, process.memoryUsage().rss);
  p.metrics.set("process_start_time_seconds", {}, Math.floor(Date.now() / 1000 - process.uptime()));
  if (p.g === 1) {
    const cpu = process.cpuUsage();
    p.metrics.set("process_cpu_seconds_total", {}, Math.floor((cpu.user + cpu.system) / 1e6));
    p.metrics.set("process_virtual_memory_bytes", {}, Number(/^VmSize:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024);
  } else {
    p.metrics.set("system_cpu_cores", {}, os.cpus().length);
  }
}
