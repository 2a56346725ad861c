#!/usr/bin/env bash
# `make soak`: a mixed load (logins, refreshes, reads, writes, searches, deletes) against one
# notes-server for SOAK_MINUTES (default 10), sampling the server's RSS and open descriptors
# every 10 s. After a warm-up (the first minute) both must stay within 10 % of their first
# sample after it; the script prints the curve and exits 1 if not. Loopback only; not in CI.
#
#   SOAK_MINUTES=10   how long
#   SOAK_CLIENTS=8    concurrent load threads
#   SOAK_BIN=…        the notes-server to test (default: a release build, built when missing)
#   SOAK_DATABASE=postgres   run on a throwaway PostgreSQL instead of SQLite
#   SOAK_KEEP=0       the share of created notes left in place (0: each is deleted again)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
minutes="${SOAK_MINUTES:-10}"
clients="${SOAK_CLIENTS:-8}"
bin="${SOAK_BIN:-.build/release/notes-server}"
if [ ! -x "$bin" ]; then
    swift build -c release --product notes-server
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/securenotes-soak.XXXXXX")"
server_pid=""
pg_dir=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    if [ -n "$pg_dir" ]; then scripts/pg-throwaway.sh stop "$pg_dir"; fi
    rm -rf "$work"
}
trap cleanup EXIT
args=(--port 0 --data-dir "$work/data" --bcrypt-cost 4 --log-level warning)
if [ "${SOAK_DATABASE:-sqlite}" = "postgres" ]; then
    scripts/install-postgres.sh
    pg_dir="$work/pg"
    args+=(--database-url "$(scripts/pg-throwaway.sh start "$pg_dir")")
fi
"$bin" "${args[@]}" > "$work/stdout" 2> "$work/stderr" &
server_pid=$!
for _ in $(seq 300); do
    if grep -q '^listening on' "$work/stdout" 2>/dev/null; then break; fi
    sleep 0.1
done
url="$(sed -n 's/^listening on //p' "$work/stdout" | head -1)"
[ -n "$url" ] || { echo "soak: the server did not start; see $work/stderr" >&2; cat "$work/stderr" >&2; exit 1; }
echo "soak: $url, pid $server_pid, $clients clients, $minutes min"

URL="$url" PID="$server_pid" MINUTES="$minutes" CLIENTS="$clients" python3 - <<'PY'
import http.client, json, os, random, threading, time, urllib.parse

url = urllib.parse.urlparse(os.environ["URL"])
pid = os.environ["PID"]
duration = float(os.environ["MINUTES"]) * 60
clients = int(os.environ["CLIENTS"])
keep = float(os.environ.get("SOAK_KEEP", "0"))
stop = time.monotonic() + duration
counts = {"requests": 0, "5xx": 0, "errors": 0}
kinds = {}
lock = threading.Lock()

def call(conn, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token: headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    with lock:
        counts["requests"] += 1
        if response.status >= 500: counts["5xx"] += 1
    return response.status, (json.loads(data) if data and data[:1] in b"[{" else None)

def worker(index):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    name = "soak%d" % index
    call(conn, "POST", "/auth/register", {"username": name, "password": "soak-password"})
    pair = None
    while time.monotonic() < stop:
        try:
            if pair is None or random.random() < 0.02:
                status, pair = call(conn, "POST", "/auth/login", {"username": name, "password": "soak-password"})
                if status != 200: pair = None; time.sleep(0.5); continue
            roll = random.random()
            token = pair["accessToken"]
            if roll < 0.05:
                status, fresh = call(conn, "POST", "/auth/refresh", {"refreshToken": pair["refreshToken"]})
                pair = fresh if status == 200 else None
            elif roll < 0.25:
                words = " ".join(random.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(random.randint(5, 50)))
                status, note = call(conn, "POST", "/notes", {"title": "soak %d" % random.randint(0, 9999), "body": words, "tags": ["soak"]}, token)
                # Keep the data set about the same size (SOAK_KEEP of the notes stay), so that
                # growth in RSS means the server, not SQLite caching a growing database.
                if status == 201 and random.random() >= keep:
                    call(conn, "DELETE", "/notes/" + note["id"], token=token)
            elif roll < 0.45:
                call(conn, "GET", "/notes?q=" + urllib.parse.quote(random.choice(["alpha", "beta gamma", "delta"])) + "&limit=20", token=token)
            elif roll < 0.75:
                call(conn, "GET", "/notes?limit=20", token=token)
            elif roll < 0.85:
                call(conn, "GET", "/auth/sessions", token=token)
            else:
                call(conn, "GET", "/me", token=token)
        except Exception as error:
            with lock:
                counts["errors"] += 1
                kinds[type(error).__name__ + ": " + str(error)[:60]] = kinds.get(type(error).__name__ + ": " + str(error)[:60], 0) + 1
            conn.close()
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            time.sleep(0.1)

def sample():
    rss = 0
    with open("/proc/%s/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"): rss = int(line.split()[1])
    return rss, len(os.listdir("/proc/%s/fd" % pid))

threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
for thread in threads: thread.start()
start = time.monotonic()
samples = []
print("%6s %10s %6s %10s" % ("t (s)", "RSS (KiB)", "fds", "requests"))
while time.monotonic() + 10 <= stop:
    time.sleep(10)
    rss, fds = sample()
    t = time.monotonic() - start
    samples.append((t, rss, fds))
    print("%6.0f %10d %6d %10d" % (t, rss, fds, counts["requests"]), flush=True)
for thread in threads: thread.join(timeout=35)
after = [s for s in samples if s[0] >= 60] or samples
base_rss, base_fds = after[0][1], after[0][2]
rss_ok = all(abs(s[1] - base_rss) <= 0.10 * base_rss for s in after)
fds_ok = all(abs(s[2] - base_fds) <= max(2, 0.10 * base_fds) for s in after)
print("requests %d, 5xx %d, client errors %d %s" % (counts["requests"], counts["5xx"], counts["errors"], sorted(kinds.items(), key=lambda kv: -kv[1])[:3]))
print("after warm-up: RSS %d..%d KiB (%s), fds %d..%d (%s)" % (
    min(s[1] for s in after), max(s[1] for s in after), "flat" if rss_ok else "NOT flat",
    min(s[2] for s in after), max(s[2] for s in after), "flat" if fds_ok else "NOT flat"))
raise SystemExit(0 if rss_ok and fds_ok and counts["5xx"] == 0 else 1)
PY
