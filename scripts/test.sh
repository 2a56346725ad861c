#!/usr/bin/env bash
# The README's test command (`make test` runs this): installs what is missing, builds,
# runs every test, then checks the formatting.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
swift format lint --strict --recursive Package.swift Shared Sources Tests
