-- Who may do what. The schema belongs to the role that applies these files
-- (its owner); the API instances log in as crebito_api, which may only:
-- - call the ledger's functions: registrar_transacao, registrar_transacoes,
--   historico and expirar_chaves run with the owner's rights (SECURITY
--   DEFINER, a fixed search path), so the balance changes only through them;
-- - read, column by column, what a statement shows (extratos stays a plain
--   SQL function, inlined into its caller's plan, which runs with the
--   caller's rights: a SECURITY DEFINER function is never inlined, and the
--   inlining halves a statement's cost, 03-functions.sql).
-- It may not INSERT, UPDATE, DELETE or TRUNCATE any table, create anything,
-- or read the idempotency keys, saldo_apos or the cursor secret directly.
--
-- The role itself is created outside these files: it is cluster-wide, and
-- the owner applying them may not create roles (the launcher creates it for
-- the embedded database; an operator for DATABASE_URL, docs/security.md,
-- Database roles). Where it does not exist, nobody but the owner gets anything.
--
-- Applied at every start: the grants are first taken back, then given, so
-- they end up as written here whatever an older version (or a hand) gave.

-- transacoes is append-only for everyone, its owner included: a recorded
-- transaction is never changed or removed, only followed by another. Only
-- the owner can lift this (ALTER TABLE ... DISABLE TRIGGER), and the schema
-- does so once, for the saldo_apos migration (01-schema.sql). A statement
-- trigger: it refuses before any row is touched, even when none would be,
-- and costs nothing on INSERT, the only write the ledger makes.
CREATE OR REPLACE FUNCTION recusar_alteracao_transacoes() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
    RAISE EXCEPTION 'transacoes is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'a transaction is corrected by another transaction';
END;
$$;

CREATE OR REPLACE TRIGGER transacoes_somente_insercao
    BEFORE UPDATE OR DELETE OR TRUNCATE ON transacoes
    FOR EACH STATEMENT EXECUTE FUNCTION recusar_alteracao_transacoes();

-- Functions are executable by PUBLIC unless told otherwise; tables are not
-- readable by it, but take back whatever was granted all the same.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;

-- Nobody but the owner creates objects here, and no session creates
-- temporary tables (which could shadow the ledger's in a caller's search
-- path). Only the owner of the schema or database may revoke these; applied
-- by another role (a superuser's init scripts, say) they are skipped, and
-- from PostgreSQL 15 the first is the default anyway.
DO $$
BEGIN
    IF pg_has_role(current_user, (SELECT nspowner FROM pg_namespace WHERE nspname = 'public'), 'USAGE') THEN
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    END IF;
    IF pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE') THEN
        EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    END IF;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crebito_api') THEN
        RAISE NOTICE 'role crebito_api does not exist: only the owner can use the ledger (docs/security.md: Database roles)';
        RETURN;
    END IF;
    REVOKE ALL ON ALL TABLES IN SCHEMA public FROM crebito_api;
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM crebito_api;
    REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM crebito_api;

    GRANT EXECUTE ON FUNCTION registrar_transacao, registrar_transacoes, historico, expirar_chaves TO crebito_api;
    -- A statement: extratos and the iso_utc it inlines, and the columns it reads.
    GRANT EXECUTE ON FUNCTION extratos, iso_utc TO crebito_api;
    GRANT SELECT (id, limite, saldo) ON clientes TO crebito_api;
    GRANT SELECT (id, cliente_id, valor, tipo, descricao, realizada_em) ON transacoes TO crebito_api;
END $$;
