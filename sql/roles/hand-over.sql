-- Hands a database made before the ledger had an owner role over to
-- crebito_owner: the database, and every table and function of the schema
-- (a table's indexes and identity sequence follow it). Run by a superuser on
-- the ledger's database, before sql/ is applied as crebito_owner; a no-op
-- once done. The functions' owner is whose rights SECURITY DEFINER lends.

DO $$
DECLARE
    v_comando text;
BEGIN
    IF (SELECT datdba FROM pg_database WHERE datname = current_database()) <> 'crebito_owner'::regrole THEN
        EXECUTE format('ALTER DATABASE %I OWNER TO crebito_owner', current_database());
    END IF;
    FOR v_comando IN
        SELECT format('ALTER TABLE %s OWNER TO crebito_owner', c.oid::regclass)
          FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relowner <> 'crebito_owner'::regrole
        UNION ALL
        SELECT format('ALTER FUNCTION %s OWNER TO crebito_owner', p.oid::regprocedure)
          FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'crebito_owner'::regrole
    LOOP
        EXECUTE v_comando;
    END LOOP;
END $$;
