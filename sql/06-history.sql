-- A client's full history (GET /clientes/{id}/transacoes): its transactions
-- newest first, a page at a time, each with the balance right after it.
--
-- Pages are keyset-paginated on the (cliente_id, id DESC) index: a page is
-- the rows below an id, so walking the pages while writes continue returns
-- every row once (new rows get higher ids and appear only on a new first
-- page), and a deep page costs what the first one does (no OFFSET).
--
-- The next page is named by a cursor: the last id of this page, with a tag
-- that signs it for this client (etiqueta_cursor), so a cursor that was
-- edited, made up or taken from another client is refused rather than read.
-- The instance packs the id and the tag into the opaque text clients see
-- (src/instance/ledger/history-cursor.ts); the secret stays in the database.

-- 96 bits of SHA-256 over the secret and the cursor's fixed-length content
-- (fixed length, so no length extension applies).
CREATE OR REPLACE FUNCTION etiqueta_cursor(p_cliente_id integer, p_id bigint) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT substring(sha256(s.segredo || int4send(p_cliente_id) || int8send(p_id)) FROM 1 FOR 12)
      FROM segredo_cursor s
$$;

-- The most index rows one page reads, whatever its filters: a selective
-- filter on a long history (valor_min near the top, say) would otherwise
-- walk the client's whole range for a handful of matches (measured: 0.35 s
-- over 1,000,000 rows, holding the instance's one history connection). A
-- page that reads this many rows stops there, with what it found and a
-- cursor to go on from, so a page may hold fewer rows than asked even when
-- more match further down. Held to HISTORY_SCAN_ROWS_MAX (src/shared/limits.ts)
-- by test/database/sql-facts.test.ts.
CREATE OR REPLACE FUNCTION historico_linhas_lidas_max() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT 1000';

-- Before API keys, a page had no chave_api column, and before transfers no
-- transferencia and contraparte; a function's result type cannot be
-- replaced in place.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'historico' AND pg_get_function_result(oid) NOT LIKE '%contraparte integer%') THEN
        DROP FUNCTION historico;
    END IF;
END $$;

-- One page: up to p_quantas rows below p_antes_de (NULL: from the newest),
-- matching the filters given (NULL: no filter; desde inclusive, ate
-- exclusive, the amounts inclusive), found among the next
-- historico_linhas_lidas_max() rows of the client. Rows come with resultado
-- 'pagina'; when there may be more, one last row 'proxima' carries the id
-- the next page starts below and its cursor tag: the page's last row when
-- one more match was seen, or the last row read when the page read as far
-- as it may. An unknown client, or a cursor whose tag does not match, is one
-- row with that error code of the API's catalogue (src/shared/failures.ts).
--
-- The plan is pinned to one range scan of the (cliente_id, id DESC) index,
-- read in its order and stopped after the page is full or the read bound is
-- reached, however the planner estimates the filters
-- (test/instance/history-endpoint.test.ts reads the plan):
-- - plan_cache_mode plans each call for its own values, which folds away
--   the filters not given;
-- - the rows are ordered by (cliente_id, id DESC), which only that index
--   delivers. The client is matched with BETWEEN rather than =, because an
--   equality would make the planner drop cliente_id from the order, and then
--   the primary key (read backwards, skipping other clients' rows) would
--   deliver it too: a plan it picks by statistics, and a ruinous one for a
--   client whose rows are all old;
-- - enable_sort off rules out reading every row and sorting them, which the
--   planner prefers when it expects few matches in a small table;
-- - the loop below fetches rows as it goes (a PL/pgSQL FOR reads its query
--   through a cursor), so an unfiltered page reads p_quantas + 1 rows, not
--   the whole bound. Rows that do not match are dropped in the query, except
--   the last one the bound allows, which says where the reading stopped.
CREATE OR REPLACE FUNCTION historico(
    p_cliente_id integer,
    p_antes_de   bigint,
    p_etiqueta   bytea,
    p_quantas    integer,
    p_tipo       text,
    p_desde      timestamptz,
    p_ate        timestamptz,
    p_valor_min  integer,
    p_valor_max  integer
) RETURNS TABLE (
    resultado    text,
    id           bigint,
    valor        integer,
    tipo         char(1),
    descricao    varchar(10),
    realizada_em text,
    saldo_apos   bigint,
    etiqueta     bytea,
    -- The name of the API key that made it (08-keys.sql); NULL without auth.
    chave_api    text,
    -- For a row of a transfer (09-transfers.sql): its id and the other
    -- client (the payee of a debit, the payer of a credit); else NULL.
    transferencia bigint,
    contraparte  integer
)
LANGUAGE plpgsql STABLE
-- The owner's rights: the instances' role cannot read the cursor secret, nor
-- the columns only the history shows (saldo_apos); a fixed search path (see
-- registrar_transacao).
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
SET plan_cache_mode = force_custom_plan
SET enable_sort = off
AS $$
#variable_conflict use_column
DECLARE
    v_lidas_max integer := historico_linhas_lidas_max();
    v_achadas   integer := 0;
    v_ultima    bigint;
    v_linha     record;
BEGIN
    -- As if an attacker called (see registrar_transacao): a page of 1 to
    -- HISTORY_PAGE_ROWS_MAX rows (src/shared/limits.ts), a known tipo.
    IF p_quantas IS NULL OR p_quantas NOT BETWEEN 1 AND 100 OR p_tipo NOT IN ('c', 'd') THEN
        RAISE EXCEPTION 'historico: not a valid page' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM clientes c WHERE c.id = p_cliente_id) THEN
        RETURN QUERY SELECT 'cliente_nao_encontrado', NULL::bigint, NULL::integer, NULL::char(1), NULL::varchar(10), NULL::text, NULL::bigint, NULL::bytea, NULL::text, NULL::bigint, NULL::integer;
        RETURN;
    END IF;
    IF p_antes_de IS NOT NULL AND p_etiqueta IS DISTINCT FROM etiqueta_cursor(p_cliente_id, p_antes_de) THEN
        RETURN QUERY SELECT 'cursor_invalido', NULL::bigint, NULL::integer, NULL::char(1), NULL::varchar(10), NULL::text, NULL::bigint, NULL::bytea, NULL::text, NULL::bigint, NULL::integer;
        RETURN;
    END IF;

    FOR v_linha IN
        SELECT l.id, l.valor, l.tipo, l.descricao, iso_utc(l.realizada_em) AS realizada_em, l.saldo_apos, l.chave_api_id, l.transferencia_id,
               l.casa, l.lida = v_lidas_max AS ultima_lida
          FROM (SELECT t.cliente_id, t.id, t.valor, t.tipo, t.descricao, t.realizada_em, t.saldo_apos, t.chave_api_id, t.transferencia_id,
                       (p_tipo IS NULL OR t.tipo = p_tipo)
                   AND (p_desde IS NULL OR t.realizada_em >= p_desde)
                   AND (p_ate IS NULL OR t.realizada_em < p_ate)
                   AND (p_valor_min IS NULL OR t.valor >= p_valor_min)
                   AND (p_valor_max IS NULL OR t.valor <= p_valor_max) AS casa,
                       row_number() OVER (ORDER BY t.cliente_id, t.id DESC) AS lida
                  FROM (SELECT * FROM transacoes t
                         WHERE t.cliente_id BETWEEN p_cliente_id AND p_cliente_id
                           AND (p_antes_de IS NULL OR t.id < p_antes_de)
                         ORDER BY t.cliente_id, t.id DESC
                         LIMIT v_lidas_max) t) l
         WHERE l.casa OR l.lida = v_lidas_max
         ORDER BY l.cliente_id, l.id DESC
    LOOP
        IF v_linha.casa THEN
            IF v_achadas = p_quantas THEN
                -- One match past the page: the next page starts below its last row.
                RETURN QUERY SELECT 'proxima', v_ultima, NULL::integer, NULL::char(1), NULL::varchar(10), NULL::text, NULL::bigint, etiqueta_cursor(p_cliente_id, v_ultima), NULL::text, NULL::bigint, NULL::integer;
                RETURN;
            END IF;
            v_achadas := v_achadas + 1;
            v_ultima := v_linha.id;
            RETURN QUERY SELECT 'pagina', v_linha.id, v_linha.valor, v_linha.tipo, v_linha.descricao, v_linha.realizada_em, v_linha.saldo_apos, NULL::bytea,
                -- Looked up only for rows a key made: a page made without auth
                -- reads nothing more.
                CASE WHEN v_linha.chave_api_id IS NOT NULL THEN (SELECT k.nome FROM chaves_api k WHERE k.id = v_linha.chave_api_id) END,
                v_linha.transferencia_id,
                -- Likewise only for a transfer's rows.
                CASE WHEN v_linha.transferencia_id IS NOT NULL
                     THEN (SELECT CASE WHEN v_linha.tipo = 'd' THEN f.recebedor ELSE f.pagador END FROM transferencias f WHERE f.id = v_linha.transferencia_id) END;
        END IF;
        IF v_linha.ultima_lida THEN
            -- The page read as far as it may: the next starts below the last row read.
            RETURN QUERY SELECT 'proxima', v_linha.id, NULL::integer, NULL::char(1), NULL::varchar(10), NULL::text, NULL::bigint, etiqueta_cursor(p_cliente_id, v_linha.id), NULL::text, NULL::bigint, NULL::integer;
            RETURN;
        END IF;
    END LOOP;
END;
$$;
