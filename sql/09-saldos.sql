-- A client's balance and limit, alone: what a debit may still take
-- (saldo + limite) without reading any transaction. One query for every
-- client asked in a batch, from one snapshot, in the order asked (ordem); a
-- client that does not exist has no row. A plain SQL function, like
-- extratos (03-functions.sql), inlined into its caller's plan and run with
-- the caller's rights over the columns crebito_api may read already.
CREATE OR REPLACE FUNCTION saldos(p_cliente_ids integer[])
RETURNS TABLE (ordem integer, saldo bigint, limite integer)
LANGUAGE sql STABLE
AS $$
    SELECT r.ordem::integer, c.saldo, c.limite
      FROM unnest(p_cliente_ids) WITH ORDINALITY AS r (id, ordem)
      JOIN clientes c ON c.id = r.id
$$;

-- Its grant sits with it: created after 07-privileges.sql revoked every
-- function from PUBLIC, it is taken back from PUBLIC here too.
REVOKE ALL ON FUNCTION saldos(integer[]) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crebito_api') THEN
        GRANT EXECUTE ON FUNCTION saldos(integer[]) TO crebito_api;
    END IF;
END $$;
