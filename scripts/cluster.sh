#!/usr/bin/env bash
# SecureNotes as a cluster on loopback: a throwaway PostgreSQL, three notes-server replicas
# sharing it, and nginx in front as the load balancer (round robin, passive health checks,
# a non-idempotent request never retried on another replica). Prints the one URL to use as
# its last stdout line, `listening on http://127.0.0.1:PORT`; Ctrl-C (or SIGTERM) stops
# everything it started, by PID, and removes its temporary folder.
#
#   scripts/cluster.sh [--port N] [--bcrypt-cost N] [--seed FILE|none] [--replicas N]
#   make cluster          (the same, with the defaults)
#
# Settings (a flag beats the variable):
#   --port, NOTES_CLUSTER_PORT=8080          nginx's port, the one URL to use; 0 picks a free one
#   --bcrypt-cost, NOTES_CLUSTER_BCRYPT_COST=12
#   --seed, NOTES_CLUSTER_SEED=Seeds/demo.json   loaded once, by the first replica; none: no seed
#   --replicas, NOTES_CLUSTER_REPLICAS=3
#   NOTES_CLUSTER_TTL=15m                    access-token lifetime
#   NOTES_CLUSTER_KEY_PUBLISH_DELAY=5m       how long a rotated key is published before it signs
#   NOTES_CLUSTER_DATABASE_URL=              use this PostgreSQL database instead of a throwaway one
#   NOTES_CLUSTER_BIN=                       a folder with notes-server already built (skips the build)
#   NOTES_CLUSTER_STATE=.cluster             where database-url is written while it runs (for notes-server keys)
set -euo pipefail

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi

# A shell cannot trap a signal that was ignored when it started (as under nohup, or from some
# process supervisors): start again with the default dispositions, so Ctrl-C and SIGTERM
# always reach the cleanup below.
if [ -z "${NOTES_CLUSTER_SIGNALS_RESET:-}" ]; then
    export NOTES_CLUSTER_SIGNALS_RESET=1
    exec env --default-signal=INT,TERM,HUP bash "$0" "$@"
fi

cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${NOTES_CLUSTER_PORT:-8080}
COST=${NOTES_CLUSTER_BCRYPT_COST:-12}
SEED=${NOTES_CLUSTER_SEED:-$ROOT/Seeds/demo.json}
REPLICAS=${NOTES_CLUSTER_REPLICAS:-3}
TTL=${NOTES_CLUSTER_TTL:-15m}
PUBLISH_DELAY=${NOTES_CLUSTER_KEY_PUBLISH_DELAY:-5m}
STATE=${NOTES_CLUSTER_STATE:-$ROOT/.cluster}
while [ $# -gt 0 ]; do
    case "$1" in
    --port) PORT=${2:?--port takes a number}; shift 2 ;;
    --bcrypt-cost) COST=${2:?--bcrypt-cost takes a number}; shift 2 ;;
    --seed) SEED=${2:?--seed takes a file or none}; shift 2 ;;
    --replicas) REPLICAS=${2:?--replicas takes a number}; shift 2 ;;
    *) echo "cluster: unknown argument '$1' (see scripts/cluster.sh --help)" >&2; exit 64 ;;
    esac
done

say() { printf '%s\n' "$*" >&2; }
die() { say "cluster: $*"; exit 1; }

# Everything this script starts, stopped by PID however it ends.
DIR=""
PG_DIR=""
NGINX_PID=""
REPLICA_PIDS=()
stop_all() {
    trap - EXIT INT TERM HUP
    set +e
    [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null
    for pid in "${REPLICA_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    # Replicas drain (in-flight requests finish); a stuck one is killed after 15 s.
    for pid in "$NGINX_PID" "${REPLICA_PIDS[@]}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    [ -n "$PG_DIR" ] && "$ROOT/scripts/pg-throwaway.sh" stop "$PG_DIR"
    [ -n "$DIR" ] && rm -rf "$DIR"
    [ -n "$DIR" ] && rm -f "$STATE/database-url"
    say "cluster: stopped"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

if [ "$PORT" != 0 ] && port_answers "$PORT"; then
    die "port $PORT is already in use (make demo, or another cluster?); use --port 9090 (or NOTES_CLUSTER_PORT), or 0 for any free port"
fi

# 1. What is missing: PostgreSQL's binaries, nginx, openssl (apt-get, only when absent).
"$ROOT/scripts/install-postgres.sh"
"$ROOT/scripts/install-cluster-deps.sh"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# 2. The server, built unless given.
if [ -n "${NOTES_CLUSTER_BIN:-}" ]; then
    BIN=$NOTES_CLUSTER_BIN
else
    say "cluster: building notes-server (swift build)…"
    swift build --product notes-server >&2
    BIN=$(swift build --show-bin-path)
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/securenotes-cluster.XXXXXX")
chmod 700 "$DIR"

# 3. The database: a throwaway PostgreSQL cluster, unless one is given.
if [ -n "${NOTES_CLUSTER_DATABASE_URL:-}" ]; then
    DATABASE_URL=$NOTES_CLUSTER_DATABASE_URL
else
    # A folder of its own: as root, PostgreSQL runs as the postgres user, who cannot enter $DIR.
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/securenotes-cluster-pg.XXXXXX")
    DATABASE_URL=$("$ROOT/scripts/pg-throwaway.sh" start "$PG_DIR")
fi
(umask 077 && printf '%s\n' "$DATABASE_URL" >"$DIR/database-url")
# Also where `notes-server keys` can find it (it holds the database password: 0600, in a 0700
# folder that git ignores).
(umask 077 && mkdir -p "$STATE" && chmod 700 "$STATE" && cp "$DIR/database-url" "$STATE/database-url")

# 4. No key files: the first replica makes the key ring in the database, and every replica
#    signs and verifies with it (so whoever can read the database can mint tokens).

# 5. The replicas, each in its own session (Ctrl-C reaches only this script, which stops
#    them in order). The first one migrates and loads the seeds; the others start after it.
SETSID=""
command -v setsid >/dev/null 2>&1 && SETSID="setsid"
start_replica() {
    local n=$1 seed_args=()
    if [ "$n" = 1 ] && [ "$SEED" != none ]; then seed_args=(--seed "$SEED"); fi
    $SETSID "$BIN/notes-server" --hostname 127.0.0.1 --port 0 --metrics-port 0 \
        --database-url "$DATABASE_URL" --data-dir "$DIR/replica-$n" \
        --jwt-algorithm RS256 --key-publish-delay "$PUBLISH_DELAY" \
        --bcrypt-cost "$COST" --access-token-ttl "$TTL" "${seed_args[@]}" \
        >"$DIR/replica-$n.out" 2>"$DIR/replica-$n.log" </dev/null &
    REPLICA_PIDS+=("$!")
}
wait_replica() {
    local n=$1 pid=${REPLICA_PIDS[$(($1 - 1))]}
    for _ in $(seq 1 1200); do
        if grep -q '^metrics on ' "$DIR/replica-$n.out" 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || { cat "$DIR/replica-$n.log" >&2; die "replica $n exited before listening"; }
        sleep 0.1
    done
    die "replica $n did not start within 120 s (log: $DIR/replica-$n.log)"
}
start_replica 1
wait_replica 1
for n in $(seq 2 "$REPLICAS"); do start_replica "$n"; done
for n in $(seq 2 "$REPLICAS"); do wait_replica "$n"; done

UPSTREAMS=""
for n in $(seq 1 "$REPLICAS"); do
    address=$(sed -n 's|^listening on http://||p' "$DIR/replica-$n.out")
    metrics=$(sed -n 's|^metrics on ||p' "$DIR/replica-$n.out")
    printf 'replica %s: http://%s pid %s metrics %s\n' "$n" "$address" "${REPLICA_PIDS[$((n - 1))]}" "$metrics"
    # Passive health checks: a replica that fails to answer is left out for 5 s.
    UPSTREAMS+="        server $address max_fails=1 fail_timeout=5s;"$'\n'
done

# 6. nginx, with a config of its own, as an ordinary foreground process (never the service).
write_nginx_conf() {
    mkdir -p "$DIR/nginx/tmp"
    cat >"$DIR/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log warn;
events { worker_connections 1024; }
http {
    server_tokens off;
    log_format notes '\$remote_addr [\$time_iso8601] "\$request" \$status \$request_id upstream=\$upstream_addr/\$upstream_status';
    access_log $DIR/nginx/access.log notes;
    client_body_temp_path $DIR/nginx/tmp/body;
    proxy_temp_path $DIR/nginx/tmp/proxy;
    fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
    uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
    scgi_temp_path $DIR/nginx/tmp/scgi;
    # The balancer's id follows the request, unless the client sent one.
    map \$http_x_request_id \$notes_request_id {
        default \$http_x_request_id;
        ""      \$request_id;
    }
    upstream notes {
        # Round robin (nginx's default).
$UPSTREAMS    }
    server {
        listen 127.0.0.1:$1;
        # Bodies are kept in memory; the replicas refuse what is over 1 MiB with the contract's 413.
        client_max_body_size 2m;
        client_body_buffer_size 2m;
        location / {
            proxy_pass http://notes;
            proxy_set_header Host \$host;
            proxy_set_header X-Request-Id \$notes_request_id;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_max_temp_file_size 0;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            # Try another replica when one cannot be reached, but never for a request that was
            # already sent if it is not idempotent (no "non_idempotent" here): a POST is never
            # applied twice.
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
        }
    }
}
EOF
}
for attempt in 1 2 3 4 5; do
    listen=$PORT
    [ "$PORT" = 0 ] && listen=$(free_port)
    write_nginx_conf "$listen"
    $SETSID "$NGINX" -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" </dev/null >>"$DIR/nginx/stdout.log" 2>&1 &
    NGINX_PID=$!
    for _ in $(seq 1 100); do
        if curl -sf "http://127.0.0.1:$listen/health" >/dev/null 2>&1; then break 2; fi
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
    [ "$PORT" = 0 ] || { cat "$DIR/nginx/error.log" >&2; die "nginx could not serve on port $PORT"; }
done
[ -n "$NGINX_PID" ] || { cat "$DIR/nginx/error.log" >&2; die "nginx could not start"; }

say "cluster: $REPLICAS replicas behind nginx; logs and config in $DIR; Ctrl-C stops everything"
say "cluster: the key ring: NOTES_DATABASE_URL=\$(cat $STATE/database-url) notes-server keys list"
printf 'listening on http://127.0.0.1:%s\n' "$listen"

# 7. Run until a signal (or until nginx itself stops).
wait "$NGINX_PID" || true
NGINX_PID=""
die "nginx stopped"
