-- The ledger's tables. This file owns the shape of the data and the money
-- rules that the database itself enforces, whatever code writes to it.
--
-- Every statement is idempotent, so applying the file to a database that
-- already holds data changes nothing and loses nothing.

CREATE TABLE IF NOT EXISTS clientes (
    id     integer PRIMARY KEY,
    limite integer NOT NULL CHECK (limite >= 0),
    -- bigint so that a long run of large credits cannot overflow the column;
    -- recusa() (00-rules.sql) also keeps it within saldo_maximo().
    saldo  bigint  NOT NULL DEFAULT 0,
    CONSTRAINT saldo_permitido CHECK (recusa(saldo, limite) IS NULL)
);

-- Databases created before the rule lived in recusa() carry it as two
-- constraints with the same meaning; replace them with the one above.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'clientes'::regclass AND conname = 'saldo_permitido') THEN
        ALTER TABLE clientes
            DROP CONSTRAINT IF EXISTS saldo_acima_do_limite,
            DROP CONSTRAINT IF EXISTS saldo_representavel,
            ADD CONSTRAINT saldo_permitido CHECK (recusa(saldo, limite) IS NULL);
    END IF;
END $$;

CREATE TABLE IF NOT EXISTS transacoes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cliente_id   integer     NOT NULL REFERENCES clientes (id),
    valor        integer     NOT NULL CHECK (valor > 0),
    tipo         char(1)     NOT NULL CHECK (tipo IN ('c', 'd')),
    -- char_length counts characters (code points), as the contract does.
    descricao    varchar(10) NOT NULL CHECK (char_length(descricao) BETWEEN 1 AND 10),
    realizada_em timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The client's balance right after this transaction, written by the
    -- function that applies it, so that a history can be audited line by line.
    saldo_apos   bigint      NOT NULL
);

-- The description's rule (descricao_valida, 00-rules.sql) as a constraint
-- too, so no writer, whatever its code, stores an invisible or control
-- character. NOT VALID: rows written before the rule are kept as they were
-- (a recorded transaction is never changed), and every new row is checked.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = 'transacoes'::regclass AND conname = 'descricao_visivel') THEN
        ALTER TABLE transacoes ADD CONSTRAINT descricao_visivel CHECK (descricao_valida(descricao)) NOT VALID;
    END IF;
END $$;

-- Databases created before saldo_apos existed get it for every old row, in
-- the transaction that adds the column: each row's balance is the client's
-- balance now minus what its later rows moved (novo_saldo from 0 is a row's
-- signed amount). ALTER TABLE holds the table's exclusive lock until the
-- schema commits, so no transaction is written meanwhile. Checked first, so
-- that a database that has the column is not locked at every start.
--
-- transacoes refuses UPDATE (07-privileges.sql). This is the one update the
-- ledger allows itself: it fills a column that did not exist, so no recorded
-- value changes, and only the table's owner can lift the refusal, here,
-- inside the schema's transaction, where nobody else sees it lifted.
DO $$
DECLARE
    v_recusa_ativa boolean := EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'transacoes'::regclass AND tgname = 'transacoes_somente_insercao');
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'transacoes'::regclass AND attname = 'saldo_apos' AND NOT attisdropped) THEN
        ALTER TABLE transacoes ADD COLUMN saldo_apos bigint;
        IF v_recusa_ativa THEN
            ALTER TABLE transacoes DISABLE TRIGGER transacoes_somente_insercao;
        END IF;
        UPDATE transacoes t
           SET saldo_apos = c.saldo - (passos.total - passos.ate_aqui)
          FROM (SELECT id, cliente_id,
                       sum(novo_saldo(0, valor, tipo)) OVER (PARTITION BY cliente_id ORDER BY id) AS ate_aqui,
                       sum(novo_saldo(0, valor, tipo)) OVER (PARTITION BY cliente_id) AS total
                  FROM transacoes) passos
          JOIN clientes c ON c.id = passos.cliente_id
         WHERE t.id = passos.id;
        ALTER TABLE transacoes ALTER COLUMN saldo_apos SET NOT NULL;
        IF v_recusa_ativa THEN
            ALTER TABLE transacoes ENABLE TRIGGER transacoes_somente_insercao;
        END IF;
    END IF;
END $$;

-- The statement reads the newest transactions of one client; this index
-- answers that with a short backward-ordered range scan and no sort.
CREATE INDEX IF NOT EXISTS transacoes_cliente_id_id_desc
    ON transacoes (cliente_id, id DESC);

-- Idempotency keys (the Idempotency-Key header of POST
-- /clientes/{id}/transacoes), scoped per client (and per API key, below): the request each key first
-- came with, to tell a retry from a different request, and the outcome it
-- got, replayed to every retry. A key is written in the same database
-- transaction as the money it moved, so a retry finds both or neither.
-- Kept at least CREBITO_IDEMPOTENCY_RETENTION_S; expirar_chaves()
-- (05-idempotency.sql) removes older ones. The key's own rule (1 to 255
-- visible ASCII characters) is the API's (src/instance/http/validation.ts),
-- repeated here as a CHECK like every other rule; written as a length and a
-- search for any other byte because the regular expression '^[!-~]{1,255}$'
-- measured 30 µs a row (a bounded repetition of 255), a third of what a
-- key costs in a batch.
CREATE TABLE IF NOT EXISTS chaves_idempotencia (
    cliente_id integer     NOT NULL REFERENCES clientes (id),
    chave      text        NOT NULL CONSTRAINT chave_visivel CHECK (octet_length(chave) BETWEEN 1 AND 255 AND chave !~ '[^!-~]'),
    valor      integer     NOT NULL,
    tipo       char(1)     NOT NULL,
    descricao  varchar(10) NOT NULL,
    -- The outcome: 'aplicada' or the refusal's error code, with the limit
    -- and balance the answer carried.
    resultado  text        NOT NULL,
    limite     integer     NOT NULL,
    saldo      bigint      NOT NULL,
    criada_em  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cliente_id, chave)
);

-- With API keys, an idempotency key is the API key's own: two API keys
-- writing to one client may use the same Idempotency-Key without one being
-- answered the other's outcome (or learning that the other used it). The
-- key that made it, 0 for none (keys are numbered from 1); part of the
-- primary key. Added after the table's other columns in every database, so
-- a row of chaves_idempotencia has one shape everywhere (04-batch.sql
-- builds one by position).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                    WHERE attrelid = 'chaves_idempotencia'::regclass AND attname = 'chave_api_id' AND NOT attisdropped) THEN
        ALTER TABLE chaves_idempotencia
            ADD COLUMN chave_api_id integer NOT NULL DEFAULT 0,
            DROP CONSTRAINT chaves_idempotencia_pkey,
            ADD CONSTRAINT chaves_idempotencia_pkey PRIMARY KEY (cliente_id, chave_api_id, chave);
    END IF;
END $$;

-- The expiry job finds old keys by creation time. Keys are written in time
-- order, so a BRIN index (a summary per range of pages) finds them, and
-- costs next to nothing on the insert of every keyed request, where a
-- B-tree measured about 10 µs a key.
CREATE INDEX IF NOT EXISTS chaves_idempotencia_criada_em
    ON chaves_idempotencia USING brin (criada_em);

-- The secret that signs history cursors (06-history.sql), made once per
-- database and never sent anywhere: every instance checks a cursor another
-- one issued, and a cursor outlives restarts. gen_random_uuid() draws from
-- PostgreSQL's strong random source.
CREATE TABLE IF NOT EXISTS segredo_cursor (
    unico   boolean PRIMARY KEY DEFAULT true CHECK (unico),
    segredo bytea   NOT NULL CHECK (octet_length(segredo) = 32)
);
INSERT INTO segredo_cursor (segredo)
VALUES (sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')))
ON CONFLICT (unico) DO NOTHING;

-- What the owner decides and the instances may not: one row, written by the
-- launcher from its settings as the schema's owner (src/stack/owner-settings.ts)
-- and readable by nobody else (07-privileges.sql grants nothing on it).
-- - retencao_chaves_s: how long an idempotency key is kept at least
--   (CREBITO_IDEMPOTENCY_RETENTION_S). expirar_chaves (05-idempotency.sql)
--   reads it here: an instance may trigger the expiry, not shorten it, so a
--   compromised one cannot forget keys early and have a retry applied twice.
-- - chave_api_obrigatoria: every write must be made by an API key in force
--   (CREBITO_AUTH=keys). The transaction functions then refuse a call that
--   names no key, so an instance cannot write outside the keys either.
CREATE TABLE IF NOT EXISTS configuracao (
    unico                 boolean PRIMARY KEY DEFAULT true CHECK (unico),
    retencao_chaves_s     integer NOT NULL DEFAULT 86400 CHECK (retencao_chaves_s BETWEEN 1 AND 2592000),
    chave_api_obrigatoria boolean NOT NULL DEFAULT false
);
INSERT INTO configuracao DEFAULT VALUES ON CONFLICT (unico) DO NOTHING;
