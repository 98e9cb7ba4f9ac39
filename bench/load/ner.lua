-- wrk script: POST $ROUTE (default /v1/ner) with a different body each request (from bodies.lua, written by
-- run.sh from the reference texts), and a one-line JSON summary at the end for run.sh to parse.
-- Usage: wrk -s ner.lua http://HOST:PORT   (BODIES=path/to/bodies.lua in the environment)
local bodies = dofile(os.getenv("BODIES") or "bodies.lua")
local counter = 0

wrk.method = "POST"
wrk.path = os.getenv("ROUTE") or "/v1/ner"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, bodies[(counter % #bodies) + 1])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
end
