#!/usr/bin/env bash
# go-build-gate apidiff vs `oasdiff breaking` on a generated 1000-path spec pair, and the helper's start-up time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
gate=${RG_BIN:-$root/bin}/go-build-gate
runs=${BENCH_RUNS:-5}
startup_runs=${BENCH_STARTUP_RUNS:-41}
[ -x "$gate" ] || { echo "apidiff.bench: $gate missing: run make helpers" >&2; exit 2; }
# The pinned oasdiff that make bench builds (test/scripts/tools.sh), by its file and first on PATH.
TOOLS_BIN=${RG_TOOLS_DIR:-$HOME/.cache/release-gates/tools}/bin
[ -x "$TOOLS_BIN/oasdiff" ] || { echo "apidiff.bench: oasdiff is missing at $TOOLS_BIN/oasdiff: run test/scripts/tools.sh oasdiff (make bench does)" >&2; exit 2; }
export PATH="$TOOLS_BIN:$PATH"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && go run ./test/bench/cmd/specgen -paths 1000 -out "$work")

# Interleave the two tools so load drifts hit both alike; the first run of each warms the page cache.
measure "$work/warm" "$gate" apidiff --spec "$work/head.json" --base-spec "$work/base.json" --result-file "$work/r.json"
measure "$work/warm" oasdiff breaking "$work/base.json" "$work/head.json" --fail-on ERR
for _ in $(seq "$runs"); do
  measure "$work/ours" "$gate" apidiff --spec "$work/head.json" --base-spec "$work/base.json" --result-file "$work/r.json"
  measure "$work/peer" oasdiff breaking "$work/base.json" "$work/head.json" --fail-on ERR
done
ours_found=$(sed -n 's/.*"failing": \([0-9]*\).*/\1/p' "$work/r.json" | head -1)
peer_found=$(oasdiff breaking "$work/base.json" "$work/head.json" | sed -n 's/^\([0-9]*\) changes:.*/\1/p')
if [ "$ours_found" != "$peer_found" ]; then
  echo "apidiff.bench: go-build-gate found ${ours_found:-?} breaking changes, oasdiff ${peer_found:-?}" >&2
  exit 1
fi

t_ours=$(median "$work/ours.ms"); t_peer=$(median "$work/peer.ms")
m_ours=$(median "$work/ours.kb"); m_peer=$(median "$work/peer.kb")
r_t=$(ratio "$t_ours" "$t_peer"); r_m=$(ratio "$m_ours" "$m_peer")
row "apidiff 1000 paths ($ours_found breaking), wall, median of $runs" "${t_ours} ms" "${t_peer} ms (oasdiff breaking)" "${r_t}×" "≤ 1.2× ($(verdict "$r_t" 1.2))"
row "apidiff 1000 paths, peak RSS, median of $runs" "$(( ${m_ours%.*} / 1024 )) MB" "$(( ${m_peer%.*} / 1024 )) MB (oasdiff breaking)" "${r_m}×" "≤ 1.0× ($(verdict "$r_m" 1.0))"

for _ in $(seq "$startup_runs"); do
  measure "$work/v_ours" "$gate" --version
  measure "$work/v_peer" oasdiff --version
done
v_ours=$(median "$work/v_ours.ms"); v_peer=$(median "$work/v_peer.ms")
row "go-build-gate --version start-up, median of $startup_runs" "${v_ours} ms" "${v_peer} ms (oasdiff --version)" "$(ratio "$v_ours" "$v_peer")×" "≤ 20 ms ($(verdict "$v_ours" 20))"
