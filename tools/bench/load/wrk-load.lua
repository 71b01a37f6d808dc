-- How the bench drives wrk (tools/bench/load/wrk-load.ts runs it): the requests
-- come from a file the bench writes (method, path and body, tab-separated,
-- one a line), each wrk thread starts at its own place in them, every
-- answer's status is counted, and at the end one line of JSON, after the
-- marker "wrk-report ", says what the bench needs.
--
--   wrk -t1 -c32 -d4s -s wrk-load.lua http://127.0.0.1:9999 -- <requests file>

local threads = {}

-- In the main Lua state, once per thread, before that thread's init.
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- In each thread's own Lua state.
function init(args)
  prepared = {}
  for line in assert(io.open(args[1], "r")):lines() do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t(.*)$")
    assert(method, "a request line is not METHOD<tab>PATH<tab>BODY: " .. line)
    if body == "" then
      table.insert(prepared, wrk.format(method, path, {}, nil))
    else
      table.insert(prepared, wrk.format(method, path, { ["Content-Type"] = "application/json" }, body))
    end
  end
  assert(#prepared > 0, "the requests file is empty")
  -- A prime stride, so threads do not send the same requests in step.
  position = id * 7919 % #prepared
  statuses = {}
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do merged[status] = (merged[status] or 0) + count end
  end
  local counts = {}
  for status, count in pairs(merged) do table.insert(counts, string.format('"%d":%d', status, count)) end
  local errors = summary.errors
  io.write(string.format(
    'wrk-report {"requests":%d,"durationUs":%d,"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
      .. '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},"statuses":{%s}}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    table.concat(counts, ",")))
end
