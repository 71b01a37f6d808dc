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

-- What the instances read to check a request's key in memory: SHA-256 of
-- the stored hash, so the key's hash itself, which the transaction
-- functions take as the proof of the key that writes (escrita_autorizada
-- below), is readable by the owner alone. An instance holds a key's hash
-- only while a request carrying the key passes through it, and can then
-- claim only that key. Generated from hash: keys made before it have it too.
ALTER TABLE chaves_api ADD COLUMN IF NOT EXISTS verificador bytea GENERATED ALWAYS AS (sha256(hash)) STORED;

-- Who a write is made by, resolved from the proof the caller sends (the key's
-- hash, SHA-256 of the key as the client sent it): the id of a key in force
-- that may write to p_cliente_id, or a refusal (an error code of the API's
-- catalogue, src/shared/failures.ts), or no key (NULL, NULL) when the call
-- names none and the owner allows writes without keys (configuracao,
-- 01-schema.sql). The hash's UNIQUE index finds the key. The instance checks
-- the same in memory first; this is what holds when an instance does not.
CREATE OR REPLACE FUNCTION escrita_autorizada(p_prova bytea, p_cliente_id integer,
                                              OUT chave_api_id integer, OUT recusa text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_chave record;
BEGIN
    IF p_prova IS NULL THEN
        IF (SELECT c.chave_api_obrigatoria FROM configuracao c) THEN
            recusa := 'autenticacao_necessaria';
        END IF;
        RETURN;
    END IF;
    SELECT k.id, k.escrita, k.clientes INTO v_chave
      FROM chaves_api k
     WHERE k.hash = p_prova AND k.revogada_em IS NULL AND (k.expira_em IS NULL OR k.expira_em > now());
    IF NOT FOUND THEN
        recusa := 'chave_api_invalida';
    ELSIF v_chave.clientes IS NOT NULL AND NOT p_cliente_id = ANY (v_chave.clientes) THEN
        recusa := 'cliente_nao_permitido';
    ELSIF NOT v_chave.escrita THEN
        recusa := 'chave_somente_leitura';
    ELSE
        chave_api_id := v_chave.id;
    END IF;
END;
$$;
-- Created after 07-privileges.sql revoked every function from PUBLIC: only
-- the transaction functions, running as the owner, call these.
REVOKE ALL ON FUNCTION escrita_autorizada, mudar_versao_chaves_api FROM PUBLIC;

-- The instances read what a check needs, and only of the keys in force:
-- never when a key was made or revoked (07-privileges.sql revokes every
-- grant first, at every start; these come after it).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crebito_api') THEN
        RETURN;
    END IF;
    GRANT SELECT (id, nome, verificador, clientes, escrita, expira_em, revogada_em) ON chaves_api TO crebito_api;
    GRANT SELECT (versao) ON versao_chaves_api TO crebito_api;
END $$;
