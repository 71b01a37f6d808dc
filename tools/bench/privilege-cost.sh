#!/bin/sh
# What least privilege costs on the hot path, measured with pgbench against a
# running stack's embedded PostgreSQL (npm start; state.json names it):
# registrar_transacao as the instances call it (crebito_api, SECURITY
# DEFINER, a fixed search_path) against an exact copy without those two
# clauses called by the owner; and extratos as crebito_api (column grants)
# against the owner. Rounds alternate, so drift hits both sides alike.
#
#   sh tools/bench/privilege-cost.sh [data directory] [rounds] [seconds]
set -eu
DATA=${1:-.data}
ROUNDS=${2:-5}
SECONDS_EACH=${3:-10}
STATE="$DATA/run/state.json"
HOST=$(node -e "const url = JSON.parse(require('fs').readFileSync('$STATE', 'utf8')).databaseUrl;
  const p = new URLSearchParams(url.split('?')[1]); console.log(p.get('host'), p.get('port'))")
SOCKET=${HOST% *}
PORT=${HOST#* }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

psql_as() { role=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKET" -p "$PORT" -U "$role" -d crebito "$@"; }

# The copy: the function's own definition, renamed, without SECURITY DEFINER
# and its SET search_path (pg_get_functiondef prints each on a line of its own).
SIGNATURE='registrar_transacao(integer, integer, character, character varying, text, integer, bytea)'
psql_as crebito_owner -At -c "SELECT pg_get_functiondef('$SIGNATURE'::regprocedure)" \
  | sed -e 's/FUNCTION public.registrar_transacao(/FUNCTION public.registrar_transacao_sem_definer(/' \
        -e '/SECURITY DEFINER/d' -e '/SET search_path/d' > "$WORK/copy.sql"
psql_as crebito_owner -f "$WORK/copy.sql"

echo "SELECT * FROM registrar_transacao(1 + (random() * 4)::int, 1, 'c', 'x');" > "$WORK/definer.sql"
echo "SELECT * FROM registrar_transacao_sem_definer(1 + (random() * 4)::int, 1, 'c', 'x');" > "$WORK/invoker.sql"
echo "SELECT * FROM extratos(ARRAY[1 + (random() * 4)::int], 10);" > "$WORK/extratos.sql"

run() { # role script label
  PGOPTIONS='-c enable_seqscan=off -c enable_bitmapscan=off' pgbench -n -M prepared -c 1 -T "$SECONDS_EACH" \
    -h "$SOCKET" -p "$PORT" -U "$1" -f "$WORK/$2.sql" crebito 2>&1 \
    | awk -v label="$3" '/latency average/ { lat = $4 } /^tps/ { tps = $3 } END { printf "%-34s %8.1f tps  %6.3f ms\n", label, tps, lat }'
}

for round in $(seq 1 "$ROUNDS"); do
  run crebito_api definer "registrar_transacao, crebito_api"
  run crebito_owner invoker "same, no DEFINER/SET, owner"
  run crebito_api extratos "extratos, crebito_api"
  run crebito_owner extratos "extratos, owner"
done | tee "$WORK/rounds.txt"

# Each variant's median round (by its average latency), and the spread.
echo "median of $ROUNDS rounds of $SECONDS_EACH s (min..max latency):"
for label in "registrar_transacao, crebito_api" "same, no DEFINER/SET, owner" "extratos, crebito_api" "extratos, owner"; do
  grep -F "$label " "$WORK/rounds.txt" | sort -t'|' -k1 | awk '{ print $(NF-1) }' | sort -n \
    | awk -v label="$label" '{ v[NR] = $1 } END { printf "%-34s %6.3f ms  (%.3f..%.3f)\n", label, v[int((NR + 1) / 2)], v[1], v[NR] }'
done

# The same function inside the server, CALLS in one statement (rolled back):
# no round trip, no commit, no wake-up, so what is left is what each call
# costs in CPU, where the two clauses would show. Each call is a debit past
# the limit: the whole path (row lock, check, answer) without a write, since
# thousands of updates of five rows in one transaction would measure their
# row versions instead. Best of the rounds: on a shared
# machine the least disturbed round is the closest to the cost.
CALLS=20000
inside() { # role function label
  for round in $(seq 1 "$ROUNDS"); do
    psql_as "$1" -At -c 'BEGIN' -c "EXPLAIN (ANALYZE, TIMING OFF) SELECT count(*) FROM generate_series(1, $CALLS) g
        CROSS JOIN LATERAL $2(1 + g % 5, 2000000000, 'd', 'x') r" -c 'ROLLBACK' \
      | awk '/Execution Time/ { print $3 }'
  done | sort -n | awk -v label="$3" -v calls="$CALLS" '{ v[NR] = $1 } END {
    printf "%-34s %6.2f us a call, best of %d (median %.2f)\n", label, v[1] * 1000 / calls, NR, v[int((NR + 1) / 2)] * 1000 / calls }'
}
echo "inside the server, $CALLS calls a statement:"
for pass in 1 2; do
  inside crebito_api registrar_transacao "registrar_transacao, crebito_api"
  inside crebito_owner registrar_transacao_sem_definer "same, no DEFINER/SET, owner"
done

# The two clauses alone: an empty function with them and without, 200,000
# calls a statement, best of the rounds.
psql_as crebito_owner -c "CREATE FUNCTION vazia_definer(integer) RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp AS 'BEGIN RETURN \$1; END'" \
  -c "CREATE FUNCTION vazia_invoker(integer) RETURNS integer LANGUAGE plpgsql AS 'BEGIN RETURN \$1; END'" \
  -c "GRANT EXECUTE ON FUNCTION vazia_definer, vazia_invoker TO crebito_api"
empty() { # function
  for round in $(seq 1 "$ROUNDS"); do
    psql_as crebito_api -At -c "EXPLAIN (ANALYZE, TIMING OFF) SELECT sum($1(g)) FROM generate_series(1, 200000) g" \
      | awk '/Execution Time/ { print $3 }'
  done | sort -n | awk -v label="$1" '{ v[NR] = $1 } END {
    printf "%-34s %6.2f us a call, best of %d (median %.2f)\n", label, v[1] * 1000 / 200000, NR, v[int((NR + 1) / 2)] * 1000 / 200000 }'
}
echo "an empty function, 200000 calls a statement:"
for pass in 1 2; do
  empty vazia_definer
  empty vazia_invoker
done
psql_as crebito_owner -c 'DROP FUNCTION vazia_definer' -c 'DROP FUNCTION vazia_invoker' -c 'DROP FUNCTION registrar_transacao_sem_definer'
