#!/usr/bin/env bash
# relay.bench.sh: real `slack-approval relay` processes on loopback, paced signed clicks, the Jenkins fake answering
# (helpers/internal/testing/cmd/relaybench) and the strict Slack fake. Rows: SQLite (synchronous FULL and NORMAL) and
# PostgreSQL at RELAY_BENCH_RATE clicks/s (ack p99 seen by the clicker and inside the relay, chat.update calls, relay
# CPU per click, the load generator's and fakes' own CPU per click on the same CPUs, click->delivered p99), two replicas
# on one PostgreSQL (duplicates, lost), and SIGKILL of one replica mid-stream. Clicks are signed before the paced phase.
# RELAY_BENCH_PROFILE=DIR writes replica 0's CPU, block and mutex profiles and the generator's CPU profile of the
# paced phase (one subdirectory per case).
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
prof() { # prof NAME: the -profile flag for a case when RELAY_BENCH_PROFILE is set
  [ -n "${RELAY_BENCH_PROFILE:-}" ] || return 0
  mkdir -p "$RELAY_BENCH_PROFILE/$1" && echo "-profile=$RELAY_BENCH_PROFILE/$1"
}
"${b[@]}" -db sqlite $(prof sqlite) -case "SQLite (synchronous=FULL), 1 relay:"
"${b[@]}" -db sqlite-normal $(prof sqlite-normal) -case "SQLite (synchronous=NORMAL: survives SIGKILL, not power loss), 1 relay:"
"${b[@]}" -db postgres $(prof postgres) -case "PostgreSQL, 1 relay:"
"${b[@]}" -db postgres -replicas 2 $(prof postgres-2) -case "PostgreSQL, 2 replicas:"
"${b[@]}" -db postgres -replicas 2 -kill -case "PostgreSQL, 2 replicas, SIGKILL of one mid-stream:"
