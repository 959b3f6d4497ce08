#!/usr/bin/env bash
# image.bench.sh: sign-artifacts image sign (cosign + notation, one call) against stock cosign sign + notation sign per image.
# Starts Debian's docker-registry on 127.0.0.1, pushes IMAGE_BENCH_N small images with curl, signs them both ways.
# Prints | case | ours | peer | ratio | target | rows. Needs cosign and notation on PATH for the peer column (else "-").
# Knobs: IMAGE_BENCH_N (images; default 20), IMAGE_BENCH_RUNS (runs per case, median; default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local CGO_ENABLED=1
N="${IMAGE_BENCH_N:-20}"
RUNS="${IMAGE_BENCH_RUNS:-3}"
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
export COSIGN_PASSWORD=bench-pw TUF_ROOT="$work/tuf" HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config"
mkdir -p "$HOME"
printf '%s' "$COSIGN_PASSWORD" > "$work/pass"
"$sa" keys generate --type ca --out-dir "$work/pki" --subject 'CN=bench signer,O=release-gates,C=US' >/dev/null 2>"$work/last.err" ||
  { echo "image.bench: keys generate failed: $(tail -3 "$work/last.err")" >&2; exit 1; }

have_peer=0
if command -v cosign >/dev/null 2>&1 && command -v notation >/dev/null 2>&1; then
  have_peer=1
  notation cert generate-test --default bench >/dev/null 2>&1
fi

# A fresh set of N images per run, so every run really signs (re-signing would be deduped).
images() {
  local run=$1 i
  for ((i = 0; i < N; i++)); do push "bench/app$i" "r$run"; done
}
ours_run() {
  local run=$1
  mapfile -t imgs < <(images "ours$run")
  ms "$sa" image sign --key "$work/pki/leaf.key" --password-file "$work/pass" --cert-chain "$work/pki/chain.pem" --plain-http --result-file "$work/r.json" "${imgs[@]}"
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
  mapfile -t imgs < <(images "peer$run")
  ms peer_loop "${imgs[@]}"
}

echo "# image signing: $N images, cosign + notation (JWS), Debian docker-registry on $host, median of $RUNS runs, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
row case ours peer ratio target
row --- --- --- --- ---
o=(); p=()
for ((r = 0; r < RUNS; r++)); do
  o+=("$(ours_run "$r")")
  if [ $have_peer = 1 ]; then p+=("$(peer_run "$r")"); fi
done
ours=$(median "${o[@]}")
if [ $have_peer = 1 ]; then
  peer=$(median "${p[@]}")
  row "dual-sign $N images (one call vs cosign sign + notation sign per image)" "${ours} ms" "${peer} ms" "$(ratio "$peer" "$ours")" "≥5×"
else
  row "dual-sign $N images (one call vs cosign sign + notation sign per image)" "${ours} ms" "-" "-" "≥5×"
fi
# Per-image cost of ours, including the in-process verification of both signatures.
row "ours per image (sign + push + verify both)" "$((ours / N)) ms" "-" "-" "-"
