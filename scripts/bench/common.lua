-- Shared by every bench script: wrk calls done() once, in its main state, with the summary
-- of all threads; it prints one line that scripts/bench/report.py reads.
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH-RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.status, e.connect, e.read, e.write, e.timeout))
end
