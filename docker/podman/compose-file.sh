#!/bin/sh
# Prints docker-compose.yml with the two changes podman 4.3 needs here
# (docs/compose-verification.md): nginx published on 127.0.0.1:PORT (9999 may
# be taken by a local stack), and nginx's nproc named beside its nofile, since
# a service with any ulimit loses containers.conf's default nproc and inherits
# one runc may not set.
#   sh docker/podman/compose-file.sh 19999 > podman-local.yml
set -eu
PORT=$1
sed -e "s/- \"9999:9999\"/- \"127.0.0.1:$PORT:9999\"/" \
    -e '/^        hard: 8192$/a\      nproc:\n        soft: 1000\n        hard: 1000' \
    "$(dirname "$0")/../../docker-compose.yml"
