#!/usr/bin/env bash
# `make bench`: how fast notes-server answers, scenario by scenario, measured with wrk on
# loopback against a release build on a fresh seeded database. Every scenario runs for a fixed
# time, the scenarios take turns (rounds), and the table shows the median of the rounds: req/s,
# p50, p99 and the ratio to GET /.well-known/jwks.json (no auth, no database) of the same run,
# since absolute numbers wander on a shared machine and ratios much less. Not part of CI.
#
#   BENCH_SECONDS=8        seconds per scenario and round
#   BENCH_ROUNDS=3         rounds (each runs every scenario once)
#   BENCH_CONNECTIONS=64   wrk connections (2 threads); login uses 8
#   BENCH_NOTES=200        notes of the bench user, posted before the run (100000 works)
#   BENCH_DATABASE=sqlite  or postgres: a throwaway PostgreSQL (scripts/pg-throwaway.sh)
#   BENCH_BARE=1           also measure Benchmarks/, a bare Hummingbird route with and without
#                          RS256 verification (its own package, built on first use)
#   BENCH_ONLY="me note"   only these scenarios (names as in the table's first column)
#   BENCH_LOG_LEVEL=info   the server's --log-level (its log goes to BENCH_SERVER_LOG or nowhere)
#   BENCH_BCRYPT_COST=12   the server's --bcrypt-cost
#   BENCH_BIN=…            a notes-server to measure instead of building .build/release's
#   BENCH_ALGORITHM=RS256  --jwt-algorithm (HS256 gets a generated secret)
#   BENCH_PROFILE=DIR      in round 1, record each scenario with `perf record -g` (Debian's
#                          linux-perf) into DIR/NAME.data and DIR/NAME.txt (top symbols);
#                          perf's overhead makes that round's numbers worse than usual
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

seconds="${BENCH_SECONDS:-8}"
rounds="${BENCH_ROUNDS:-3}"
connections="${BENCH_CONNECTIONS:-64}"
notes="${BENCH_NOTES:-200}"
database="${BENCH_DATABASE:-sqlite}"
log_level="${BENCH_LOG_LEVEL:-info}"
bcrypt_cost="${BENCH_BCRYPT_COST:-12}"
algorithm="${BENCH_ALGORITHM:-RS256}"
only="${BENCH_ONLY:-}"
login_users=8
password="bench-password-1"

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
scripts/install-deps.sh
if ! command -v wrk >/dev/null 2>&1; then
    echo "installing: wrk" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

bin="${BENCH_BIN:-}"
if [ -z "$bin" ]; then
    echo "bench: building notes-server (release)" >&2
    swift build -c release --product notes-server
    bin="$root/.build/release/notes-server"
fi
bare_bin=""
if [ "${BENCH_BARE:-0}" = "1" ]; then
    echo "bench: building Benchmarks/ (release)" >&2
    (cd Benchmarks && swift build -c release --product bare-server)
    bare_bin="$root/Benchmarks/.build/release/bare-server"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/securenotes-bench.XXXXXX")"
server_pid=""
bare_pid=""
pg_dir=""
background=()
cleanup() {
    for pid in "${background[@]}" $server_pid $bare_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in "${background[@]}" $server_pid $bare_pid; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$pg_dir" ]; then scripts/pg-throwaway.sh stop "$pg_dir" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Waits for the `listening on URL` line a server prints first; prints the URL.
wait_listening() {
    local out="$1" pid="$2" what="$3"
    for _ in $(seq 1200); do
        if grep -q '^listening on' "$out" 2>/dev/null; then
            sed -n 's/^listening on //p' "$out" | head -1
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "bench: $what did not start (run with BENCH_SERVER_LOG=FILE to keep its log)" >&2
    return 1
}

python3 scripts/bench/bench.py seedfile "$work/seed.json" "$password" "$login_users"
args=(--port 0 --data-dir "$work/data" --seed "$work/seed.json" --bcrypt-cost "$bcrypt_cost" --log-level "$log_level"
    --access-token-ttl 1d --jwt-algorithm "$algorithm")
if [ "$algorithm" = "HS256" ]; then export NOTES_JWT_SECRET="$(head -c 48 /dev/urandom | base64)"; fi
if [ "$database" = "postgres" ]; then
    scripts/install-postgres.sh
    # Beside the work folder, not in it: PostgreSQL runs as its own user, which cannot enter
    # the private work folder.
    pg_dir="$(mktemp -u "${TMPDIR:-/tmp}/securenotes-bench-pg.XXXXXX")"
    args+=(--database-url "$(scripts/pg-throwaway.sh start "$pg_dir")")
fi
"$bin" "${args[@]}" >"$work/server.out" 2>"${BENCH_SERVER_LOG:-/dev/null}" &
server_pid=$!
url="$(wait_listening "$work/server.out" "$server_pid" notes-server)"

token="$(python3 scripts/bench/bench.py login "$url" bench "$password")"
writer="$(python3 scripts/bench/bench.py login "$url" writer "$password")"
echo "bench: $url ($database), seeding $notes notes" >&2
start_seed=$(date +%s)
python3 scripts/bench/bench.py seed "$url" "$token" "$notes"
echo "bench: seeded in $(($(date +%s) - start_seed)) s" >&2
note_paths="$(python3 scripts/bench/bench.py paths "$url" "$token")"

bare_url=""
bare_token=""
if [ -n "$bare_bin" ]; then
    "$bare_bin" >"$work/bare.out" 2>/dev/null &
    bare_pid=$!
    bare_url="$(wait_listening "$work/bare.out" "$bare_pid" bare-server)"
    bare_token="$(sed -n 's/^token //p' "$work/bare.out" | head -1)"
fi

export BENCH_LUA_DIR="$root/scripts/bench"
export BENCH_LOGIN_USERS="$login_users" BENCH_LOGIN_PASSWORD="$password"
results="$work/results"
: >"$results"

# name | label | what runs (a function below)
scenarios=(
    "jwks|GET /.well-known/jwks.json"
    "health|GET /health"
    "me|GET /me"
    "note|GET /notes/{id}"
    "list|GET /notes?limit=20"
    "search|GET /notes?q=alpha&limit=20"
    "create|POST /notes"
    "login|POST /auth/login (8 connections)"
    "note-beside-logins|GET /notes/{id} beside 16 logins"
)
if [ -n "$bare_bin" ]; then
    scenarios+=("bare-json|bare Hummingbird route (Benchmarks/)" "bare-jwt|bare route + JWTKit RS256 verify")
fi

# wrk [c] [t] script url, with the scenario's environment already exported.
measure() {
    local c="$1" t="$2" script="$3" target="$4" duration="$5"
    wrk -t"$t" -c"$c" -d"${duration}s" --timeout 10s -s "$BENCH_LUA_DIR/$script" "$target" | grep '^BENCH-RESULT' || true
}

scenario() {
    local name="$1" duration="$2"
    case "$name" in
    jwks) BENCH_TOKEN="" BENCH_PATHS="" measure "$connections" 2 get.lua "$url/.well-known/jwks.json" "$duration" ;;
    health) BENCH_TOKEN="" BENCH_PATHS="" measure "$connections" 2 get.lua "$url/health" "$duration" ;;
    me) BENCH_TOKEN="$token" BENCH_PATHS="" measure "$connections" 2 get.lua "$url/me" "$duration" ;;
    note) BENCH_TOKEN="$token" BENCH_PATHS="$note_paths" measure "$connections" 2 get.lua "$url/" "$duration" ;;
    list) BENCH_TOKEN="$token" BENCH_PATHS="" measure "$connections" 2 get.lua "$url/notes?limit=20" "$duration" ;;
    search) BENCH_TOKEN="$token" BENCH_PATHS="" measure "$connections" 2 get.lua "$url/notes?q=alpha&limit=20" "$duration" ;;
    create) BENCH_TOKEN="$writer" measure "$connections" 2 post-note.lua "$url/notes" "$duration" ;;
    login) measure 8 2 login.lua "$url/auth/login" "$duration" ;;
    note-beside-logins)
        wrk -t1 -c16 -d"${duration}s" --timeout 30s -s "$BENCH_LUA_DIR/login.lua" "$url/auth/login" >/dev/null &
        background=("$!")
        BENCH_TOKEN="$token" BENCH_PATHS="$note_paths" measure "$connections" 1 get.lua "$url/" "$duration"
        wait "${background[0]}" || true
        background=()
        ;;
    bare-json) BENCH_TOKEN="" BENCH_PATHS="" measure "$connections" 2 get.lua "$bare_url/json" "$duration" ;;
    bare-jwt) BENCH_TOKEN="$bare_token" BENCH_PATHS="" measure "$connections" 2 get.lua "$bare_url/jwt" "$duration" ;;
    esac
}

selected=()
for entry in "${scenarios[@]}"; do
    name="${entry%%|*}"
    if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then continue; fi
    selected+=("$name")
    printf 'label\t%s\t%s\n' "$name" "${entry#*|}" >>"$results"
done

echo "bench: warming up" >&2
for name in "${selected[@]}"; do scenario "$name" 1 >/dev/null; done
profile="${BENCH_PROFILE:-}"
if [ -n "$profile" ]; then
    mkdir -p "$profile"
    command -v perf >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
fi
for round in $(seq "$rounds"); do
    for name in "${selected[@]}"; do
        perf_pid=""
        if [ -n "$profile" ] && [ "$round" = 1 ] && [[ "$name" != bare-* ]]; then
            perf record -q -e cpu-clock -F 999 -g -p "$server_pid" -o "$profile/$name.data" -- sleep "$seconds" 2>/dev/null &
            perf_pid=$!
        fi
        line="$(scenario "$name" "$seconds")"
        if [ -n "$perf_pid" ]; then
            wait "$perf_pid" || true
            perf report -i "$profile/$name.data" --no-children --sort dso,sym --percent-limit 0.7 --stdio 2>/dev/null |
                grep -v '^$' | grep -v '^#' | grep -E '^ +[0-9]' >"$profile/$name.txt" || true
            perf report -i "$profile/$name.data" --no-children --sort dso --stdio 2>/dev/null |
                grep -E '^ +[0-9]' >"$profile/$name.dso.txt" || true
        fi
        if [ -z "$line" ]; then echo "bench: wrk gave no result for $name" >&2; exit 1; fi
        printf '%s\t%s\t%s\n' "$name" "$round" "$line" >>"$results"
        printf 'rss\t%s\n' "$(awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status")" >>"$results"
        echo "bench: round $round/$rounds $name: $line" >&2
    done
done

cpu="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
machine="$(nproc) cores ($cpu), $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -sr); $database, $algorithm, $notes notes, \
wrk -t2 -c$connections, $rounds rounds of ${seconds} s, log level $log_level, bcrypt cost $bcrypt_cost; $(date -u +%Y-%m-%d)"
python3 scripts/bench/bench.py report "$results" "$machine"
