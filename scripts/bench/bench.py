#!/usr/bin/env python3
"""Helpers of scripts/bench.sh (standard library only).

  bench.py seedfile PATH PASSWORD LOGIN_USERS   write the Seeds file: users bench, writer, login1..N
  bench.py login URL USER PASSWORD              print an access token
  bench.py seed URL TOKEN COUNT                 POST COUNT notes (4 connections)
  bench.py paths URL TOKEN                      print "/notes/ID …" of the newest 20 notes
  bench.py report RESULTS MACHINE               print the table of a run
"""
import http.client
import json
import statistics
import sys
import threading
import urllib.parse

# One of these words per note, so `q=alpha` matches a fifth of the notes.
WORDS = ["alpha", "bravo", "charlie", "delta", "echo"]
FILLER = ("the quick brown fox jumps over the lazy dog while the notes server keeps every "
          "word of this body searchable and every tag exact").split()


def connect(url):
    parsed = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)


def call(conn, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, (json.loads(data) if data else None)


def seedfile(path, password, login_users):
    users = [{"username": "bench", "password": password}, {"username": "writer", "password": password}]
    users += [{"username": f"login{i}", "password": password} for i in range(1, int(login_users) + 1)]
    with open(path, "w") as f:
        json.dump({"users": users, "notes": []}, f)


def login(url, user, password):
    status, body = call(connect(url), "POST", "/auth/login", {"username": user, "password": password})
    if status != 200:
        sys.exit(f"bench: login of {user} answered {status}: {body}")
    print(body["accessToken"])


def seed(url, token, count):
    count = int(count)
    workers = 4
    failures = []

    def work(first):
        conn = connect(url)
        for i in range(first, count, workers):
            words = " ".join(FILLER[(i + k) % len(FILLER)] for k in range(12))
            note = {
                "title": f"note {i}",
                "body": f"{WORDS[i % len(WORDS)]} {words} number {i}",
                "tags": [f"tag{i % 10}", "seeded"],
            }
            status, body = call(conn, "POST", "/notes", note, token)
            if status != 201:
                failures.append((status, body))
                return

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit(f"bench: seeding failed: {failures[0]}")


def paths(url, token):
    status, body = call(connect(url), "GET", "/notes?limit=20", token=token)
    if status != 200:
        sys.exit(f"bench: listing notes answered {status}: {body}")
    print(" ".join("/notes/" + note["id"] for note in body["items"]))


def parse(line):
    fields = {}
    for item in line.split()[1:]:
        key, _, value = item.partition("=")
        fields[key] = int(value)
    return fields


def report(results, machine):
    """RESULTS: lines `SCENARIO<TAB>ROUND<TAB>BENCH-RESULT …` plus `rss<TAB>KIB` samples."""
    runs, order, rss = {}, [], []
    labels = {}
    for line in open(results):
        parts = line.rstrip("\n").split("\t")
        if parts[0] == "rss":
            rss.append(int(parts[1]))
            continue
        if parts[0] == "label":
            labels[parts[1]] = parts[2]
            continue
        name, _, result = parts
        if name not in runs:
            runs[name] = []
            order.append(name)
        runs[name].append(parse(result))

    def median(name, key):
        if key == "rate":
            values = [r["requests"] / (r["duration_us"] / 1e6) for r in runs[name]]
        else:
            values = [r[key] for r in runs[name]]
        return statistics.median(values)

    base = median("jwks", "rate") if "jwks" in runs else None
    print(machine)
    print()
    print("| scenario | req/s | p50 | p99 | ratio to jwks | non-2xx/errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in order:
        rate = median(name, "rate")
        p50 = median(name, "p50_us") / 1000
        p99 = median(name, "p99_us") / 1000
        bad = sum(r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"] for r in runs[name])
        ratio = f"{100 * rate / base:.0f} %" if base else "-"
        print(f"| {labels.get(name, name)} | {rate:,.0f} | {p50:.2f} ms | {p99:.2f} ms | {ratio} | {bad} |")
    print()
    if "bare-json" in runs and base:
        print(f"jwks / bare Hummingbird route: {100 * base / median('bare-json', 'rate'):.0f} %")
    if "note" in runs and "note-beside-logins" in runs:
        solo, beside = median("note", "p99_us"), median("note-beside-logins", "p99_us")
        print(f"p99 of GET /notes/{{id}} beside 16 logins / alone: {beside / solo:.2f}x")
    if rss:
        print(f"server RSS after scenarios: max {max(rss) / 1024:.1f} MiB, median {statistics.median(rss) / 1024:.1f} MiB")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"seedfile": seedfile, "login": login, "seed": seed, "paths": paths, "report": report}[command](*args)
