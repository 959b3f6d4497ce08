#!/usr/bin/env bash
# relay.bench.sh: load the Slack approval relay on loopback with signed clicks against the in-process
# Jenkins stand-in. Bounded: RELAY_BENCH_N requests per case, RELAY_BENCH_MAX duration per case.
# Prints | case | ours | peer | ratio | target | rows (no peer exists for the relay, so peer is "-").
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
N="${RELAY_BENCH_N:-20000}"
RATE="${RELAY_BENCH_RATE:-2000}"
MAX="${RELAY_BENCH_MAX:-30s}"
WORKERS="${RELAY_BENCH_WORKERS:-8}" # the relay's --workers default
bin="$(mktemp -d)/relayload"
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./helpers/internal/testing/cmd/relayload
echo "# slack-approval relay: n=$N per case, paced at ${RATE}/s, $WORKERS Jenkins workers, loopback, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" -n "$N" -rate "$RATE" -max-duration "$MAX" -workers "$WORKERS" -rbac resources/rbac.example.yaml
