#!/usr/bin/env bash
# A local PgBouncer in transaction pooling mode in front of the local PostgreSQL, for the tests of
# VERITY_DB_PREPARED_STATEMENTS=false (test/pgbouncer.login-path.test.ts) and for trying the mode by hand:
#   scripts/pgbouncer.sh start   # idempotent; prints the URL to use, e.g. postgresql://postgres@127.0.0.1:6432/DB
#   scripts/pgbouncer.sh stop    # idempotent
# Settings (environment): PGBOUNCER_PORT (6432), PGBOUNCER_UPSTREAM (host=127.0.0.1 port=5432),
# PGBOUNCER_DIR (where the config, pid file and log live; default a directory under the system temp dir).
set -euo pipefail
port=${PGBOUNCER_PORT:-6432}
upstream=${PGBOUNCER_UPSTREAM:-host=127.0.0.1 port=5432}
dir=${PGBOUNCER_DIR:-${TMPDIR:-/tmp}/verity-pgbouncer-$port}
pidfile=$dir/pgbouncer.pid
bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

running() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
answers() { pg_isready -q -h 127.0.0.1 -p "$port" -d postgres 2>/dev/null; }

case "${1:-}" in
  start)
    if running && answers; then echo "postgresql://postgres@127.0.0.1:$port/"; exit 0; fi
    [ -x "$bin" ] || { echo "pgbouncer is not installed (Debian: apt-get install pgbouncer)" >&2; exit 1; }
    mkdir -p "$dir"
    # Transaction pooling: a server connection is lent for one transaction (or one statement outside
    # one), so named prepared statements, session SETs and session advisory locks do not survive it.
    # "*" forwards every database name to the same server: test files use per-file cloned databases.
    # statement_timeout is a startup parameter node-postgres sends (src/db/pg-pool.ts); PgBouncer
    # 1.18 refuses unknown startup parameters, so it is ignored here and the server-side timeout must
    # come from the role or database (docs/operations.md "Behind PgBouncer").
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = $upstream

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = 8
max_client_conn = 2000
ignore_startup_parameters = statement_timeout,extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $pidfile
INI
    echo '"postgres" ""' >"$dir/userlist.txt"
    args=(-d "$dir/pgbouncer.ini")
    # PgBouncer refuses to run as root ("should not run as root"): drop to the postgres user then.
    if [ "$(id -u)" = 0 ]; then
      chown -R postgres "$dir"
      args=(-u postgres "${args[@]}")
    fi
    "$bin" "${args[@]}"
    for _ in $(seq 1 50); do answers && break; sleep 0.1; done
    answers || { echo "pgbouncer did not answer on 127.0.0.1:$port; log: $dir/pgbouncer.log" >&2; tail -5 "$dir/pgbouncer.log" >&2 || true; exit 1; }
    echo "postgresql://postgres@127.0.0.1:$port/"
    ;;
  stop)
    if running; then
      pid=$(cat "$pidfile")
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
