#!/usr/bin/env bash
# Runs every test/bench/*.bench.sh part in name order and prints one table; each part prints its own rows.
# Arguments select parts by name (bench.sh apidiff runs apidiff.bench.sh only); none runs them all.
# Parts get RG_BIN (the helpers) and BENCH_RUNS (runs per case, median reported); a failing part fails the bench.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export RG_BIN=${RG_BIN:-$root/bin}
export BENCH_RUNS=${BENCH_RUNS:-5}
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
echo "| case | ours | peer | ratio | target |"
echo "|---|---|---|---|---|"
rc=0
for part in "$here"/*.bench.sh; do
  [ -e "$part" ] || continue
  if [ $# -gt 0 ]; then
    want=0
    for sel in "$@"; do [ "$(basename "$part" .bench.sh)" = "$sel" ] && want=1; done
    [ "$want" = 1 ] || continue
  fi
  bash "$part" | grep -vE '^\| *case *\||^\|( *-+ *\|)+ *$' # one table: parts' own headers are dropped
  if [ "${PIPESTATUS[0]}" != 0 ]; then
    echo "bench: $(basename "$part") failed" >&2
    rc=1
  fi
done
echo "bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); ratios compare runs interleaved in this session" >&2
exit $rc
