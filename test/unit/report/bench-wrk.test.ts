// The benchmark reads wrk's report; a format it misreads would make every data-path figure wrong.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseWrk } from "../../../report/bench-datapath";

const REPORT = `Running 8s test @ http://127.0.0.1:80/livez
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms  310.21us   9.87ms   91.02%
    Req/Sec    10.51k   402.17    11.02k    86.25%
  Latency Distribution
     50%  812.00us
     75%    1.61ms
     90%    1.83ms
     99%    2.49ms
  83690 requests in 8.00s, 9.42MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  10458.21
Transfer/sec:      1.18MB
`;

test("reads the request rate, the median and 99th percentile latency and the errors from wrk", () => {
  assert.deepEqual(parseWrk(REPORT), { requestsPerSecond: 10458.21, p50Ms: 0.812, p99Ms: 2.49, errors: 3 });
});

test("counts socket errors as errors", () => {
  const withSocketErrors = REPORT.replace(
    "  Non-2xx or 3xx responses: 3\n",
    "  Socket errors: connect 1, read 2, write 0, timeout 4\n",
  );
  assert.equal(parseWrk(withSocketErrors).errors, 7);
});

test("refuses a report without a request rate", () => {
  assert.throws(() => parseWrk("wrk: connection refused\n"), /wrk printed no request rate/);
});
