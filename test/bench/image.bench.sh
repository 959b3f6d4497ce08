#!/usr/bin/env bash
# image.bench.sh: sign-artifacts image sign (cosign + notation, one call) against stock cosign sign + notation sign per image.
# Starts Debian's docker-registry on 127.0.0.1, pushes IMAGE_BENCH_N images for ours and IMAGE_BENCH_PEER_N for the
# peer loop (scaled linearly to N), signs them both ways in the same run, then counts every signature on our images.
# Prints | case | ours | peer | ratio | target | rows. Needs the stock cosign and notation (tools.sh; make bench).
# Knobs: IMAGE_BENCH_N (images; default 500), IMAGE_BENCH_PEER_N (peer images actually signed; default 20),
# IMAGE_BENCH_RUNS (runs per case, median; default 1), IMAGE_BENCH_PARALLEL (--parallel: images signed at once;
# default 8), IMAGE_BENCH_MAX_REQUESTS (--max-requests: registry requests in flight at once; default 16).
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local CGO_ENABLED=1
N="${IMAGE_BENCH_N:-500}"
PEER_N="${IMAGE_BENCH_PEER_N:-20}"
[ "$PEER_N" -gt "$N" ] && PEER_N=$N
RUNS="${IMAGE_BENCH_RUNS:-1}"
PAR="${IMAGE_BENCH_PARALLEL:-8}"
MAXREQ="${IMAGE_BENCH_MAX_REQUESTS:-16}"
work="$(mktemp -d)"
regpid=""
cleanup() {
  if [ -n "$regpid" ]; then kill "$regpid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

sa="${RG_BIN:-bin}/sign-artifacts"
if [ ! -x "$sa" ]; then
  sa="$work/sign-artifacts"
  go build -trimpath -ldflags '-s -w -buildid=' -o "$sa" ./helpers/cmd/sign-artifacts
fi

# The registry: a free port, filesystem storage in the work dir (test/bench/registry.sh).
source test/bench/registry.sh
registry_start

now() { date +%s%N; }
ms() {
  local s e
  s=$(now)
  "$@" >/dev/null 2>"$work/last.err" || { echo "image.bench: failed: $* : $(tail -3 "$work/last.err")" >&2; exit 1; }
  e=$(now)
  echo $(((e - s) / 1000000))
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f×", a / b }'; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }

# Keys: one encrypted cosign-format key with a notation-ready chain, shared by both sides.
TOOLS_BIN=${RG_TOOLS_DIR:-$HOME/.cache/release-gates/tools}/bin # the stock peers (tools.sh), found before HOME moves
export COSIGN_PASSWORD=bench-pw TUF_ROOT="$work/tuf" HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" RELEASE_GATES_STATE_DIR="$work/state"
mkdir -p "$HOME"
printf '%s' "$COSIGN_PASSWORD" > "$work/pass"
"$sa" keys generate --type ca --out-dir "$work/pki" --subject 'CN=bench signer,O=release-gates,C=US' >/dev/null 2>"$work/last.err" ||
  { echo "image.bench: keys generate failed: $(tail -3 "$work/last.err")" >&2; exit 1; }

# The stock cosign and notation that make bench builds (test/scripts/tools.sh), by their files and first on PATH:
# the peer column is part of the benchmark, so a missing peer stops it instead of printing "-".
for t in cosign notation; do
  [ -x "$TOOLS_BIN/$t" ] || { echo "image.bench: the stock $t is missing at $TOOLS_BIN/$t: run test/scripts/tools.sh cosign notation (make bench does)" >&2; exit 2; }
done
export PATH="$TOOLS_BIN:$PATH"
notation cert generate-test --default bench >/dev/null 2>&1

# Fresh images per run (a re-sign would be deduped): N for ours, one repository each, pushed in one curl process.
ours_run() {
  local run=$1
  mapfile -t imgs < <(push_many "bench/ours$run-" r "$N")
  printf '%s\n' "${imgs[@]}" > "$work/ours$run.list"
  ms "$sa" image sign --key "$work/pki/leaf.key" --password-file "$work/pass" --cert-chain "$work/pki/chain.pem" --plain-http \
    --parallel "$PAR" --max-requests "$MAXREQ" --result-file "$work/r$run.json" "${imgs[@]}"
}
peer_loop() {
  local i
  for i in "$@"; do
    cosign sign --key "$work/pki/leaf.key" --tlog-upload=false --allow-http-registry -y "$i"
    notation sign --insecure-registry --key bench "$i"
  done
}
peer_run() {
  local run=$1
  mapfile -t imgs < <(push_many "bench/peer$run-" r "$PEER_N")
  ms peer_loop "${imgs[@]}"
}

# dupes LIST: counts, over every image in LIST, signatures beyond one per format, straight from the registry:
# the layers of the cosign sha256-<hex>.sig image and the notation signatures in the referrers tag index
# (Debian's docker-registry has no referrers API). A missing signature counts as a failure, printed to stderr.
dupes() {
  local list=$1 cfg="$work/count.curl" i=0 ref repo hex extra=0 missing=0 c n
  : > "$cfg"
  while read -r ref; do
    repo="${ref#"$host"/}"; repo="${repo%@*}"; hex="${ref##*sha256:}"
    printf 'url = "http://%s/v2/%s/manifests/sha256-%s.sig"\noutput = "%s/c%d.json"\nheader = "Accept: application/vnd.oci.image.manifest.v1+json"\nnext\n' "$host" "$repo" "$hex" "$work" "$i" >> "$cfg"
    printf 'url = "http://%s/v2/%s/manifests/sha256-%s"\noutput = "%s/n%d.json"\nheader = "Accept: application/vnd.oci.image.index.v1+json"\nnext\n' "$host" "$repo" "$hex" "$work" "$i" >> "$cfg"
    i=$((i + 1))
  done < "$list"
  sed -i '$d' "$cfg" # no "next" after the last URL
  curl -sS -K "$cfg" >/dev/null
  for ((j = 0; j < i; j++)); do
    c=$(jq '[.layers[]? | select(.annotations["dev.cosignproject.cosign/signature"] != null)] | length' "$work/c$j.json" 2>/dev/null || echo 0)
    n=$(jq '[.manifests[]? | select(.artifactType == "application/vnd.cncf.notary.signature")] | length' "$work/n$j.json" 2>/dev/null || echo 0)
    [ "$c" -ge 1 ] && [ "$n" -ge 1 ] || missing=$((missing + 1))
    [ "$c" -gt 1 ] && extra=$((extra + c - 1))
    [ "$n" -gt 1 ] && extra=$((extra + n - 1))
  done
  [ $missing = 0 ] || echo "image.bench: $missing of $i images lack a cosign or notation signature" >&2
  echo "$extra $missing"
}

echo "# image signing: $N images (peer: $PEER_N, scaled to $N), cosign + notation (JWS), --parallel $PAR --max-requests $MAXREQ, Debian docker-registry on $host, median of $RUNS runs, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
row case ours peer ratio target
row --- --- --- --- ---
o=(); p=()
for ((r = 0; r < RUNS; r++)); do
  o+=("$(ours_run "$r")")
  p+=("$(($(peer_run "$r") * N / PEER_N))")
done
ours=$(median "${o[@]}")
name="dual-sign $N images (one call vs cosign sign + notation sign per image, peer scaled from $PEER_N)"
peer=$(median "${p[@]}")
row "$name" "${ours} ms" "${peer} ms" "$(ratio "$peer" "$ours")" "≥10× (before: 4.60× on 20 images)"
# Per-image cost of ours, including the in-process verification of both signatures after pushing.
row "ours per image (sign + push + re-list + verify both)" "$((ours / N)) ms" "-" "-" "-"
read -r extra missing < <(dupes "$work/ours0.list")
row "duplicate signatures on the $N images, counted in the registry after signing (missing: $missing)" "$extra" "-" "-" "0"
