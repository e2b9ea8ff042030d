#!/usr/bin/env bash
# Start the services NetPulse's scale-out mode and its tests use, on 127.0.0.1, idempotently:
#   PostgreSQL :5432 (the machine's cluster, trust auth), role and database `netpulse`;
#   PgBouncer  :6432 in transaction pooling mode (installed from Debian if missing), run as
#              user postgres with its config under $NETPULSE_SERVICES_DIR/pgbouncer;
#   Redis      :6379 without persistence.
# Safe to run again: each step checks first and only acts when something is missing or down.
# Prints one line per service.
set -euo pipefail

DIR="${NETPULSE_SERVICES_DIR:-/tmp/netpulse-services}"
PGB_DIR="$DIR/pgbouncer"
PG_PORT=5432
PGB_PORT=6432
REDIS_PORT=6379

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # wait_for NAME CMD...: retry CMD for up to 15 s
    local name=$1
    shift
    for _ in $(seq 1 150); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "services.sh: $name did not come up" >&2
    return 1
}

psql_admin() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtAX "$@"; }

install_pgbouncer() {
    if command -v pgbouncer >/dev/null 2>&1; then return 0; fi
    echo "services.sh: installing pgbouncer (Debian package)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
}

start_postgres() {
    if ! listening "$PG_PORT"; then
        local version
        version=$(ls /etc/postgresql | sort -V | tail -n1)
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
        wait_for postgresql pg_isready -h 127.0.0.1 -p "$PG_PORT"
    fi
    wait_for postgresql psql_admin -c "SELECT 1"
    if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'netpulse'")" != "1" ]; then
        psql_admin -c "CREATE ROLE netpulse LOGIN CREATEDB"
    fi
    if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'netpulse'")" != "1" ]; then
        psql_admin -c "CREATE DATABASE netpulse OWNER netpulse"
    fi
    echo "postgresql: 127.0.0.1:$PG_PORT (role and database netpulse)"
}

write_pgbouncer_config() {
    mkdir -p "$PGB_DIR"
    cat >"$PGB_DIR/pgbouncer.ini" <<EOF
; Written by scripts/services.sh: transaction pooling in front of the local PostgreSQL.
[databases]
netpulse = host=127.0.0.1 port=$PG_PORT dbname=netpulse
; Any other database name (e.g. a test's fresh database) goes to the same server.
* = host=127.0.0.1 port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
pool_mode = transaction
max_client_conn = 20000
default_pool_size = 10
auth_type = trust
auth_file = $PGB_DIR/userlist.txt
ignore_startup_parameters = extra_float_digits
admin_users = postgres
logfile = $PGB_DIR/pgbouncer.log
pidfile = $PGB_DIR/pgbouncer.pid
EOF
    printf '"netpulse" ""\n"postgres" ""\n' >"$PGB_DIR/userlist.txt"
    chown -R postgres:postgres "$DIR"
}

start_pgbouncer() {
    install_pgbouncer
    write_pgbouncer_config
    if ! listening "$PGB_PORT"; then
        su postgres -s /bin/sh -c "ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null; pgbouncer -d $PGB_DIR/pgbouncer.ini"
        wait_for pgbouncer psql -h 127.0.0.1 -p "$PGB_PORT" -U netpulse -d netpulse -qtAX -c "SELECT 1"
    fi
    echo "pgbouncer: 127.0.0.1:$PGB_PORT (pool_mode=transaction, config $PGB_DIR/pgbouncer.ini)"
}

start_redis() {
    if ! listening "$REDIS_PORT"; then
        redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
        wait_for redis redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
    fi
    echo "redis: 127.0.0.1:$REDIS_PORT"
}

start_postgres
start_pgbouncer
start_redis
