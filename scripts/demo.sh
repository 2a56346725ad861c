#!/usr/bin/env bash
# The demo: a notes-server on the demo seeds (short access-token TTL, so a refresh happens
# within a minute of use) and the notes REPL pointed at it. The server stops when the REPL
# exits, Ctrl-D, quit, or a signal. Everything lives in ./demo-data (git-ignored).
#
#   scripts/demo.sh               (what `make demo` runs)
#   scripts/demo.sh --help        (this text)
#
# Settings, from the environment (the README's "Demo settings" lists them too):
#   NOTES_DEMO_PORT=8080   the server's port; 0 picks a free one
#   NOTES_DEMO_TTL=30s     access-token lifetime (45s, 5m, 2h…); longer for a slow read
#   NOTES_DEMO_DIR=./demo-data   data, session cache, history and server.log
#   NOTES_DEMO_BIN=        a folder with notes and notes-server already built (skips the build)
set -euo pipefail

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi

cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO_DIR=${NOTES_DEMO_DIR:-$ROOT/demo-data}
TTL=${NOTES_DEMO_TTL:-30s}
PORT=${NOTES_DEMO_PORT:-8080}
LOG=$DEMO_DIR/server.log

say() { printf '%s\n' "$*" >&2; }
die() { say "demo: $*"; exit 1; }
busy_port() {
    die "port $PORT is already in use (another notes-server, or another make demo?); run NOTES_DEMO_PORT=9090 make demo, or NOTES_DEMO_PORT=0 for any free port"
}

# Ctrl-C while building or starting ends the demo. (The REPL gets its own trap below.)
trap 'exit 130' INT TERM HUP

# 0. A port that something already answers on fails now, not after the build.
if [ "$PORT" != 0 ] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    busy_port
fi

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

# 3. Start the server on $PORT (the README's curl tutorial talks to it there), in its own
#    session so that Ctrl-C in the REPL (which clears the line) never reaches it. Its log is
#    appended to, never emptied: the log of the run you are investigating survives a restart.
mkdir -p "$DEMO_DIR"
printf '\n=== demo started %s (port %s, access tokens %s) ===\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$PORT" "$TTL" >>"$LOG"
OUT=$DEMO_DIR/server.out
: >"$OUT"
SETSID=""
command -v setsid >/dev/null 2>&1 && SETSID="setsid"
$SETSID "$BIN/notes-server" --port "$PORT" --data-dir "$DEMO_DIR/data" --seed Seeds/demo.json \
    --access-token-ttl "$TTL" >"$OUT" 2>>"$LOG" </dev/null &
SERVER_PID=$!
# For whoever must stop a server this script could not (the script killed with SIGKILL).
echo "$SERVER_PID" >"$DEMO_DIR/server.pid"
stop_server() {
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -f "$DEMO_DIR/server.pid"
}
trap stop_server EXIT

# 4. Wait (with a deadline) for the address line, then for /health.
URL=""
for _ in $(seq 1 600); do
    line=$(head -n 1 "$OUT" 2>/dev/null || true)
    if [[ $line == "listening on "* ]]; then URL=${line#listening on }; break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        status=0
        wait "$SERVER_PID" || status=$?
        [ "$status" = 69 ] && busy_port
        die "notes-server stopped (exit $status): $(tail -n 1 "$LOG"); see $LOG"
    fi
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
say "notes-server is running at $URL (access tokens live $TTL; NOTES_DEMO_TTL=5m make demo for longer); its log: $LOG"
say "Demo users (from Seeds/demo.json):"
grep -o '"username": *"[^"]*", *"password": *"[^"]*"' Seeds/demo.json |
    sed -E 's/"username": *"([^"]*)", *"password": *"([^"]*)"/  \1 \/ \2/' >&2 || true
say "Try: login --username alice   token   list   add --title \"Hello\"   --verbose list (after $TTL)   logout"
say "From another shell, the same notes and session:"
say "  export PATH=\"$BIN:\$PATH\" NOTES_SERVER=$URL NOTES_CONFIG_DIR=$NOTES_CONFIG_DIR"
say ""
# Ctrl-C belongs to the REPL now (it clears the line). A trap that does nothing, rather than
# `exit 130`: bash runs a trap when the REPL ends, and a later `quit` must still exit 0.
# (A trap with a command, unlike an ignored signal, is reset to the default in the REPL.)
trap ':' INT
status=0
"$BIN/notes" --server "$URL" || status=$?
exit "$status"
