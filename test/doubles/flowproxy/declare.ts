// The metric families of src/metrics.rs that the double feeds, with upstream's help texts (the
// field doc comments) and buckets. Generation 1 (258bbd6) uses histograms, generation 2 (029b7c4)
// prometric 0.2 summaries. Families whose source the double does not have (ClickHouse and parquet
// indexing, priority-queue capacity, per-socket TCP_INFO, worker task durations, HTTP connection
// counts) are not declared and so never appear.
import { Generation } from "./cli";
import { Registry } from "./metrics";

const RPC_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0];
const SIZE_BUCKETS = [
  128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304,
];
const HTTP_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];
const COUNT_BUCKETS = [0, 1, 2, 4, 8, 16, 32, 64];
const E2E_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];

export function declareMetrics(registry: Registry, generation: Generation): void {
  const timing = generation === 1 ? "histogram" : "summary";
  registry.declare("builderhub_peer_count", "gauge", "The peer count.");
  registry.declare("builderhub_peer_request_failures", "counter", "The total number of peer request failures.");
  registry.declare("forwarder_http_connect_failures", "counter", "The total number of HTTP connection failures.");
  registry.declare("forwarder_http_call_failures", "counter", "The total number of HTTP call failures.");
  registry.declare("forwarder_inflight_requests", "gauge", "The current number of inflight HTTP requests.");
  registry.declare(
    "forwarder_json_rpc_decoding_failures",
    "counter",
    "The total number of JSON-RPC decoding failures.",
  );
  registry.declare("forwarder_rpc_call_duration", timing, "The duration of RPC calls in seconds.", RPC_BUCKETS);
  registry.declare("forwarder_rpc_call_failures", "counter", "The total number of RPC call failures.");
  registry.declare("ingress_entity_count", "gauge", "The current number of entities.");
  registry.declare("ingress_requests_rate_limited", "counter", "The total number of requests rate limited.");
  registry.declare("ingress_json_rpc_parse_errors", "counter", "The total number of JSON-RPC parsing errors.");
  registry.declare("ingress_json_rpc_unknown_method", "counter", "The total number of JSON-RPC unknown methods.");
  registry.declare("ingress_order_cache_hit", "counter", "The total number of order cache hits.");
  registry.declare("ingress_request_body_size_bytes", timing, "Request body size in bytes.", SIZE_BUCKETS);
  registry.declare("ingress_validation_errors", "counter", "The total number of validation errors.");
  registry.declare("ingress_http_request_duration", timing, "The duration of HTTP requests.", HTTP_BUCKETS);
  registry.declare("ingress_rpc_request_duration", timing, "The duration of RPC calls.", HTTP_BUCKETS);
  registry.declare("ingress_txs_per_bundle", timing, "The number of transactions per bundle.", COUNT_BUCKETS);
  registry.declare("ingress_total_empty_bundles", "counter", "The total number of empty bundles.");
  registry.declare("ingress_order_cache_hit_ratio", "gauge", "The order cache hit ratio.");
  registry.declare("ingress_signer_cache_hit_ratio", "gauge", "The signer cache hit ratio.");
  registry.declare("ingress_order_cache_entry_count", "gauge", "The current order cache entry count.");
  registry.declare("ingress_signer_cache_entry_count", "gauge", "The current signer cache entry count.");
  registry.declare(
    "system_e2e_bundle_processing_time",
    timing,
    "End-to-end bundle processing time in seconds.",
    E2E_BUCKETS,
  );
  registry.declare(
    "system_e2e_transaction_processing_time",
    timing,
    "End-to-end transaction processing time in seconds.",
    E2E_BUCKETS,
  );
  registry.declare(
    "process_start_time_seconds",
    "gauge",
    generation === 1
      ? "Start time of the process since unix epoch in seconds."
      : "The start time of the process in UNIX seconds.",
  );
  registry.declare(
    "process_open_fds",
    "gauge",
    generation === 1 ? "Number of open file descriptors." : "The number of open file descriptors of the process.",
  );
  registry.declare(
    "process_max_fds",
    "gauge",
    generation === 1
      ? "Maximum number of open file descriptors."
      : "The maximum number of open file descriptors of the process.",
  );
  registry.declare(
    "process_resident_memory_bytes",
    "gauge",
    generation === 1 ? "Resident memory size in bytes." : "The resident memory of the process in bytes. (RSS)",
  );
  registry.declare(
    "process_threads",
    "gauge",
    generation === 1
      ? "Numberof OS threads in the process."
      : "The number of OS threads used by the process (Linux only).",
  );
  if (generation === 1) {
    registry.declare(
      "ingress_txs_per_mev_share_bundle",
      "histogram",
      "The number of transactions per MEV-share bundle.",
      COUNT_BUCKETS,
    );
    registry.declare(
      "system_e2e_mev_share_bundle_processing_time",
      "histogram",
      "End-to-end MEV-share bundle processing time in seconds.",
      E2E_BUCKETS,
    );
    registry.declare("process_cpu_seconds_total", "gauge", "Total user and system CPU time spent in seconds.");
    registry.declare("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  } else {
    registry.declare("build_info", "gauge", "Build information metric. Exposes version and git commit hash.");
    registry.declare("forwarder_tcp_call_failures", "counter", "The total number of TCP call failures.");
    registry.declare("forwarder_tcp_response_failures", "counter", "The total number of TCP response failures.");
    registry.declare(
      "indexer_clickhouse_disk_backup_size_reject_flow_threshold_bytes",
      "gauge",
      "Configured disk size (bytes) above which user RPC is rejected.",
    );
    registry.declare(
      "indexer_clickhouse_disk_backup_size_resume_flow_threshold_bytes",
      "gauge",
      "Configured disk size (bytes) below which user RPC is accepted again after rejection.",
    );
    registry.declare(
      "indexer_clickhouse_disk_backup_size_is_rejecting_flow",
      "gauge",
      "Whether user RPC is currently being rejected due to disk size (0 or 1).",
    );
    registry.declare("system_cpu_cores", "gauge", "The number of logical CPU cores available in the system.");
  }
}
