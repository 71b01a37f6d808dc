-- wrk script: POST transactions, 2 debits : 1 credit, clients 1-5 in turn.
-- Usage: wrk -t2 -c32 -d10s -s load/wrk-transacoes.lua http://127.0.0.1:9999
local counter = 0
request = function()
  counter = counter + 1
  local id = (counter % 5) + 1
  local tipo = (counter % 3 == 0) and "c" or "d"
  local body = string.format('{"valor": %d, "tipo": "%s", "descricao": "wrk%d"}', (counter % 100) + 1, tipo, counter % 1000)
  return wrk.format("POST", "/clientes/" .. id .. "/transacoes", {["Content-Type"] = "application/json"}, body)
end
