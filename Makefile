# SecureNotes. `make demo` and `make test` are the README's two commands; both install
# what is missing first.
SWIFT ?= swift
DATA_DIR ?= ./notes-data

.PHONY: deps build test lint format server demo cluster clean soak fuzz bench

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Every test: the server's, the client library's and the end-to-end ones that run the
# built executables; then the formatting check (scripts/test.sh, which installs what is
# missing first).
test:
	scripts/test.sh

lint:
	$(SWIFT) format lint --strict --recursive Package.swift Shared Sources Tests Fuzz

format:
	$(SWIFT) format --in-place --recursive Package.swift Shared Sources Tests Fuzz

# The server alone, on the demo seeds, in the foreground.
server: deps
	$(SWIFT) build --product notes-server
	.build/debug/notes-server --data-dir $(DATA_DIR) --seed Seeds/demo.json

demo:
	scripts/demo.sh

# PostgreSQL, three replicas and nginx on loopback; prints the one URL to use, Ctrl-C stops all.
cluster:
	scripts/cluster.sh

clean:
	rm -rf .build .build-fuzz $(DATA_DIR)

# A mixed load for SOAK_MINUTES (default 10) with RSS and descriptors sampled every 10 s; not in CI.
soak:
	scripts/soak.sh

# libFuzzer (sanitized build in .build-fuzz): each target for FUZZ_SECONDS (default 60) on a
# temporary copy of its seed corpus in Fuzz/Corpus; a crash fails. `make fuzz FUZZ_SECONDS=600`.
FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# Throughput and latency of every scenario of issue 8 with wrk, on a release build and a fresh
# seeded database; prints a table with ratios to /.well-known/jwks.json. Not in CI.
# BENCH_DATABASE=postgres, BENCH_NOTES=100000, BENCH_BARE=1 …: see scripts/bench.sh.
bench:
	scripts/bench.sh
