#!/bin/sh
# What resolving a write's API key inside the transaction functions costs
# (sql/08-keys.sql, escrita_autorizada: the key's hash looked up by its
# UNIQUE index, instead of an id taken on the caller's word), measured
# against a running stack's embedded PostgreSQL (npm start; state.json names
# it), as the instances' role:
# - inside the server, CALLS calls in one statement (rolled back): no round
#   trip, no commit, so what is left is each call's CPU. Each call is a debit
#   past the limit: the whole path (validation, key, row lock, check, answer)
#   without a write. No key (the owner's settings are read instead), a real
#   key's proof, a proof of no key; and a batch of 64 with and without proofs.
# - pgbench, one connection, the same single call: what a round trip adds.
# Rounds alternate, best and median printed.
#
#   sh tools/bench/key-proof-cost.sh [data directory] [rounds] [seconds]
set -eu
DATA=${1:-.data}
ROUNDS=${2:-5}
SECONDS_EACH=${3:-5}
STATE="$DATA/run/state.json"
HOST=$(node -e "const url = JSON.parse(require('fs').readFileSync('$STATE', 'utf8')).databaseUrl; const p = new URLSearchParams(url.split('?')[1]); console.log(p.get('host'), p.get('port'))")
SOCKET=${HOST% *}
PORT=${HOST#* }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

psql_as() { role=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKET" -p "$PORT" -U "$role" -d crebito "$@"; }

NAME="bench-proof-$$"
psql_as crebito_owner -c "INSERT INTO chaves_api (nome, hash, escrita) VALUES ('$NAME', sha256('$NAME'::bytea), true)"
PROOF="sha256('$NAME'::bytea)"
NONE="NULL::bytea"
UNKNOWN="sha256('no such key'::bytea)"

CALLS=20000
inside() { # proof label
  for round in $(seq 1 "$ROUNDS"); do
    psql_as crebito_api -At -c 'BEGIN' -c "EXPLAIN (ANALYZE, TIMING OFF) SELECT count(*) FROM generate_series(1, $CALLS) g CROSS JOIN LATERAL registrar_transacao(1 + g % 5, 2000000000, 'd', 'x', NULL, 0, $1) r" -c 'ROLLBACK' \
      | awk '/Execution Time/ { print $3 }'
  done | sort -n | awk -v label="$2" -v calls="$CALLS" '{ v[NR] = $1 } END { printf "%-40s %6.2f us a call, best of %d (median %.2f)\n", label, v[1] * 1000 / calls, NR, v[int((NR + 1) / 2)] * 1000 / calls }'
}
BATCHES=300
batch() { # proofs label
  for round in $(seq 1 "$ROUNDS"); do
    psql_as crebito_api -At -c 'BEGIN' -c "EXPLAIN (ANALYZE, TIMING OFF) SELECT count(*) FROM generate_series(1, $BATCHES) g CROSS JOIN LATERAL registrar_transacoes(
        (SELECT array_agg(1 + i % 5) FROM generate_series(1, 64) i), array_fill(2000000000, ARRAY[64]), array_fill('d'::text, ARRAY[64]),
        array_fill('x'::text, ARRAY[64]), NULL, 0, $1) r" -c 'ROLLBACK' \
      | awk '/Execution Time/ { print $3 }'
  done | sort -n | awk -v label="$2" -v calls="$((BATCHES * 64))" '{ v[NR] = $1 } END { printf "%-40s %6.2f us a transaction, best of %d (median %.2f)\n", label, v[1] * 1000 / calls, NR, v[int((NR + 1) / 2)] * 1000 / calls }'
}
echo "inside the server, $CALLS single calls a statement (debits past the limit: no write):"
for pass in 1 2; do
  inside "$NONE" "registrar_transacao, no key"
  inside "$PROOF" "registrar_transacao, a key's proof"
  inside "$UNKNOWN" "registrar_transacao, a proof of no key"
done
echo "inside the server, $BATCHES batches of 64 a statement:"
for pass in 1 2; do
  batch "NULL::bytea[]" "registrar_transacoes, no keys"
  batch "array_fill($PROOF, ARRAY[64])" "registrar_transacoes, a key's proof each"
done

echo "SELECT * FROM registrar_transacao(1 + (random() * 4)::int, 2000000000, 'd', 'x', NULL, 0, $NONE);" > "$WORK/none.sql"
echo "SELECT * FROM registrar_transacao(1 + (random() * 4)::int, 2000000000, 'd', 'x', NULL, 0, $PROOF);" > "$WORK/proof.sql"
run() { # script label
  pgbench -n -M prepared -c 1 -T "$SECONDS_EACH" -h "$SOCKET" -p "$PORT" -U crebito_api -f "$WORK/$1.sql" crebito 2>&1 \
    | awk -v label="$2" '/latency average/ { lat = $4 } /^tps/ { tps = $3 } END { printf "%-40s %8.1f tps  %6.3f ms\n", label, tps, lat }'
}
echo "pgbench, one connection, $SECONDS_EACH s a round:"
for round in $(seq 1 "$ROUNDS"); do
  run none "registrar_transacao, no key"
  run proof "registrar_transacao, a key's proof"
done | tee "$WORK/rounds.txt"
for label in "registrar_transacao, no key" "registrar_transacao, a key's proof"; do
  grep -F "$label " "$WORK/rounds.txt" | awk '{ print $(NF-1) }' | sort -n \
    | awk -v label="$label" '{ v[NR] = $1 } END { printf "median %-33s %6.3f ms  (%.3f..%.3f)\n", label, v[int((NR + 1) / 2)], v[1], v[NR] }'
done
psql_as crebito_owner -c "UPDATE chaves_api SET revogada_em = now() WHERE nome = '$NAME'"
