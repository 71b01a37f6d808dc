#!/bin/bash
# Local stand-ins for the images docker-compose.yml names, for checking the
# compose stack with podman on a machine with no Docker engine and no image
# registry (docs/compose-verification.md). Not used by npm test.
#
#   bash docker/podman/images.sh WORK_DIR NGINX_SOURCE_DIR
#
# WORK_DIR holds the Debian root file systems (about 1.5 GB); NGINX_SOURCE_DIR
# is an nginx 1.27.5 source tree (its release-1.27.5 tag): Debian bookworm's
# nginx is 1.22, which has no `server ... resolve`, the feature under test.
# Needs: podman, debootstrap, build-essential, libpcre2-dev, zlib1g-dev, and
# CONTAINERS_CONF naming a file that selects runc (see the doc).
set -euo pipefail
WORK=$1
NGINX_SOURCE=$2
HERE=$(cd "$(dirname "$0")" && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Runs a command inside a root file system, with /proc for package scripts.
in_root() { local root=$1; shift; mount -t proc proc "$root/proc"; local rc=0; chroot "$root" "$@" || rc=$?; umount "$root/proc"; return $rc; }
# A copy of the base system to install into; services never start in it.
prepare() {
  rm -rf "${WORK:?}/$1"; cp -a "$WORK/rootfs" "$WORK/$1"
  printf '#!/bin/sh\nexit 101\n' > "$WORK/$1/usr/sbin/policy-rc.d"; chmod +x "$WORK/$1/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$WORK/$1/etc/resolv.conf"
}
finish() { rm -f "$WORK/$1/usr/sbin/policy-rc.d"; rm -rf "$WORK/$1"/var/lib/apt/lists/*; : > "$WORK/$1/etc/resolv.conf"; }
apt_install() { in_root "$WORK/$1" bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $2 >/dev/null"; }

mkdir -p "$WORK"
[ -d "$WORK/rootfs/usr" ] || debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR"
tar -C "$WORK/rootfs" -c . | podman import - localhost/debian:bookworm >/dev/null
podman tag localhost/debian:bookworm localhost/debian:bookworm-slim

# node:20-bookworm-slim: this machine's Node 20 and npm, a node user (uid 1000),
# and the machine's CA bundle (npm ci in the build meets an intercepting proxy).
prepare node
cp /usr/bin/node "$WORK/node/usr/bin/node"
mkdir -p "$WORK/node/usr/lib/node_modules" && cp -a /usr/lib/node_modules/npm "$WORK/node/usr/lib/node_modules/"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$WORK/node/usr/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$WORK/node/usr/bin/npx"
mkdir -p "$WORK/node/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$WORK/node/etc/ssl/certs/"
chroot "$WORK/node" groupadd -g 1000 node; chroot "$WORK/node" useradd -u 1000 -g node -m -s /bin/bash node
finish node
tar -C "$WORK/node" -c . | podman import -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  -c 'ENV npm_config_cafile=/etc/ssl/certs/ca-certificates.crt' -c 'CMD ["node"]' - localhost/node:20-bookworm-slim >/dev/null

# nginx:1.27.5-alpine: nginx built with the official image's paths and user, plus wget for its health check.
(cd "$NGINX_SOURCE" && ./auto/configure --prefix=/etc/nginx --sbin-path=/usr/sbin/nginx --conf-path=/etc/nginx/nginx.conf \
  --error-log-path=/var/log/nginx/error.log --http-log-path=/var/log/nginx/access.log --pid-path=/var/run/nginx.pid \
  --http-client-body-temp-path=/var/cache/nginx/client_temp --http-proxy-temp-path=/var/cache/nginx/proxy_temp \
  --http-fastcgi-temp-path=/var/cache/nginx/fastcgi_temp --http-uwsgi-temp-path=/var/cache/nginx/uwsgi_temp \
  --http-scgi-temp-path=/var/cache/nginx/scgi_temp --user=nginx --group=nginx >/dev/null && make -j2 >/dev/null)
prepare nginx
apt_install nginx 'wget libpcre2-8-0 zlib1g'
(cd "$NGINX_SOURCE" && make install DESTDIR="$WORK/nginx" >/dev/null)
chroot "$WORK/nginx" groupadd -r nginx; chroot "$WORK/nginx" useradd -r -g nginx -s /usr/sbin/nologin nginx
mkdir -p "$WORK/nginx/var/cache/nginx" "$WORK/nginx/var/log/nginx"
ln -sf /dev/stdout "$WORK/nginx/var/log/nginx/access.log"; ln -sf /dev/stderr "$WORK/nginx/var/log/nginx/error.log"
finish nginx
tar -C "$WORK/nginx" -c . | podman import -c 'CMD ["nginx", "-g", "daemon off;"]' -c 'STOPSIGNAL SIGQUIT' - localhost/nginx:1.27.5-alpine >/dev/null

# postgres:18-alpine (and 15-alpine): Debian's PostgreSQL 15, with an entrypoint
# that does what the official image's does for this compose file.
prepare postgres
mkdir -p "$WORK/postgres/etc/postgresql-common" && echo 'create_main_cluster = false' > "$WORK/postgres/etc/postgresql-common/createcluster.conf"
apt_install postgres postgresql-15
install -m 0755 "$HERE/pg-entrypoint.sh" "$WORK/postgres/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$WORK/postgres/docker-entrypoint-initdb.d"
finish postgres
tar -C "$WORK/postgres" -c . | podman import -c 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV PGDATA=/var/lib/postgresql/data' -c 'ENTRYPOINT ["docker-entrypoint.sh"]' -c 'CMD ["postgres"]' -c 'STOPSIGNAL SIGINT' \
  - localhost/postgres:18-alpine >/dev/null
podman tag localhost/postgres:18-alpine localhost/postgres:15-alpine
podman images
