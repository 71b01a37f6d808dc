-- wrk script: the POSTs of wrk-transacoes.lua, each with an Idempotency-Key
-- never used before (a new application each time: what storing a key costs).
-- Usage: wrk -t2 -c32 -d10s -s load/wrk-transacoes-chave.lua http://127.0.0.1:9999
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("prefix", string.format("%d-%d", os.time(), threads))
end

local counter = 0
request = function()
  counter = counter + 1
  local id = (counter % 5) + 1
  local tipo = (counter % 3 == 0) and "c" or "d"
  local body = string.format('{"valor": %d, "tipo": "%s", "descricao": "wrk%d"}', (counter % 100) + 1, tipo, counter % 1000)
  local headers = {["Content-Type"] = "application/json", ["Idempotency-Key"] = prefix .. "-" .. counter}
  return wrk.format("POST", "/clientes/" .. id .. "/transacoes", headers, body)
end
