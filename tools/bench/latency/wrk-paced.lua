-- The second opinion on the HTTP floor at the public test's rate
-- (tools/bench/latency/wrk-paced.ts runs it): GET /health, a new connection
-- per request as the public test sends them ("Connection: close"), each
-- connection pausing between requests so that together they send about the
-- rate asked. wrk times a request from its first byte written, after the
-- connection is made: its figures leave out the TCP handshake.
--
-- wrk's pause is in whole milliseconds; a pause of a fraction is kept by
-- carrying what each whole pause left over to the next, so that on average
-- the connections pause as long as asked.
--
--   wrk -t1 -c2 -d30s -s wrk-paced.lua http://127.0.0.1:9999 -- <pause µs> [close|keep-alive]

wrk.method = "GET"
wrk.path = "/health"

function init(args)
  pause_us = tonumber(args[1])
  assert(pause_us and pause_us >= 0, "the pause in µs is wrk-paced.lua's first argument")
  carried_us = 0
  local policy = args[2] or "close"
  assert(policy == "close" or policy == "keep-alive", "the second argument is close or keep-alive")
  if policy == "close" then wrk.headers["Connection"] = "close" end
end

function delay()
  carried_us = carried_us + pause_us
  local whole_ms = math.floor(carried_us / 1000)
  carried_us = carried_us - whole_ms * 1000
  return whole_ms
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
