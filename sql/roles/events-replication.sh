#!/bin/sh
# docker compose's PostgreSQL runs this once, when its data directory is first
# created, after docker-init.sh: the `events` profile's publisher reads the
# ledger's replication slot over the compose network as the image's
# superuser, and a replication connection needs a pg_hba line of its own
# ("all" databases does not cover it).
set -eu
echo "host replication $POSTGRES_USER all scram-sha-256" >> "$PGDATA/pg_hba.conf"
