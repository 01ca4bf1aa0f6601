#!/usr/bin/env bash
# PgBouncer 1.21+ in transaction pooling mode with prepared-statement support
# (as Neon's pooled endpoint runs), on 127.0.0.1:6432 in front of the local
# PostgreSQL. Debian 12 ships 1.18, which lacks max_prepared_statements, so
# this builds Debian trixie's source package (about a minute) and keeps the
# binary in a cache directory for later runs.
#
#   scripts/pgbouncer.sh start|stop
# Then: TEST_DATABASE_URL=postgres://postgres@127.0.0.1:6432/test cargo test
set -euo pipefail
CACHE="${PGBOUNCER_CACHE:-/var/tmp/todo-api-pgbouncer}"
PORT="${PGBOUNCER_PORT:-6432}"
BIN="$CACHE/pgbouncer"
RUN="$CACHE/run"

build() {
  [ -x "$BIN" ] && "$BIN" --version | grep -qE 'PgBouncer 1\.(2[1-9]|[3-9][0-9])' && return
  export DEBIAN_FRONTEND=noninteractive
  dpkg -s libevent-dev pkg-config build-essential libssl-dev >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq libevent-dev pkg-config build-essential libssl-dev >/dev/null; }
  local apt="$CACHE/apt" src
  mkdir -p "$apt/lists/partial" "$CACHE/src"
  # A private source list for trixie, on the machine's own Debian mirror.
  local mirror
  mirror="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -oE 'https?://[^ ]*debian/?$' | head -n 1 || true)"
  echo "deb-src ${mirror:-http://deb.debian.org/debian} trixie main" > "$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
              -o "Dir::State::Lists=$apt/lists" -o "APT::Get::Only-Source=true")
  apt-get "${opts[@]}" update -qq
  (cd "$CACHE/src" && apt-get "${opts[@]}" source --download-only pgbouncer >/dev/null)
  src="$(ls -d "$CACHE"/src/pgbouncer_*.orig.tar.* | head -n 1)"
  rm -rf "$CACHE/build" && mkdir -p "$CACHE/build"
  tar -xf "$src" -C "$CACHE/build" --strip-components=1
  (cd "$CACHE/build" && ./configure --without-cares --without-pam --without-systemd >/dev/null && make -s -j"$(nproc)" >/dev/null)
  cp "$CACHE/build/pgbouncer" "$BIN"
}

start() {
  build
  mkdir -p "$RUN"
  cat > "$RUN/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
auth_type = trust
auth_file = $RUN/users.txt
pool_mode = transaction
max_prepared_statements = 200
max_client_conn = 2000
; Tests use a database each: keep server connections per database few and
; short-lived, and their total under PostgreSQL's max_connections.
default_pool_size = 5
max_user_connections = 50
server_idle_timeout = 5
unix_socket_dir =
logfile = $RUN/pgbouncer.log
pidfile = $RUN/pgbouncer.pid
admin_users = postgres
INI
  # TLS towards clients when the machine has a certificate (Debian's snakeoil,
  # as PostgreSQL here uses): sslmode=require URLs (Neon's) work through it.
  if [ -r /etc/ssl/private/ssl-cert-snakeoil.key ] || [ "$(id -u)" = 0 ]; then
    if [ -f /etc/ssl/certs/ssl-cert-snakeoil.pem ]; then
      cp /etc/ssl/certs/ssl-cert-snakeoil.pem "$RUN/server.crt"
      cp /etc/ssl/private/ssl-cert-snakeoil.key "$RUN/server.key"
      chmod 600 "$RUN/server.key"
      printf 'client_tls_sslmode = allow\nclient_tls_cert_file = %s\nclient_tls_key_file = %s\n' \
        "$RUN/server.crt" "$RUN/server.key" >> "$RUN/pgbouncer.ini"
    fi
  fi
  printf '"postgres" ""\n"root" ""\n' > "$RUN/users.txt"
  stop 2>/dev/null || true
  # PgBouncer refuses to run as root; use the postgres account when we are root.
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres "$RUN"
    su postgres -s /bin/sh -c "'$BIN' -d '$RUN/pgbouncer.ini'"
  else
    "$BIN" -d "$RUN/pgbouncer.ini"
  fi
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p "$PORT" && break; sleep 0.1; done
  pg_isready -h 127.0.0.1 -p "$PORT"
  "$BIN" --version
}

stop() {
  pkill -f "$BIN -d" 2>/dev/null || true
  for _ in $(seq 1 50); do pgrep -f "$BIN -d" >/dev/null || break; sleep 0.1; done
  rm -f "$RUN/pgbouncer.pid"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
