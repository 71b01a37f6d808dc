-- Batches: many transactions applied by one call, in one database
-- transaction, with one commit (and so one WAL flush) for all of them. Each
-- keeps its own outcome, computed exactly as registrar_transacao would have
-- in arrival order, by the same rules (novo_saldo and recusa, 00-rules.sql).
-- The instances send a batch only while an earlier call is in flight; a
-- request that finds nothing in flight goes alone at once, to
-- registrar_transacao, which measured about twice as fast for one.
--
-- Row locks: every client of the batch is locked FOR UPDATE SKIP LOCKED,
-- so a batch never waits for a row (and two batches never wait on each other
-- in a cycle): a client whose row another session holds gets
-- 'cliente_ocupado' for each of its transactions, which change nothing,
-- while the batch's other clients are applied and committed as usual; the
-- instance sends the busy ones again (see registrar_transacao).
-- Balances are then computed in memory and written once per client; rows are
-- inserted in arrival order, so transacoes.id stays the commit order of each
-- client. The CHECK constraints on clientes still guard the final balances.
--
-- Idempotency keys (05-idempotency.sql): the keys of the batch are locked
-- before its clients' rows, all in one order, and looked up after; a key
-- that appears twice in one batch is applied by its first request and
-- replayed to the second, exactly as if the second had come after the
-- first's commit.
--
-- registrar_transacoes returns one row per input element, in input order,
-- with the outcomes of registrar_transacao (03-functions.sql); decidir_lote
-- computes them.

-- The outcome of every transaction of a batch, in input order, decided in
-- memory: over the batch's locked clients (their ids, limits and balances,
-- in id order) by the money rules, over its keys (held or not, the
-- first transaction of the batch with the same client and key, and each
-- key's stored entry, NULL when none), and over who writes each (NULL, or
-- the refusal escrita_autorizada answered, 08-keys.sql). Returns the answers, which
-- transactions moved money, which store their key, and each client's final
-- balance. Arrays are filled by subscript, so each is made the batch's
-- length first (assigning past the end of an empty array would shift its
-- lower bound, and unnest would misalign them).
-- Before API keys were resolved here, decidir_lote took one argument less.
DROP FUNCTION IF EXISTS decidir_lote(integer[], integer[], text[], text[], text[], integer[], integer[], bigint[],
                                     boolean[], bigint[], chaves_idempotencia[]);

CREATE OR REPLACE FUNCTION decidir_lote(
    p_cliente_ids integer[], p_valores integer[], p_tipos text[], p_descricoes text[], p_chaves text[],
    p_clientes integer[], p_limites integer[], p_saldos bigint[],
    p_reservadas boolean[], p_primeiras bigint[], p_entradas chaves_idempotencia[],
    p_recusas_escrita text[], p_escritores integer[],
    OUT resultados text[], OUT limite_de_cada integer[], OUT saldo_de_cada bigint[], OUT repetidas boolean[],
    OUT aplicadas boolean[], OUT guarda_chave boolean[], OUT saldos_finais bigint[]
)
LANGUAGE plpgsql AS $$
DECLARE
    v_count      integer := cardinality(p_cliente_ids);
    v_slot       integer;
    v_novo_saldo bigint;
    v_recusa     text;
    v_repeticao  record;
BEGIN
    resultados     := array_fill(NULL::text, ARRAY[v_count]);
    limite_de_cada := array_fill(NULL::integer, ARRAY[v_count]);
    saldo_de_cada  := array_fill(NULL::bigint, ARRAY[v_count]);
    repetidas      := array_fill(false, ARRAY[v_count]);
    aplicadas      := array_fill(false, ARRAY[v_count]);
    guarda_chave   := array_fill(false, ARRAY[v_count]);
    saldos_finais  := p_saldos;
    FOR i IN 1 .. v_count LOOP
        v_slot := array_position(p_clientes, p_cliente_ids[i]);
        IF p_recusas_escrita[i] IS NOT NULL THEN
            resultados[i] := p_recusas_escrita[i];
        ELSIF p_chaves[i] IS NOT NULL AND NOT p_reservadas[i] THEN
            resultados[i] := 'chave_idempotencia_em_uso';
        ELSIF v_slot IS NULL THEN
            resultados[i] := 'cliente_nao_encontrado';
        ELSIF p_chaves[i] IS NOT NULL AND p_entradas[p_primeiras[i]] IS NOT NULL THEN
            SELECT * INTO v_repeticao FROM repeticao(p_entradas[p_primeiras[i]], p_valores[i], p_tipos[i], p_descricoes[i]);
            resultados[i] := v_repeticao.resultado;
            limite_de_cada[i] := v_repeticao.limite;
            saldo_de_cada[i] := v_repeticao.saldo;
            repetidas[i] := v_repeticao.repetida;
        ELSE
            v_novo_saldo := novo_saldo(saldos_finais[v_slot], p_valores[i], p_tipos[i]);
            v_recusa := recusa(v_novo_saldo, p_limites[v_slot]);
            IF v_recusa IS NULL THEN
                saldos_finais[v_slot] := v_novo_saldo;
                aplicadas[i] := true;
            END IF;
            resultados[i] := coalesce(v_recusa, 'aplicada');
            limite_de_cada[i] := p_limites[v_slot];
            saldo_de_cada[i] := saldos_finais[v_slot];
            IF p_chaves[i] IS NOT NULL THEN
                -- Later transactions of this batch with the same key find it where they look: at the key's first
                -- transaction, which is this one unless that one was refused before its key was looked at (its
                -- API key: a refused proof and no proof both write as 0).
                p_entradas[p_primeiras[i]] := ROW(p_cliente_ids[i], p_chaves[i], p_valores[i], p_tipos[i],
                                                  p_descricoes[i], resultados[i], limite_de_cada[i],
                                                  saldo_de_cada[i], now(), p_escritores[i])::chaves_idempotencia;
                guarda_chave[i] := true;
            END IF;
        END IF;
    END LOOP;
END;
$$;

-- Refuses, with SQLSTATE 22023 and before anything is locked or read, a
-- batch the API could not have sent: arrays of different lengths or shapes
-- (vetor_do_lote, 00-rules.sql), more than lote_maximo() transactions, NULL
-- where a value is needed, a transaction, key or wait out of its rules.
-- Every array is then 1-based, so decidir_lote's position i and unnest's
-- i-th row are the same transaction.
CREATE OR REPLACE FUNCTION validar_lote(
    p_cliente_ids integer[], p_valores integer[], p_tipos text[], p_descricoes text[],
    p_chaves text[], p_espera_ms integer, p_chaves_api bytea[]
) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_count integer := cardinality(p_cliente_ids);
BEGIN
    IF v_count IS NULL OR v_count NOT BETWEEN 1 AND lote_maximo() THEN
        RAISE EXCEPTION 'registrar_transacoes: from 1 to % transactions', lote_maximo()
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT (vetor_do_lote(p_cliente_ids, v_count) AND vetor_do_lote(p_valores, v_count)
            AND vetor_do_lote(p_tipos, v_count) AND vetor_do_lote(p_descricoes, v_count)
            AND (p_chaves IS NULL OR vetor_do_lote(p_chaves, v_count))
            AND (p_chaves_api IS NULL OR vetor_do_lote(p_chaves_api, v_count))) THEN
        RAISE EXCEPTION 'registrar_transacoes: arrays of different lengths, or not one-dimensional from 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM unnest(p_cliente_ids, p_valores, p_tipos, p_descricoes)
                               AS e (cliente_id, valor, tipo, descricao)
                WHERE NOT transacao_valida(e.cliente_id, e.valor, e.tipo, e.descricao))
       OR EXISTS (SELECT FROM unnest(p_chaves) AS k (chave) WHERE k.chave IS NOT NULL AND NOT chave_valida(k.chave))
       OR p_espera_ms IS NULL OR p_espera_ms NOT BETWEEN 0 AND espera_maxima_ms() THEN
        RAISE EXCEPTION 'registrar_transacoes: not a valid transaction, idempotency key or wait'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION registrar_transacoes(
    p_cliente_ids integer[],
    p_valores     integer[],
    p_tipos       text[],
    p_descricoes  text[],
    -- Per transaction its idempotency key or NULL; the whole array NULL when
    -- none has one. p_espera_ms as in registrar_transacao.
    p_chaves      text[]  DEFAULT NULL,
    p_espera_ms   integer DEFAULT 0,
    -- Per transaction the proof of the API key that made it, or NULL (see
    -- registrar_transacao); the whole array NULL for none.
    p_chaves_api  bytea[] DEFAULT NULL
) RETURNS TABLE (resultado text, limite integer, saldo bigint, repetida boolean)
LANGUAGE plpgsql
-- As registrar_transacao: the owner's rights, a fixed search path.
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_count    integer := cardinality(p_cliente_ids);
    -- The batch's distinct clients, in id order (see decidir_lote).
    v_clientes integer[];
    v_limites  integer[];
    v_saldos   bigint[];
    -- Its keys (see decidir_lote), and its outcomes.
    v_reservadas boolean[];
    v_primeiras  bigint[];
    v_entradas   chaves_idempotencia[];
    v_lote       record;
    v_resultados text[];
    -- Who writes each: the API key's id (0 for none), or the refusal (08-keys.sql).
    v_escritores integer[];
    v_recusas    text[];
BEGIN
    PERFORM validar_lote(p_cliente_ids, p_valores, p_tipos, p_descricoes, p_chaves, p_espera_ms, p_chaves_api);
    IF p_chaves_api IS NULL THEN
        -- Nobody's writes: all allowed, or all refused.
        SELECT array_fill(a.recusa, ARRAY[v_count]), array_fill(0, ARRAY[v_count]) INTO v_recusas, v_escritores
          FROM escrita_autorizada(NULL, NULL) a;
    ELSE
        SELECT array_agg(coalesce(a.chave_api_id, 0) ORDER BY e.ordem), array_agg(a.recusa ORDER BY e.ordem)
          INTO v_escritores, v_recusas
          FROM unnest(p_cliente_ids, p_chaves_api) WITH ORDINALITY AS e (cliente_id, prova, ordem)
         CROSS JOIN LATERAL escrita_autorizada(e.prova, e.cliente_id) a;
    END IF;
    IF p_chaves IS NOT NULL THEN
        v_reservadas := reservar_chaves(p_cliente_ids, p_chaves, p_espera_ms);
    END IF;

    SELECT array_agg(c.id ORDER BY c.id), array_agg(c.limite ORDER BY c.id), array_agg(c.saldo ORDER BY c.id)
      INTO v_clientes, v_limites, v_saldos
      FROM (SELECT id, limite, saldo
              FROM clientes
             WHERE id = ANY (p_cliente_ids)
             ORDER BY id
               FOR UPDATE SKIP LOCKED) c;

    IF p_chaves IS NOT NULL THEN
        SELECT * INTO v_primeiras, v_entradas FROM chaves_do_lote(p_cliente_ids, v_escritores, p_chaves);
    END IF;
    SELECT * INTO v_lote FROM decidir_lote(p_cliente_ids, p_valores, p_tipos, p_descricoes, p_chaves,
                                           v_clientes, v_limites, v_saldos, v_reservadas, v_primeiras, v_entradas,
                                           v_recusas, v_escritores);

    -- A client decidir_lote did not find was skipped, or does not exist.
    v_resultados := v_lote.resultados;
    IF 'cliente_nao_encontrado' = ANY (v_resultados) THEN
        SELECT array_agg(CASE WHEN r.resultado = 'cliente_nao_encontrado' AND EXISTS (SELECT FROM clientes c WHERE c.id = r.cliente_id)
                              THEN 'cliente_ocupado' ELSE r.resultado END ORDER BY r.ordem)
          INTO v_resultados
          FROM unnest(v_lote.resultados, p_cliente_ids) WITH ORDINALITY AS r (resultado, cliente_id, ordem);
    END IF;

    UPDATE clientes c
       SET saldo = novo.saldo
      FROM unnest(v_clientes, v_lote.saldos_finais) AS novo (id, saldo)
     WHERE c.id = novo.id
       AND c.saldo <> novo.saldo;

    INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos, chave_api_id)
    SELECT e.cliente_id, e.valor, e.tipo, e.descricao, e.saldo_apos, nullif(v_escritores[e.ordem::integer], 0)
      FROM unnest(p_cliente_ids, p_valores, p_tipos, p_descricoes, v_lote.aplicadas, v_lote.saldo_de_cada)
           WITH ORDINALITY AS e (cliente_id, valor, tipo, descricao, aplicada, saldo_apos, ordem)
     WHERE e.aplicada
     ORDER BY e.ordem;

    IF p_chaves IS NOT NULL THEN
        INSERT INTO chaves_idempotencia (cliente_id, chave_api_id, chave, valor, tipo, descricao, resultado, limite,
                                         saldo)
        SELECT e.cliente_id, e.chave_api_id, e.chave, e.valor, e.tipo, e.descricao, e.resultado, e.limite, e.saldo
          FROM unnest(p_cliente_ids, v_escritores, p_chaves, p_valores, p_tipos, p_descricoes, v_lote.resultados,
                      v_lote.limite_de_cada,
                      v_lote.saldo_de_cada, v_lote.guarda_chave)
               AS e (cliente_id, chave_api_id, chave, valor, tipo, descricao, resultado, limite, saldo, guarda)
         WHERE e.guarda;
    END IF;

    RETURN QUERY
    SELECT r.resultado, r.limite, r.saldo, r.repetida
      FROM unnest(v_resultados, v_lote.limite_de_cada, v_lote.saldo_de_cada, v_lote.repetidas) WITH ORDINALITY AS r (resultado, limite, saldo, repetida, ordem)
     ORDER BY r.ordem;
END;
$$;
