-- Shared commits: many transactions applied by one call, in one database
-- transaction, with one commit (and so one WAL flush) for all of them. Each
-- keeps its own outcome, computed exactly as registrar_transacao would have
-- in arrival order, by the same rules (novo_saldo and recusa, 00-rules.sql).
-- The instances send a batch only while an earlier call is in flight; a
-- request that finds nothing in flight goes alone at once, to
-- registrar_transacao, which measured about twice as fast for one.
--
-- Row locks: every client of the batch is locked FOR UPDATE, in id order, so
-- two batches from two instances can never wait on each other in a cycle.
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
-- Returns one row per input element, in input order, with the outcomes of
-- registrar_transacao (03-functions.sql).

CREATE OR REPLACE FUNCTION registrar_transacoes(
    p_cliente_ids integer[],
    p_valores     integer[],
    p_tipos       text[],
    p_descricoes  text[],
    -- Per transaction its idempotency key or NULL; the whole array NULL when
    -- none has one. p_espera_ms as in registrar_transacao.
    p_chaves      text[]  DEFAULT NULL,
    p_espera_ms   integer DEFAULT 0
) RETURNS TABLE (resultado text, limite integer, saldo bigint, repetida boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_count          integer := cardinality(p_cliente_ids);
    -- One entry per distinct client of the batch, in id order: its id, its
    -- limit, and its balance as the loop below applies transactions.
    v_clientes       integer[];
    v_limites        integer[];
    v_saldos         bigint[];
    -- One entry per transaction, in input order: what it is answered, and
    -- whether it moved money. Filled by subscript, so each is made v_count
    -- long first (assigning past the end of an empty array would shift its
    -- lower bound, and unnest would misalign them).
    v_resultados     text[];
    v_limite_de_cada integer[];
    v_saldo_de_cada  bigint[];
    v_repetidas      boolean[];
    v_aplicadas      boolean[];
    -- Keys, per transaction: held or not, and the first transaction of the
    -- batch with the same client and key; per first transaction, the key's
    -- stored entry (from an earlier call, or made by this batch).
    v_reservadas     boolean[];
    v_primeira       bigint[];
    v_entradas       chaves_idempotencia[];
    v_guarda_chave   boolean[];
    v_slot           integer;
    v_novo_saldo     bigint;
    v_recusa         text;
    -- The answer of the transaction at hand.
    v_resultado      text;
    v_limite         integer;
    v_saldo          bigint;
    v_repetida       boolean;
BEGIN
    IF v_count IS NULL OR cardinality(p_valores) <> v_count OR cardinality(p_tipos) <> v_count OR cardinality(p_descricoes) <> v_count
       OR cardinality(p_chaves) <> v_count THEN
        RAISE EXCEPTION 'registrar_transacoes: arrays of different lengths';
    END IF;
    v_resultados     := array_fill(NULL::text, ARRAY[v_count]);
    v_limite_de_cada := array_fill(NULL::integer, ARRAY[v_count]);
    v_saldo_de_cada  := array_fill(NULL::bigint, ARRAY[v_count]);
    v_repetidas      := array_fill(false, ARRAY[v_count]);
    v_aplicadas      := array_fill(false, ARRAY[v_count]);
    v_guarda_chave   := array_fill(false, ARRAY[v_count]);
    IF p_chaves IS NOT NULL THEN
        v_reservadas := reservar_chaves(p_cliente_ids, p_chaves, p_espera_ms);
    END IF;

    SELECT array_agg(c.id ORDER BY c.id), array_agg(c.limite ORDER BY c.id), array_agg(c.saldo ORDER BY c.id)
      INTO v_clientes, v_limites, v_saldos
      FROM (SELECT id, limite, saldo
              FROM clientes
             WHERE id = ANY (p_cliente_ids)
             ORDER BY id
               FOR UPDATE) c;

    IF p_chaves IS NOT NULL THEN
        SELECT * INTO v_primeira, v_entradas FROM chaves_do_lote(p_cliente_ids, p_chaves);
    END IF;

    FOR i IN 1 .. v_count LOOP
        v_slot := array_position(v_clientes, p_cliente_ids[i]);
        v_limite := NULL;
        v_saldo := NULL;
        v_repetida := false;
        IF p_chaves[i] IS NOT NULL AND NOT v_reservadas[i] THEN
            v_resultado := 'chave_idempotencia_em_uso';
        ELSIF v_slot IS NULL THEN
            v_resultado := 'cliente_nao_encontrado';
        ELSIF p_chaves[i] IS NOT NULL AND v_entradas[v_primeira[i]] IS NOT NULL THEN
            SELECT * INTO v_resultado, v_limite, v_saldo, v_repetida
              FROM repeticao(v_entradas[v_primeira[i]], p_valores[i], p_tipos[i], p_descricoes[i]);
        ELSE
            v_novo_saldo := novo_saldo(v_saldos[v_slot], p_valores[i], p_tipos[i]);
            v_recusa := recusa(v_novo_saldo, v_limites[v_slot]);
            IF v_recusa IS NULL THEN
                v_saldos[v_slot] := v_novo_saldo;
                v_aplicadas[i] := true;
            END IF;
            v_resultado := coalesce(v_recusa, 'aplicada');
            v_limite := v_limites[v_slot];
            v_saldo := v_saldos[v_slot];
            IF p_chaves[i] IS NOT NULL THEN
                -- Later requests of this batch with the same key find it here.
                v_entradas[i] := ROW(p_cliente_ids[i], p_chaves[i], p_valores[i], p_tipos[i], p_descricoes[i],
                                     v_resultado, v_limite, v_saldo, now())::chaves_idempotencia;
                v_guarda_chave[i] := true;
            END IF;
        END IF;
        v_resultados[i] := v_resultado;
        v_limite_de_cada[i] := v_limite;
        v_saldo_de_cada[i] := v_saldo;
        v_repetidas[i] := v_repetida;
    END LOOP;

    UPDATE clientes c
       SET saldo = novo.saldo
      FROM unnest(v_clientes, v_saldos) AS novo (id, saldo)
     WHERE c.id = novo.id
       AND c.saldo <> novo.saldo;

    INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos)
    SELECT e.cliente_id, e.valor, e.tipo, e.descricao, e.saldo_apos
      FROM unnest(p_cliente_ids, p_valores, p_tipos, p_descricoes, v_aplicadas, v_saldo_de_cada)
           WITH ORDINALITY AS e (cliente_id, valor, tipo, descricao, aplicada, saldo_apos, ordem)
     WHERE e.aplicada
     ORDER BY e.ordem;

    IF p_chaves IS NOT NULL THEN
        INSERT INTO chaves_idempotencia (cliente_id, chave, valor, tipo, descricao, resultado, limite, saldo)
        SELECT e.cliente_id, e.chave, e.valor, e.tipo, e.descricao, e.resultado, e.limite, e.saldo
          FROM unnest(p_cliente_ids, p_chaves, p_valores, p_tipos, p_descricoes, v_resultados, v_limite_de_cada, v_saldo_de_cada, v_guarda_chave)
               AS e (cliente_id, chave, valor, tipo, descricao, resultado, limite, saldo, guarda)
         WHERE e.guarda;
    END IF;

    RETURN QUERY
    SELECT r.resultado, r.limite, r.saldo, r.repetida
      FROM unnest(v_resultados, v_limite_de_cada, v_saldo_de_cada, v_repetidas) WITH ORDINALITY AS r (resultado, limite, saldo, repetida, ordem)
     ORDER BY r.ordem;
END;
$$;
