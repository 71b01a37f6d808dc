#!/bin/sh
# docker compose's PostgreSQL runs this once, when its data directory is first
# created (/docker-entrypoint-initdb.d), as the image's superuser (the HA
# profile's ha-schema service runs it too, through HAProxy): the same
# steps the launcher takes for its embedded server. The ledger's roles
# (create.sql), crebito_api's password (CREBITO_API_PASSWORD, which the
# instances' DATABASE_URL carries), the database handed to crebito_owner
# (hand-over.sql), then sql/ applied as crebito_owner, in name order, so the
# schema and its SECURITY DEFINER functions belong to the owner and the
# instances can only call them (07-privileges.sql).
set -eu
SQL=/crebito-sql
as_superuser() { psql -X -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" "$@"; }

as_superuser --dbname postgres -f "$SQL/roles/create.sql"
# From standard input: psql quotes a variable (:'password') there, not in -c.
echo "ALTER ROLE crebito_api PASSWORD :'password'" | as_superuser --dbname postgres -v password="$CREBITO_API_PASSWORD"
as_superuser --dbname "$POSTGRES_DB" -f "$SQL/roles/hand-over.sql"
for file in "$SQL"/*.sql; do
  as_superuser --dbname "$POSTGRES_DB" -c 'SET ROLE crebito_owner' -f "$file"
done
