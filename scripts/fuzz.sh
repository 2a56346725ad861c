#!/usr/bin/env bash
# libFuzzer over the parsers that take outside input (Fuzz/README.md): builds `notes-fuzz` with
# libFuzzer and AddressSanitizer in its own scratch path (.build-fuzz), then runs each target
# for FUZZ_SECONDS on a copy of its seed corpus in a temporary folder, so the repository's
# corpus is never written to. A crash (or a sanitizer report, or a leak) stops that target with
# a non-zero status; the script goes on with the others, then exits 1 and says where the
# crash input is kept.
#
#   scripts/fuzz.sh [TARGET...]     default: every target
#   FUZZ_SECONDS=60                 per target
#   FUZZ_KEEP=DIR                   keep crash inputs and logs in DIR (default: a new temp folder)
#   FUZZ_NO_BUILD=1                 use the binary already in .build-fuzz
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(access-token request-body seeds client-response shell-words)
fi

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
    start=$(date +%s)
    swift build --scratch-path .build-fuzz --sanitize fuzzer --sanitize address -Xswiftc -DFUZZING --product notes-fuzz
    echo "fuzz: sanitized build took $(($(date +%s) - start)) s"
fi
binary="$(swift build --scratch-path .build-fuzz --sanitize fuzzer --sanitize address -Xswiftc -DFUZZING --show-bin-path)/notes-fuzz"

work="$(mktemp -d "${TMPDIR:-/tmp}/securenotes-fuzz.XXXXXX")"
keep="${FUZZ_KEEP:-$work/findings}"
mkdir -p "$keep"
# The working corpora are copies; findings outlive them only when something was found.
cleanup() { rm -rf "$work/corpus"; [ -n "$(ls -A "$keep" 2>/dev/null)" ] || rm -rf "$work"; }
trap cleanup EXIT

# libFuzzer reports crashes itself: Swift's backtracer would only make them slower.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"

failed=()
for target in "${targets[@]}"; do
    seeds="Fuzz/Corpus/$target"
    [ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds" >&2; exit 2; }
    corpus="$work/corpus/$target"
    mkdir -p "$corpus" "$keep/$target"
    cp -R "$seeds/." "$corpus/"
    log="$keep/$target/fuzz.log"
    start=$(date +%s)
    # -max_len: a token, a body or a Seeds file of a few KB reaches every branch; bigger inputs
    # only slow the search down. -timeout: one input taking 10 s is a finding too.
    status=0
    # libFuzzer's check for leaks after each input races with the asynchronous target: its
    # task is still being torn down on another thread when the callback returns (a "leak" of
    # the input found once in CI replayed clean 10 times of 10). For that target, leaks are
    # checked when the process exits (LeakSanitizer's own check, detect_leaks=1 above), where
    # anything really lost is still reported.
    per_input_leaks=1
    [ "$target" = access-token ] && per_input_leaks=0
    "$binary" --target="$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -detect_leaks="$per_input_leaks" -print_final_stats=1 -artifact_prefix="$keep/$target/" "$corpus" >"$log" 2>&1 || status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $target: $(($(date +%s) - start)) s, $runs inputs, exit $status"
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        tail -n 60 "$log" >&2
        echo "fuzz: $target FAILED; inputs and log kept in $keep/$target (replay: .build/debug/notes-fuzz --target=$target FILE)" >&2
    else
        rm -rf "${keep:?}/$target"
    fi
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz: crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets, ${seconds} s each"
