-- The ledger's two roles, run by a superuser on the cluster's maintenance
-- database (the launcher, for the embedded database; an operator creates
-- the same by hand for DATABASE_URL, docs/security.md, Database roles). Not part of
-- the schema (sql/*.sql): roles belong to the whole cluster, and the owner
-- that applies the schema may not create them.
--
-- crebito_owner owns the database and everything in it, and applies sql/.
-- crebito_api is what the API instances log in as: it can only call the
-- ledger's functions and read a statement's columns (07-privileges.sql).
-- Neither is a superuser, nor may create databases or roles.
--
-- Many launchers or test files may run this at once on one cluster. The
-- caller holds an advisory lock around it, and a role created by someone
-- else between the check and the CREATE counts as made.

DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['crebito_owner', 'crebito_api'] LOOP
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', name);
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END LOOP;
END $$;
