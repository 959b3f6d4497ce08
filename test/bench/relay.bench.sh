#!/usr/bin/env bash
# relay.bench.sh: real `slack-approval relay` processes on loopback, paced signed clicks, the Jenkins fake answering
# (helpers/internal/testing/cmd/relaybench) and the strict Slack fake. Rows: SQLite (synchronous FULL and NORMAL) and
# PostgreSQL at RELAY_BENCH_RATE clicks/s (ack p99 seen by the clicker and inside the relay, chat.update calls, relay
# CPU per click, click->delivered p99), two replicas on one PostgreSQL (duplicates, lost), and SIGKILL of one replica mid-stream.
# RELAY_BENCH_N requests per case, two clicks each. No peer exists for the relay, so peer is "-".
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
N="${RELAY_BENCH_N:-2000}"
RATE="${RELAY_BENCH_RATE:-2000}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/relaybench" ./helpers/internal/testing/cmd/relaybench
go build -o "$tmp/slack-approval" ./helpers/cmd/slack-approval
echo "# approval relay: $N requests x 2 clicks per case, paced at ${RATE}/s, loopback, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
b=("$tmp/relaybench" -bin "$tmp/slack-approval" -requests "$N" -rate "$RATE")
"${b[@]}" -db sqlite -case "SQLite (synchronous=FULL), 1 relay:"
"${b[@]}" -db sqlite-normal -case "SQLite (synchronous=NORMAL: survives SIGKILL, not power loss), 1 relay:"
"${b[@]}" -db postgres -case "PostgreSQL, 1 relay:"
"${b[@]}" -db postgres -replicas 2 -case "PostgreSQL, 2 replicas:"
"${b[@]}" -db postgres -replicas 2 -kill -case "PostgreSQL, 2 replicas, SIGKILL of one mid-stream:"
