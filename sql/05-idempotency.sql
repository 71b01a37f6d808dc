-- Idempotency keys: what both transaction functions (03-functions.sql,
-- 04-batch.sql) share to apply a keyed request once and replay its outcome
-- to every retry, and the expiry of old keys. The keys live in
-- chaves_idempotencia (01-schema.sql).
--
-- Why no extra locking is needed for exactly once: every transaction of a
-- client takes that client's row lock (SELECT ... FOR UPDATE) before it
-- looks for the key, so a request with a key that another request already
-- used waits until that one commits, and then finds its key. The lock below
-- only bounds that wait, for the rare retry sent while its first attempt is
-- still running: past p_ate it gives up, and the retry is answered
-- 'chave_idempotencia_em_uso' (409) instead of waiting out a whole query
-- timeout (a 503 whose outcome the client could not know).

-- Takes the transaction-scoped advisory lock of one client's key, waiting
-- until p_ate at most for the request that holds it. It polls: a blocking
-- lock wait has no deadline of its own (lock_timeout would stop the whole
-- call, or need a subtransaction on every keyed request to catch), and
-- meeting a held key is rare. The two-integer lock space is crebito's keys
-- only; the schema's own advisory lock uses the one-bigint space.
CREATE OR REPLACE FUNCTION reservar_chave(p_cliente_id integer, p_chave text, p_ate timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    WHILE NOT pg_try_advisory_xact_lock(p_cliente_id, hashtext(p_chave)) LOOP
        IF clock_timestamp() >= p_ate THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.002);
    END LOOP;
    RETURN true;
END;
$$;

-- The same for every key of a batch, one deadline for all, in one order
-- (client, then the key's hash: the lock's own identity) so that two batches
-- never each hold a key the other waits for. A key that appears twice is
-- locked once. Returns, per transaction, whether its key is held (true for a
-- transaction without a key).
CREATE OR REPLACE FUNCTION reservar_chaves(p_cliente_ids integer[], p_chaves text[], p_espera_ms integer) RETURNS boolean[]
LANGUAGE plpgsql AS $$
DECLARE
    v_ate        timestamptz := clock_timestamp() + p_espera_ms * interval '1 millisecond';
    v_reservadas boolean[]   := array_fill(true, ARRAY[cardinality(p_cliente_ids)]);
    v_chave      record;
    v_ordem      bigint;
BEGIN
    FOR v_chave IN
        SELECT k.cliente_id, k.chave, array_agg(k.ordem) AS ordens
          FROM unnest(p_cliente_ids, p_chaves) WITH ORDINALITY AS k (cliente_id, chave, ordem)
         WHERE k.chave IS NOT NULL
         GROUP BY k.cliente_id, k.chave
         ORDER BY k.cliente_id, hashtext(k.chave)
    LOOP
        IF NOT reservar_chave(v_chave.cliente_id, v_chave.chave, v_ate) THEN
            FOREACH v_ordem IN ARRAY v_chave.ordens LOOP
                v_reservadas[v_ordem] := false;
            END LOOP;
        END IF;
    END LOOP;
    RETURN v_reservadas;
END;
$$;

-- The stored entry of one key, or NULL. Both lookups here are pinned to
-- the primary key: a call's statements are planned once per connection and
-- that plan is kept, and a plan made while the table was nearly empty (a
-- sequential scan, or a hash join over one) read the whole table on every
-- keyed call as it grew, until an ANALYZE happened to replace it: measured,
-- 117 million rows read for 46,000 keys, and keyed requests at a tenth of
-- the speed of plain ones. Only keyed calls run these.
-- Before keys were scoped per API key, these took no API key id.
DROP FUNCTION IF EXISTS chave_guardada(integer, text);
DROP FUNCTION IF EXISTS chaves_do_lote(integer[], text[]);

CREATE OR REPLACE FUNCTION chave_guardada(p_cliente_id integer, p_chave_api_id integer, p_chave text)
RETURNS chaves_idempotencia
LANGUAGE sql STABLE
SET enable_seqscan = off
AS $$
    SELECT * FROM chaves_idempotencia
     WHERE cliente_id = p_cliente_id AND chave_api_id = p_chave_api_id AND chave = p_chave
$$;

-- For each transaction of a batch, the first transaction of the batch with
-- the same client and key, and the key's stored entry (NULL when none).
CREATE OR REPLACE FUNCTION chaves_do_lote(p_cliente_ids integer[], p_chaves_api_ids integer[], p_chaves text[],
                                          OUT primeiras bigint[], OUT entradas chaves_idempotencia[])
LANGUAGE sql STABLE
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
    SELECT array_agg(k.primeira ORDER BY k.ordem), array_agg(k.guardada ORDER BY k.ordem)
      FROM (SELECT e.ordem, min(e.ordem) OVER (PARTITION BY e.cliente_id, e.chave_api_id, e.chave) AS primeira,
                   g AS guardada
              FROM unnest(p_cliente_ids, p_chaves_api_ids, p_chaves) WITH ORDINALITY
                   AS e (cliente_id, chave_api_id, chave, ordem)
              LEFT JOIN chaves_idempotencia g
                     ON g.cliente_id = e.cliente_id AND g.chave_api_id = e.chave_api_id AND g.chave = e.chave) k
$$;

-- What a request whose key is already stored is answered: the stored
-- outcome, marked repetida, when it is the same request (amount, type and
-- description; the client and the API key are the key's scope); otherwise
-- 'chave_idempotencia_reutilizada', and nothing moves either way.
CREATE OR REPLACE FUNCTION repeticao(p_guardada chaves_idempotencia, p_valor integer, p_tipo text, p_descricao text)
RETURNS TABLE (resultado text, limite integer, saldo bigint, repetida boolean)
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN igual THEN p_guardada.resultado ELSE 'chave_idempotencia_reutilizada' END,
           CASE WHEN igual THEN p_guardada.limite END,
           CASE WHEN igual THEN p_guardada.saldo END,
           igual
      FROM (SELECT p_guardada.valor = p_valor AND p_guardada.tipo = p_tipo AND p_guardada.descricao = p_descricao AS igual) comparacao
$$;

-- Until the retention was the owner's (configuracao, 01-schema.sql), the
-- caller gave it: a caller could have forgotten every key at once.
DROP FUNCTION IF EXISTS expirar_chaves(integer, integer);

-- Removes at most p_quantas (0 to 10,000) keys older than the owner's
-- retention (configuracao.retencao_chaves_s), in no particular
-- order (the BRIN index finds them, it does not sort them), and says how
-- many. Run by each instance in the background, in small batches
-- (src/instance/ledger/idempotency-expiry.ts): SKIP LOCKED lets two instances expire at
-- once without waiting on each other, and a request never waits on it
-- (requests only read and insert keys). Pinned to the index for the reason
-- given at chave_guardada: a kept plan from an empty table would read the
-- whole table on every pass.
CREATE OR REPLACE FUNCTION expirar_chaves(p_quantas integer) RETURNS integer
LANGUAGE sql
-- The instances' role may not DELETE: it removes keys through this function
-- only, with the owner's rights and a fixed search path (see
-- registrar_transacao).
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
SET enable_seqscan = off
AS $$
    WITH vencidas AS (
        SELECT cliente_id, chave_api_id, chave
          FROM chaves_idempotencia
         WHERE criada_em < now() - make_interval(secs => (SELECT c.retencao_chaves_s FROM configuracao c))
         LIMIT least(greatest(p_quantas, 0), 10000)
           FOR UPDATE SKIP LOCKED
    ), apagadas AS (
        DELETE FROM chaves_idempotencia k
         USING vencidas v
         WHERE k.cliente_id = v.cliente_id AND k.chave_api_id = v.chave_api_id AND k.chave = v.chave
        RETURNING 1
    )
    SELECT count(*)::integer FROM apagadas
$$;

-- Vacuum for a table that churns: every key is deleted once its retention is
-- over, so at a steady rate the table is mostly rows that will die, and the
-- default thresholds (a vacuum once a fifth of the table is dead) let the
-- dead pile up between vacuums: after 500,000 fresh keys the expiry's scan
-- took 385 ms until a VACUUM. Here a vacuum comes after a fixed number of
-- dead (or newly inserted) rows, whatever the table's size, and without the
-- cost-based pauses that would let it fall behind the deletes. The values are
-- asserted by test/database/sql-facts.test.ts.
ALTER TABLE chaves_idempotencia SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 10000,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 10000,
    autovacuum_vacuum_cost_delay = 0
);

-- The expiry finds old keys through this BRIN index; a block range that was
-- never summarized matches every search, so new ranges are summarized as
-- they fill, not only at the next vacuum.
ALTER INDEX chaves_idempotencia_criada_em SET (autosummarize = on);
