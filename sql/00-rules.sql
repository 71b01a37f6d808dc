-- The money rules, each written once. The schema's CHECK constraints
-- (01-schema.sql) and both transaction functions (03-functions.sql,
-- 04-batch.sql) call these, so a rule cannot be changed in one place and
-- not in another. Every function here is IMMUTABLE or STABLE and written in
-- SQL, so PostgreSQL inlines it where it is called.

-- The largest balance stored: 2^53 - 1, the largest integer a JSON number
-- carries exactly (JavaScript clients read every balance as a double).
CREATE OR REPLACE FUNCTION saldo_maximo() RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 9007199254740991::bigint $$;

-- The balance after one transaction: a credit adds, a debit subtracts.
CREATE OR REPLACE FUNCTION novo_saldo(p_saldo bigint, p_valor integer, p_tipo text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN p_tipo = 'c' THEN p_saldo + p_valor ELSE p_saldo - p_valor END $$;

-- Why a balance is not allowed, or NULL when it is. The reasons are error
-- codes of the API's catalogue (src/shared/failures.ts); test/database/sql-facts.test.ts
-- holds the two together.
CREATE OR REPLACE FUNCTION recusa(p_saldo bigint, p_limite integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_saldo < -p_limite THEN 'limite_excedido'
                WHEN p_saldo > saldo_maximo() THEN 'saldo_excedido'
           END
$$;

-- Times as the API writes them: ISO 8601, UTC, microseconds. STABLE rather
-- than IMMUTABLE only because to_char is.
CREATE OR REPLACE FUNCTION iso_utc(p_momento timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT to_char(p_momento AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;
