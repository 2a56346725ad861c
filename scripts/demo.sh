#!/usr/bin/env bash
# The demo: a notes-server on the demo seeds (short access-token TTL, so a refresh happens
# within a minute of use) and the notes REPL pointed at it. The server stops when the REPL
# exits, Ctrl-D, quit, or a signal. Everything lives in ./demo-data (git-ignored).
#
#   bash scripts/demo.sh            (what `make demo` runs)
#   NOTES_DEMO_TTL=10s NOTES_DEMO_PORT=9090 bash scripts/demo.sh   (0 picks a free port)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO_DIR=${NOTES_DEMO_DIR:-$ROOT/demo-data}
TTL=${NOTES_DEMO_TTL:-30s}
PORT=${NOTES_DEMO_PORT:-8080}
LOG=$DEMO_DIR/server.log

say() { printf '%s\n' "$*" >&2; }
die() { say "demo: $*"; exit 1; }

# 1. What is missing (system packages via apt-get, only when absent).
"$ROOT/scripts/install-deps.sh"

# 2. Build (both executables; the first build takes a while).
if [ -n "${NOTES_DEMO_BIN:-}" ]; then
    BIN=$NOTES_DEMO_BIN   # already built (the end-to-end test of this script sets it)
else
    say "demo: building (swift build)…"
    swift build >&2
    BIN=$(swift build --show-bin-path)
fi

# 3. Start the server on $PORT (the README's curl tutorial talks to it there), in its own session so that Ctrl-C in the REPL
#    (which clears the line) never reaches it.
mkdir -p "$DEMO_DIR"
: >"$LOG"
OUT=$DEMO_DIR/server.out
: >"$OUT"
SETSID=""
command -v setsid >/dev/null 2>&1 && SETSID="setsid"
$SETSID "$BIN/notes-server" --port "$PORT" --data-dir "$DEMO_DIR/data" --seed Seeds/demo.json \
    --access-token-ttl "$TTL" >"$OUT" 2>"$LOG" </dev/null &
SERVER_PID=$!
stop_server() {
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM HUP

# 4. Wait (with a deadline) for the address line, then for /health.
URL=""
for _ in $(seq 1 600); do
    line=$(head -n 1 "$OUT" 2>/dev/null || true)
    if [[ $line == "listening on "* ]]; then URL=${line#listening on }; break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "notes-server stopped; see $LOG"
    sleep 0.1
done
[ -n "$URL" ] || die "notes-server did not start within 60 s; see $LOG"
if command -v curl >/dev/null 2>&1; then
    for _ in $(seq 1 100); do
        curl -fsS "$URL/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "$URL/health" >/dev/null 2>&1 || die "$URL/health does not answer; see $LOG"
fi

# 5. The REPL, with its own session cache and history under demo-data.
export NOTES_CONFIG_DIR=$DEMO_DIR/config
export XDG_STATE_HOME=$DEMO_DIR/state
say ""
say "notes-server is running at $URL (access tokens live $TTL); its log: $LOG"
say "Demo users (from Seeds/demo.json):"
grep -o '"username": *"[^"]*", *"password": *"[^"]*"' Seeds/demo.json |
    sed -E 's/"username": *"([^"]*)", *"password": *"([^"]*)"/  \1 \/ \2/' >&2 || true
say "Try: login --username alice   token   list   add --title \"Hello\"   --verbose list (after $TTL)   logout"
say ""
status=0
"$BIN/notes" --server "$URL" || status=$?
exit "$status"
