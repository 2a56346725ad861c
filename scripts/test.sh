#!/usr/bin/env bash
# The README's test command (`make test` runs this): installs what is missing, builds,
# starts a throwaway PostgreSQL for the tests (so every storage test runs on SQLite and on
# PostgreSQL), runs every test, fuzzes the live server against openapi.yaml (schemathesis),
# runs the libFuzzer targets (scripts/fuzz.sh), then checks the formatting.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-postgres.sh
scripts/install-cluster-deps.sh
swift build --build-tests

# A cluster of our own in a temporary folder, stopped and removed however the run ends. If it
# cannot start, the run fails: the PostgreSQL tests are never skipped.
pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/securenotes-test-pg.XXXXXX")"
trap 'scripts/pg-throwaway.sh stop "$pg_dir"' EXIT
NOTES_TEST_POSTGRES_URL="$(scripts/pg-throwaway.sh start "$pg_dir")"
export NOTES_TEST_POSTGRES_URL

swift test --skip-build --skip 'ClusterTests|ReplicaProcessTests|MetricsTests'
# The cluster, replica and metrics tests (nginx, server processes, load) run
# after the rest, so that their load cannot push another test past its deadline.
swift test --skip-build --filter 'ClusterTests|ReplicaProcessTests|MetricsTests'
# The server against its own OpenAPI document, fuzzed for a bounded time.
scripts/contract-fuzz.sh
# libFuzzer on the token, body, Seeds, client-answer and shell-word parsers (a second,
# sanitized build in .build-fuzz), 30 s per target: a crash fails the run.
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" scripts/fuzz.sh
swift format lint --strict --recursive Package.swift Shared Sources Tests Fuzz
