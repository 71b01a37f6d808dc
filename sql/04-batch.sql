-- Shared commits: many transactions applied by one call, in one database
-- transaction, with one commit (and so one WAL flush) for all of them. Each
-- keeps its own outcome, computed exactly as registrar_transacao would have
-- in arrival order. The instances send a batch only while an earlier call is
-- in flight; a request that finds nothing in flight goes alone at once.
--
-- Row locks: every client of the batch is locked FOR UPDATE, in id order, so
-- two batches from two instances can never wait on each other in a cycle.
-- Balances are then computed in memory and written once per client; rows are
-- inserted in arrival order, so transacoes.id stays the commit order of each
-- client. The CHECK constraints on clientes still guard the final balances.
--
-- Returns one row per input element, in input order, with the same outcome
-- codes as registrar_transacao (0 applied, 1 no such client, 2 refused).

CREATE OR REPLACE FUNCTION registrar_transacoes(
    p_cliente_ids integer[],
    p_valores     integer[],
    p_tipos       text[],
    p_descricoes  text[]
) RETURNS TABLE (resultado integer, limite integer, saldo bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_count      integer := cardinality(p_cliente_ids);
    -- Per distinct client: its id, limit and running balance.
    v_ids        integer[];
    v_limites    integer[];
    v_saldos     bigint[];
    v_slot       integer;
    v_novo_saldo bigint;
    v_resultados integer[] := '{}';
    v_limites_r  integer[] := '{}';
    v_saldos_r   bigint[]  := '{}';
    v_aceitos    boolean[] := '{}';
BEGIN
    IF v_count IS NULL OR cardinality(p_valores) <> v_count OR cardinality(p_tipos) <> v_count OR cardinality(p_descricoes) <> v_count THEN
        RAISE EXCEPTION 'registrar_transacoes: arrays of different lengths';
    END IF;

    SELECT array_agg(c.id ORDER BY c.id), array_agg(c.limite ORDER BY c.id), array_agg(c.saldo ORDER BY c.id)
      INTO v_ids, v_limites, v_saldos
      FROM (SELECT id, limite, saldo
              FROM clientes
             WHERE id = ANY (p_cliente_ids)
             ORDER BY id
               FOR UPDATE) c;

    FOR i IN 1 .. v_count LOOP
        v_slot := array_position(v_ids, p_cliente_ids[i]);
        IF v_slot IS NULL THEN
            v_resultados := v_resultados || 1;
            v_limites_r  := v_limites_r || NULL::integer;
            v_saldos_r   := v_saldos_r || NULL::bigint;
            v_aceitos    := v_aceitos || false;
            CONTINUE;
        END IF;

        IF p_tipos[i] = 'c' THEN
            v_novo_saldo := v_saldos[v_slot] + p_valores[i];
        ELSE
            v_novo_saldo := v_saldos[v_slot] - p_valores[i];
        END IF;

        IF v_novo_saldo < -v_limites[v_slot] OR v_novo_saldo > 9007199254740991 THEN
            v_resultados := v_resultados || 2;
            v_saldos_r   := v_saldos_r || v_saldos[v_slot];
            v_aceitos    := v_aceitos || false;
        ELSE
            v_saldos[v_slot] := v_novo_saldo;
            v_resultados := v_resultados || 0;
            v_saldos_r   := v_saldos_r || v_novo_saldo;
            v_aceitos    := v_aceitos || true;
        END IF;
        v_limites_r := v_limites_r || v_limites[v_slot];
    END LOOP;

    UPDATE clientes c
       SET saldo = novo.saldo
      FROM unnest(v_ids, v_saldos) AS novo (id, saldo)
     WHERE c.id = novo.id
       AND c.saldo <> novo.saldo;

    INSERT INTO transacoes (cliente_id, valor, tipo, descricao)
    SELECT e.cliente_id, e.valor, e.tipo, e.descricao
      FROM unnest(p_cliente_ids, p_valores, p_tipos, p_descricoes, v_aceitos)
           WITH ORDINALITY AS e (cliente_id, valor, tipo, descricao, aceito, ordem)
     WHERE e.aceito
     ORDER BY e.ordem;

    RETURN QUERY
    SELECT r.resultado, r.limite, r.saldo
      FROM unnest(v_resultados, v_limites_r, v_saldos_r) WITH ORDINALITY AS r (resultado, limite, saldo, ordem)
     ORDER BY r.ordem;
END;
$$;
