-- The ledger's tables. This file owns the shape of the data and the money
-- rules that the database itself enforces, whatever code writes to it.
--
-- Every statement is idempotent, so applying the file to a database that
-- already holds data changes nothing and loses nothing.

CREATE TABLE IF NOT EXISTS clientes (
    id     integer PRIMARY KEY,
    limite integer NOT NULL CHECK (limite >= 0),
    -- bigint so that a long run of large credits cannot overflow the column;
    -- the upper bound keeps every balance exact as a JSON number.
    saldo  bigint  NOT NULL DEFAULT 0,
    CONSTRAINT saldo_acima_do_limite CHECK (saldo >= -limite),
    CONSTRAINT saldo_representavel CHECK (saldo <= 9007199254740991)
);

CREATE TABLE IF NOT EXISTS transacoes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cliente_id   integer     NOT NULL REFERENCES clientes (id),
    valor        integer     NOT NULL CHECK (valor > 0),
    tipo         char(1)     NOT NULL CHECK (tipo IN ('c', 'd')),
    -- char_length counts characters (code points), as the contract does.
    descricao    varchar(10) NOT NULL CHECK (char_length(descricao) BETWEEN 1 AND 10),
    realizada_em timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The statement reads the newest ten transactions of one client; this index
-- answers that with a short backward-ordered range scan and no sort.
CREATE INDEX IF NOT EXISTS transacoes_cliente_id_id_desc
    ON transacoes (cliente_id, id DESC);
