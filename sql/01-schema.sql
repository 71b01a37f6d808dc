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
    realizada_em timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The statement reads the newest transactions of one client; this index
-- answers that with a short backward-ordered range scan and no sort.
CREATE INDEX IF NOT EXISTS transacoes_cliente_id_id_desc
    ON transacoes (cliente_id, id DESC);
