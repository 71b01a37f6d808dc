-- The contract's two operations, each one database round trip: a
-- transaction (one, or a batch: 04-batch.sql) and a statement. The third,
-- the history, is in 06-history.sql.
--
-- Outcomes: registrar_transacao and registrar_transacoes answer each
-- transaction with `resultado`, a text that is either 'aplicada' (limite
-- and saldo are the values after it) or an error code of the API's catalogue
-- (src/shared/failures.ts): 'cliente_nao_encontrado', a reason from recusa()
-- (00-rules.sql), 'cliente_ocupado' (another session holds the client's
-- row: nothing was done, the instance sends it again), or, for a request
-- with an idempotency key,
-- 'chave_idempotencia_reutilizada' (the key came with another request) or
-- 'chave_idempotencia_em_uso' (a request with the key is still running).
-- `repetida` is true when the answer is a stored outcome replayed to a retry
-- (05-idempotency.sql): nothing moved. The instance looks the code up in the
-- catalogue; a code it does not know is a bug and stops it loudly.

-- Until outcomes were text, these functions returned an integer code, and a
-- function's result type cannot be replaced in place: drop those versions.
-- Earlier versions also had an extrato(integer) wrapper and a one-argument
-- extratos; the statement size is now the caller's parameter. Before
-- idempotency keys, the transaction functions took four arguments, and six
-- before API keys; and the API key came as its id, which any caller could
-- name, before it came as its proof: left in place, they would make such a
-- call ambiguous (and the last would let a caller claim any key).
DO $$
DECLARE
    v_anterior regprocedure;
BEGIN
    FOR v_anterior IN
        SELECT oid::regprocedure FROM pg_proc
         WHERE (proname IN ('registrar_transacao', 'registrar_transacoes')
                AND (pg_get_function_result(oid) LIKE 'TABLE(resultado integer%' OR pronargs IN (4, 6)
                     OR (pronargs = 7 AND proargtypes[6] IN ('integer'::regtype, 'integer[]'::regtype))))
            OR (proname IN ('extrato', 'extratos') AND pronargs = 1)
    LOOP
        EXECUTE format('DROP FUNCTION %s', v_anterior);
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION registrar_transacao(
    p_cliente_id integer,
    p_valor      integer,
    p_tipo       char(1),
    p_descricao  varchar(10),
    -- The request's idempotency key, or NULL for none; and how long to wait
    -- for a request holding the same key to finish.
    p_chave      text    DEFAULT NULL,
    p_espera_ms  integer DEFAULT 0,
    -- The proof of the API key that made the request, SHA-256 of the key
    -- (08-keys.sql), or NULL for none; the key is looked up from it, never
    -- taken from the caller's word.
    p_chave_api  bytea   DEFAULT NULL
) RETURNS TABLE (resultado text, limite integer, saldo bigint, repetida boolean)
LANGUAGE plpgsql
-- Runs as the schema's owner: the instances' role may call it but holds no
-- privilege on the tables it writes (07-privileges.sql). The search path is
-- fixed so that a caller cannot put objects of its own in front of the
-- ledger's (pg_temp last, as PostgreSQL's manual advises for such functions).
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
-- The OUT columns limite and saldo share names with table columns; inside
-- this body a bare name always means the column.
#variable_conflict use_column
DECLARE
    v_limite     integer;
    v_saldo      bigint;
    v_novo_saldo bigint;
    v_recusa     text;
    v_guardada   chaves_idempotencia;
    v_escrita    record;
BEGIN
    -- As if an attacker called: the instances validate every request, so a
    -- call that breaks these is a bug or not theirs (07-privileges.sql).
    IF NOT transacao_valida(p_cliente_id, p_valor, p_tipo, p_descricao) THEN
        RAISE EXCEPTION 'registrar_transacao: not a valid transaction' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (p_chave IS NOT NULL AND NOT chave_valida(p_chave))
       OR p_espera_ms IS NULL OR p_espera_ms NOT BETWEEN 0 AND espera_maxima_ms() THEN
        RAISE EXCEPTION 'registrar_transacao: not a valid idempotency key or wait'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Who writes: a key in force that may write to this client, or nobody
    -- when the owner allows writes without keys (08-keys.sql).
    SELECT * INTO v_escrita FROM escrita_autorizada(p_chave_api, p_cliente_id);
    IF v_escrita.recusa IS NOT NULL THEN
        RETURN QUERY SELECT v_escrita.recusa, NULL::integer, NULL::bigint, false;
        RETURN;
    END IF;

    IF p_chave IS NOT NULL AND NOT reservar_chave(p_cliente_id, p_chave, clock_timestamp() + p_espera_ms * interval '1 millisecond') THEN
        RETURN QUERY SELECT 'chave_idempotencia_em_uso', NULL::integer, NULL::bigint, false;
        RETURN;
    END IF;

    -- The row lock serialises every transaction of one client, across all
    -- instances, until this transaction commits. It never waits: a row
    -- another session holds (the other instance's call for a few
    -- milliseconds, or a DBA's query for minutes) answers 'cliente_ocupado'
    -- at once, having changed nothing, and the instance sends it again a
    -- little later until its queue wait runs out (batcher.ts). A wait here
    -- would hold the instance's one transaction connection, and every other
    -- client's requests behind it, for as long as the row stays locked.
    SELECT c.limite, c.saldo INTO v_limite, v_saldo
      FROM clientes c
     WHERE c.id = p_cliente_id
       FOR UPDATE SKIP LOCKED;

    IF NOT FOUND THEN
        RETURN QUERY SELECT CASE WHEN EXISTS (SELECT FROM clientes c WHERE c.id = p_cliente_id) THEN 'cliente_ocupado' ELSE 'cliente_nao_encontrado' END,
                            NULL::integer, NULL::bigint, false;
        RETURN;
    END IF;

    -- Read after the row lock: whatever request of this client ran before
    -- has committed, its key included.
    IF p_chave IS NOT NULL THEN
        v_guardada := chave_guardada(p_cliente_id, coalesce(v_escrita.chave_api_id, 0), p_chave);
        IF v_guardada IS NOT NULL THEN
            RETURN QUERY SELECT * FROM repeticao(v_guardada, p_valor, p_tipo, p_descricao);
            RETURN;
        END IF;
    END IF;

    -- The CHECK constraint on clientes holds the same rule; checked here
    -- first so that a refusal is an answer rather than an error.
    v_novo_saldo := novo_saldo(v_saldo, p_valor, p_tipo);
    v_recusa := recusa(v_novo_saldo, v_limite);
    IF v_recusa IS NULL THEN
        UPDATE clientes SET saldo = v_novo_saldo WHERE id = p_cliente_id;
        INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos, chave_api_id)
        VALUES (p_cliente_id, p_valor, p_tipo, p_descricao, v_novo_saldo, v_escrita.chave_api_id);
        v_saldo := v_novo_saldo;
    END IF;

    IF p_chave IS NOT NULL THEN
        INSERT INTO chaves_idempotencia (cliente_id, chave_api_id, chave, valor, tipo, descricao, resultado, limite,
                                         saldo)
        VALUES (p_cliente_id, coalesce(v_escrita.chave_api_id, 0), p_chave, p_valor, p_tipo, p_descricao,
                coalesce(v_recusa, 'aplicada'), v_limite, v_saldo);
    END IF;
    RETURN QUERY SELECT coalesce(v_recusa, 'aplicada'), v_limite, v_saldo, false;
END;
$$;

-- Statements: the balance, the limit and the p_quantas newest transactions
-- of each client asked for, read in one query so that all of it comes from
-- one snapshot. Several clients at once (repeats allowed): each row carries
-- the 1-based position of the request it answers; a client with no
-- transactions yields one row whose transaction columns are NULL; an unknown
-- client yields no row for its position. Times come formatted by iso_utc()
-- (00-rules.sql), so the instance passes them through untouched.
--
-- Written to be inlined: one SELECT, LANGUAGE sql, STABLE, no SET clause, so
-- PostgreSQL plans it as part of the caller's query (a prepared statement)
-- instead of running a function executor on every call: measured with
-- pgbench, 0.29 ms a call as a function that planned each call
-- (plan_cache_mode), 0.14 ms inlined.
--
-- Its plan: a connection that first reads statements while transacoes is
-- nearly empty would cache a generic plan that fetches all of a client's rows
-- and sorts them (measured once: 650 instead of 5,000 requests/s after 40,000
-- inserts). The instances' connections run with sequential and bitmap scans
-- off (src/instance/database/pool.ts), so the index scan on (cliente_id, id DESC)
-- is the plan at every size of the table (test/database/extrato-plan.test.ts).
CREATE OR REPLACE FUNCTION extratos(p_cliente_ids integer[], p_quantas integer)
RETURNS TABLE (
    ordem        integer,
    saldo        bigint,
    limite       integer,
    data_extrato text,
    valor        integer,
    tipo         char(1),
    descricao    varchar(10),
    realizada_em text
)
LANGUAGE sql STABLE
AS $$
    SELECT r.ordem::integer,
           c.saldo,
           c.limite,
           iso_utc(now()),
           t.valor,
           t.tipo,
           t.descricao,
           iso_utc(t.realizada_em)
      FROM unnest(p_cliente_ids) WITH ORDINALITY AS r (id, ordem)
      JOIN clientes c ON c.id = r.id
      LEFT JOIN LATERAL (
            SELECT tr.valor, tr.tipo, tr.descricao, tr.realizada_em, tr.id
              FROM transacoes tr
             WHERE tr.cliente_id = c.id
             ORDER BY tr.id DESC
             LIMIT p_quantas
      ) t ON true
     ORDER BY r.ordem, t.id DESC NULLS LAST
$$;
