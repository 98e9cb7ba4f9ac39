// The load generator of `tanzhen bench --url`: N client threads, each with one HTTP/1.1
// keep-alive connection (plain POSIX sockets), POST the same body back to back for a fixed time.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tanzhen::cli {

struct HttpTarget {
  std::string host;
  std::string port = "80";
  std::string path = "/";
};

// "http://host[:port][/path]" (IPv6 hosts in brackets). Throws Error("invalid_option") otherwise;
// https is not supported.
HttpTarget parse_http_url(const std::string& url);

struct LoadResult {
  int concurrency = 0;
  double seconds = 0;                // from start until the last in-flight request ended
  int64_t ok = 0;                    // 2xx responses
  int64_t errors = 0;                // other statuses, connection failures, timeouts, bad replies
  std::vector<double> latencies_ms;  // of the ok requests, sorted
  std::string first_error;           // a description of the first error seen, if any
  double qps() const { return seconds > 0 ? ok / seconds : 0; }
  // Nearest-rank percentile of the ok latencies (q in [0, 100]); 0 when there are none.
  double percentile_ms(double q) const;
};

// The JSON body of the n-th request of a run (n counts from 0 across all clients). Called from
// the client threads concurrently.
using BodyFn = std::function<std::string(uint64_t n)>;

// Runs `concurrency` clients for `duration_s` seconds. A request that has not answered within
// `timeout_s` counts as an error and its connection is reopened; a failed connect is retried
// after a short pause (so a server that is down gives errors, not a busy loop).
LoadResult run_http_load(const HttpTarget& target, const BodyFn& body, int concurrency, double duration_s,
                         double timeout_s = 30);

}  // namespace tanzhen::cli
