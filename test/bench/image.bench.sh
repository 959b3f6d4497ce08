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

# The registry: a free port, filesystem storage in the work dir.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
host="127.0.0.1:$port"
cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: $host
  secret: bench
YML
/usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
regpid=$!
for _ in $(seq 100); do curl -fsS "http://$host/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$host/v2/" >/dev/null || { echo "image.bench: docker-registry did not start: $(tail -3 "$work/registry.log")" >&2; exit 1; }

# blob REPO FILE: uploads FILE as a blob (POST then PUT) and prints its digest.
blob() {
  local repo=$1 file=$2 d loc
  d="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  loc=$(curl -fsS -o /dev/null -D - -X POST "http://$host/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case $loc in http*) ;; *) loc="http://$host$loc" ;; esac
  case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$loc"
  echo "$d"
}
# push REPO TAG: pushes a one-layer OCI image with random content; prints repo@digest.
push() {
  local repo=$1 tag=$2 layer cfg ld cd m
  layer="$work/layer"; cfg="$work/config.json"; m="$work/manifest.json"
  head -c 4096 /dev/urandom | gzip -c > "$layer"
  ld=$(blob "$repo" "$layer")
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"config":{}}' "$(gzip -dc "$layer" | sha256sum | cut -d' ' -f1)" > "$cfg"
  cd=$(blob "$repo" "$cfg")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
    "$cd" "$(stat -c %s "$cfg")" "$ld" "$(stat -c %s "$layer")" > "$m"
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$m" "http://$host/v2/$repo/manifests/$tag"
  echo "$host/$repo@sha256:$(sha256sum "$m" | cut -d' ' -f1)"
}

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
