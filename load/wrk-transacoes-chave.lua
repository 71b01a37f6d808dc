-- wrk script: exactly the POSTs of wrk-transacoes.lua, each with an
-- Idempotency-Key never used before (a new application each time: what
-- storing a key costs).
-- Usage: wrk -t2 -c32 -d10s -s load/wrk-transacoes-chave.lua http://127.0.0.1:9999
local folder = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(folder .. "wrk-transacoes.lua")

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("prefix", string.format("%d-%d", os.time(), threads))
end

-- The plain script builds each request with wrk.format and its own headers;
-- this adds the key to them. (wrk itself calls wrk.format with no headers
-- once, for a default request this script never sends.)
local counter = 0
local format = wrk.format
wrk.format = function(method, path, headers, body)
  if headers ~= nil then
    counter = counter + 1
    headers["Idempotency-Key"] = prefix .. "-" .. counter
  end
  return format(method, path, headers, body)
end
