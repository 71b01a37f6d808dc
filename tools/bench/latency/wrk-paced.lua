-- The second opinion on the HTTP floor at the public test's rate
-- (tools/bench/latency/wrk-paced.ts runs it): GET /health, a new connection
-- per request as the public test sends them ("Connection: close"), each
-- connection pausing between requests so that together they send about the
-- rate asked. wrk times a request from its first byte written, after the
-- connection is made: its figures leave out the TCP handshake.
--
--   wrk -t1 -c10 -d30s -s wrk-paced.lua http://127.0.0.1:9999 -- <pause ms>

wrk.method = "GET"
wrk.path = "/health"
wrk.headers["Connection"] = "close"

function init(args)
  pause_ms = tonumber(args[1])
  assert(pause_ms and pause_ms >= 0, "the pause in ms is wrk-paced.lua's one argument")
end

function delay()
  return pause_ms
end

statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'wrk-paced {"requests":%d,"durationUs":%d,"errors":%d,"non2xx":%d,"p50":%d,"p99":%d,"p999":%d,"max":%d}\n',
    summary.requests, summary.duration, errors.connect + errors.read + errors.write + errors.timeout, errors.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
