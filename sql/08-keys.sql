-- API keys (CREBITO_AUTH=keys; docs/security.md, API keys). A key is a random secret
-- shown once, when `npm run keys -- create` makes it; only its SHA-256 is
-- kept here, so a copy of the database (a backup, a replica, a dump) gives
-- nobody a key that works. SHA-256, not a slow password hash: a key is 256
-- random bits, so nobody can guess it from its hash by trying candidates,
-- and a slow hash would cost every request its time for nothing.
--
-- The instances read the keys that are in force into memory and check each
-- request there (src/instance/ledger/api-keys.ts), so checking a key costs
-- no round trip. They poll versao_chaves_api, a counter every change of the
-- table bumps in the same transaction, and reload the keys only when it
-- moved: a revoked key is refused everywhere within one poll.

CREATE TABLE IF NOT EXISTS chaves_api (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- How operators name the key (revoke takes it); shown in the history
    -- next to the transactions the key made, so it is unique for good.
    nome       text        NOT NULL UNIQUE CHECK (nome ~ '^[A-Za-z0-9._-]{1,64}$'),
    hash       bytea       NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    -- The clients the key may act on; NULL: every client.
    clientes   integer[]   CHECK (cardinality(clientes) BETWEEN 1 AND 10000),
    -- false: it may only read (statements, history).
    escrita    boolean     NOT NULL,
    criada_em  timestamptz NOT NULL DEFAULT now(),
    expira_em  timestamptz CHECK (expira_em > criada_em),
    revogada_em timestamptz
);

CREATE TABLE IF NOT EXISTS versao_chaves_api (
    unico  boolean PRIMARY KEY DEFAULT true CHECK (unico),
    versao bigint  NOT NULL
);
INSERT INTO versao_chaves_api (versao) VALUES (0) ON CONFLICT (unico) DO NOTHING;

CREATE OR REPLACE FUNCTION mudar_versao_chaves_api() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    UPDATE versao_chaves_api SET versao = versao + 1;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER chaves_api_mudaram
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON chaves_api
    FOR EACH STATEMENT EXECUTE FUNCTION mudar_versao_chaves_api();
-- Created after 07-privileges.sql revoked every function from PUBLIC, so
-- taken back here: on a new database PUBLIC would otherwise hold EXECUTE.
REVOKE ALL ON FUNCTION mudar_versao_chaves_api() FROM PUBLIC;

-- Which key made each transaction (NULL: made without auth). The
-- transaction functions write it (03-functions.sql, 04-batch.sql); the
-- history shows the key's name (06-history.sql). ADD COLUMN of a nullable
-- column without a default only changes the catalogue: no table rewrite.
-- No foreign key: its check would lock the key's row (FOR KEY SHARE) in
-- every transaction, and concurrent holders of one row share a multixact,
-- measurable on the hottest path. Keys are never deleted, only revoked
-- (npm run keys), so the id always names the key that made the row.
ALTER TABLE transacoes ADD COLUMN IF NOT EXISTS chave_api_id integer;

-- The instances read what a check needs, and only of the keys in force:
-- never when a key was made or revoked (07-privileges.sql revokes every
-- grant first, at every start; these come after it).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crebito_api') THEN
        RETURN;
    END IF;
    GRANT SELECT (id, nome, hash, clientes, escrita, expira_em, revogada_em) ON chaves_api TO crebito_api;
    GRANT SELECT (versao) ON versao_chaves_api TO crebito_api;
END $$;
