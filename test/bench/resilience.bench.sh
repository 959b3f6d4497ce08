#!/usr/bin/env bash
# resilience.bench.sh: N simulated releases, each signing and pushing 5 cosign signatures through the fault proxy
# (5% of requests fail transiently: 503, 429, reset, truncated body, lost reply) in front of an in-process registry.
# Compares, in one run: the helpers' retries + breakers vs retries disabled (success rate), faults vs a fault-free
# run (the extra time retries cost), and a registry that is down with vs without the breaker (must stop within 2 s).
# Prints | case | ours | peer | ratio | target | rows; exits 1 when a target is missed.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
N="${RESILIENCE_BENCH_N:-500}"
RATE="${RESILIENCE_BENCH_RATE:-0.05}"
WORKERS="${RESILIENCE_BENCH_WORKERS:-8}"
bin="$(mktemp -d)/resiliencebench"
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./helpers/internal/testing/cmd/resiliencebench
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" -n "$N" -rate "$RATE" -workers "$WORKERS" -artifacts 5 -target 99.6
