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

-- Characters a descricao may not hold: controls (C0, DEL, C1), the format
-- characters that change how text around them shows or hide themselves
-- (zero widths, joiners, bidirectional overrides and isolates, the byte
-- order mark, soft hyphen, tags...), every other code point Unicode says
-- renders as nothing (Default_Ignorable_Code_Point: the combining grapheme
-- joiner, variation selectors, so an emoji's presentation selector too, as
-- its joiner already was), line and paragraph separators, the Hangul
-- fillers that render as blanks, and the two noncharacters of the basic
-- plane. Stored, they would make a statement show text unlike what
-- was stored. The instance refuses the same set with 422 before any call
-- (INVISIBLE_CHARACTERS in src/instance/http/validation.ts; a test compares
-- them code point by code point). Ordinary spaces stay: the contract takes
-- any string of 1 to 10 characters, and a space shows as one.
CREATE OR REPLACE FUNCTION descricao_valida(p_descricao text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT char_length(p_descricao) BETWEEN 1 AND 10
       AND p_descricao !~ ('[\u0001-\u001f\u007f-\u009f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f'
                           '\u0890-\u0891\u08e2\u115f-\u1160\u17b4-\u17b5\u180b-\u180f\u200b-\u200f'
                           '\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\ufffe-\uffff'
                           '\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a'
                           '\U000e0000-\U000e0fff]')
$$;

-- Whether one transaction's arguments are ones the API could have sent: a
-- client id, an amount of at least 1 (the column is an integer, so at most
-- its largest), a credit or a debit, a valid description. NULL anywhere is
-- not valid. The transaction functions refuse a call that breaks this with
-- SQLSTATE 22023 before touching anything: only a bug or a caller that is
-- not the API sends one (the instance validates every request first).
CREATE OR REPLACE FUNCTION transacao_valida(p_cliente_id integer, p_valor integer, p_tipo text, p_descricao text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(p_cliente_id IS NOT NULL AND p_valor > 0 AND p_tipo IN ('c', 'd')
                    AND descricao_valida(p_descricao), false)
$$;

-- Whether an array argument of a batch has the batch's shape: one
-- dimension, subscripts from 1, p_tamanho elements. The batch is decided
-- by position 1..n and written by unnest, which ignores subscripts: an
-- array starting at 0, or with two dimensions, would pair one
-- transaction's money with another's record.
CREATE OR REPLACE FUNCTION vetor_do_lote(p_vetor anyarray, p_tamanho integer) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_ndims(p_vetor) = 1 AND array_lower(p_vetor, 1) = 1
                    AND cardinality(p_vetor) = p_tamanho, false)
$$;

-- The most transactions one batch call takes: CREBITO_BATCH_SIZE_MAX's
-- largest value (src/shared/settings.ts; held to it by a test).
CREATE OR REPLACE FUNCTION lote_maximo() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 1000 $$;

-- The longest a keyed call may wait for another call holding its key:
-- CREBITO_IDEMPOTENCY_WAIT_MS_MAX's largest value (held to it by a test).
CREATE OR REPLACE FUNCTION espera_maxima_ms() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 600000 $$;

-- An idempotency key's rule (1 to 255 visible ASCII characters), as the
-- chave_visivel CHECK of chaves_idempotencia (01-schema.sql) writes it.
CREATE OR REPLACE FUNCTION chave_valida(p_chave text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT coalesce(octet_length(p_chave) BETWEEN 1 AND 255 AND p_chave !~ '[^!-~]', false) $$;
