#!/usr/bin/env bash
# Measures what API.md promises about login timing: a wrong password for a known username
# and any password for an unknown one should cost the same (both pay one bcrypt check).
# Starts its own notes-server on a free loopback port, times N attempts of each kind with
# curl, interleaved, and prints the medians and their ratio. Usage: scripts/bench-login.sh [N] [COST]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-25}
COST=${2:-12}
swift build --product notes-server >/dev/null 2>&1 || swift build --product notes-server
DIR=$(mktemp -d)
OUT=$DIR/out
.build/debug/notes-server --port 0 --data-dir "$DIR/data" --bcrypt-cost "$COST" --log-level error >"$OUT" 2>"$DIR/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 300); do grep -q '^listening on ' "$OUT" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$OUT")
post() { curl -s -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' -d "$2" "$URL$1"; }
for i in $(seq 1 "$N"); do post /auth/register "{\"username\":\"known$i\",\"password\":\"right-password\"}" >/dev/null; done
: >"$DIR/known"; : >"$DIR/unknown"
# One attempt per username, so the throttle (5 failures per name) never answers instead.
for i in $(seq 1 "$N"); do
    post /auth/login "{\"username\":\"known$i\",\"password\":\"wrong-password\"}" >>"$DIR/known"
    post /auth/login "{\"username\":\"ghost$i\",\"password\":\"wrong-password\"}" >>"$DIR/unknown"
done
python3 - "$DIR/known" "$DIR/unknown" "$COST" "$N" <<'PY'
import statistics, sys
known = [float(x) for x in open(sys.argv[1])]
unknown = [float(x) for x in open(sys.argv[2])]
mk, mu = statistics.median(known), statistics.median(unknown)
print(f"bcrypt cost {sys.argv[3]}, {sys.argv[4]} attempts each")
print(f"known username, wrong password: median {mk*1000:.1f} ms")
print(f"unknown username:               median {mu*1000:.1f} ms")
print(f"ratio unknown/known: {mu/mk:.3f}")
PY
