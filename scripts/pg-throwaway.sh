#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, the cluster script and benchmarks: never the
# system service. `start DIR` makes DIR (a new, empty folder), runs initdb there on a free
# loopback port, starts the server, creates the database `notes` and prints its URL (the
# user `notes` is the cluster's superuser); `stop DIR` stops it and removes DIR; `pause` and
# `resume` stop and restart it in place. As root, PostgreSQL runs as the `postgres` system
# user (it refuses to run as root).
set -euo pipefail

# The server outlives this script: it must not inherit any descriptor but 0-2 (a caller's pipe
# would never see end-of-file while PostgreSQL runs).
for fd in /proc/$$/fd/*; do
    fd="${fd##*/}"
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
done

find_bin() {
    if [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ]; then echo "$PG_BIN"; return; fi
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
    done
    echo "pg-throwaway: no PostgreSQL server binaries (initdb); install Debian's postgresql package" >&2
    exit 1
}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "${1:-}" in
start)
    dir="${2:?usage: pg-throwaway.sh start DIR}"
    bin="$(find_bin)"
    mkdir -p "$dir"
    password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    printf '%s\n' "$password" > "$dir/pwfile"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/false postgres
        chown -R postgres "$dir"
    fi
    chmod 700 "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U notes --pwfile="$dir/pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$dir/pwfile"
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null; then
            printf '%s\n' "$port" > "$dir/port"
            as_owner "$bin/createdb" -h "$dir" -p "$port" -U notes notes
            printf 'postgres://notes:%s@127.0.0.1:%s/notes?sslmode=disable\n' "$password" "$port" > "$dir/url"
            cat "$dir/url"
            exit 0
        fi
    done
    cat "$dir/server.log" >&2
    exit 1
    ;;
pause)
    # Stops the server but keeps its folder, to test a database that goes away.
    dir="${2:?usage: pg-throwaway.sh pause DIR}"
    as_owner "$(find_bin)/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    ;;
resume)
    # Starts a paused server again, on the port it had.
    dir="${2:?usage: pg-throwaway.sh resume DIR}"
    port="$(cat "$dir/port")"
    as_owner "$(find_bin)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null
    ;;
stop)
    dir="${2:?usage: pg-throwaway.sh stop DIR}"
    if [ -f "$dir/data/postmaster.pid" ]; then
        bin="$(find_bin)"
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || {
            pid="$(head -1 "$dir/data/postmaster.pid" 2>/dev/null || true)"
            [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
        }
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg-throwaway.sh start|pause|resume|stop DIR" >&2
    exit 64
    ;;
esac
