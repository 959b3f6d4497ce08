#!/usr/bin/env bash
# blob.bench.sh: sign-artifacts blob sign/verify against stock cosign on this machine, side by side in one run.
# Prints | case | ours | peer | ratio | target | rows. Needs the stock cosign (test/scripts/tools.sh) and, for the HSM
# rows, install-deps.sh's bench group; make bench provides both.
# Knobs: BLOB_BENCH_RUNS (runs per "ours" case, median; default 3), BLOB_BENCH_N (small blobs; default 50),
# BLOB_BENCH_PEER_N (cosign loop iterations actually run, scaled linearly to N; default 10, to spare shared CPUs),
# BLOB_BENCH_BIG_RUNS (interleaved rounds of the 200 MiB file-key row, median; default 7), BLOB_BENCH_CASES (the
# cases to run, of "small verify big hsm"; default all; verify needs big, which signs the 200 MiB file).
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local CGO_ENABLED=1
RUNS="${BLOB_BENCH_RUNS:-3}"
N="${BLOB_BENCH_N:-50}"
PEER_N="${BLOB_BENCH_PEER_N:-10}"
BIG_RUNS="${BLOB_BENCH_BIG_RUNS:-7}"
CASES=" ${BLOB_BENCH_CASES:-small verify big hsm} "
want() { [[ "$CASES" == *" $1 "* ]]; }
[ "$PEER_N" -gt "$N" ] && PEER_N=$N
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Our helper: the one `make helpers` built (RG_BIN), else a fresh build with the release flags.
sa="${RG_BIN:-}/sign-artifacts"
if [ -z "${RG_BIN:-}" ] || [ ! -x "$sa" ]; then
  sa="$work/sign-artifacts"
  go build -trimpath -ldflags '-s -w -buildid=' -o "$sa" ./helpers/cmd/sign-artifacts
fi
# The physical limit: one Go crypto/sha256 pass over a file, as its own process.
mkdir -p "$work/sha256timer"
cat > "$work/sha256timer/main.go" <<'GO'
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, make([]byte, 1<<20)); err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", h.Sum(nil))
}
GO
printf 'module sha256timer\n\ngo 1.21\n' > "$work/sha256timer/go.mod"
(cd "$work/sha256timer" && GOFLAGS= go build -o "$work/sha256" .)
# The other limit: decrypting the cosign key file (scrypt + secretbox) and nothing else, as its own process.
go build -trimpath -o "$work/keytimer" ./helpers/internal/testing/cmd/keytimer

# The stock cosign that make bench builds (test/scripts/tools.sh), by its file and first on PATH: the peer columns are
# part of the benchmark, so a missing cosign stops it instead of printing "-".
TOOLS_BIN=${RG_TOOLS_DIR:-$HOME/.cache/release-gates/tools}/bin
[ -x "$TOOLS_BIN/cosign" ] || { echo "blob.bench: the stock cosign is missing at $TOOLS_BIN/cosign: run test/scripts/tools.sh cosign (make bench does)" >&2; exit 2; }
export PATH="$TOOLS_BIN:$PATH"
export COSIGN_PASSWORD=bench-pw TUF_ROOT="$work/tuf"

now() { date +%s%N; }
# ms CMD...: wall milliseconds of one run (output discarded, failure aborts).
ms() {
  local s e
  s=$(now)
  "$@" >/dev/null 2>"$work/last.err" || { echo "bench: failed: $* : $(tail -3 "$work/last.err")" >&2; exit 1; }
  e=$(now)
  echo $(((e - s) / 1000000))
}
# median MS...: median of the given integers.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# med CMD...: median wall ms over $RUNS runs.
med() {
  local r=() i
  for ((i = 0; i < RUNS; i++)); do r+=("$(ms "$@")"); done
  median "${r[@]}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f×", a / b }'; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }

"$sa" keys generate --type file --out-prefix "$work/k" >/dev/null 2>&1
mkdir -p "$work/small"
for ((i = 0; i < N; i++)); do head -c 1048576 /dev/urandom > "$work/small/blob-$i.bin"; done
head -c $((200 << 20)) /dev/urandom > "$work/big.bin"
cat "$work/big.bin" > /dev/null # warm the page cache for both sides

echo "# blob signing: $N × 1 MiB and 1 × 200 MiB, median of $RUNS runs for ours, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
row case ours peer ratio target
row --- --- --- --- ---

if want small; then
# 1. sign N × 1 MiB in one call vs a cosign sign-blob loop.
ours=$(med "$sa" blob sign --key "$work/k.key" "$work/small/*.bin")
cosign_sign_loop() { for f in $(ls "$work"/small/*.bin | head -n "$PEER_N"); do cosign sign-blob --tlog-upload=false --key "$work/k.key" --output-signature "$f.csig" -y "$f"; done; }
peer=$(($(ms cosign_sign_loop) * N / PEER_N))
row "sign $N × 1 MiB (one call vs cosign sign-blob loop, peer scaled from $PEER_N)" "${ours} ms" "${peer} ms" "$(ratio "$peer" "$ours") faster" "≥20× faster"

# 2. verify N × 1 MiB in one call vs a cosign verify-blob loop, both checking the signatures from case 1.
ours=$(med "$sa" blob verify --key "$work/k.pub" "$work/small/*.bin")
cosign_verify_loop() { for f in $(ls "$work"/small/*.bin | head -n "$PEER_N"); do cosign verify-blob --key "$work/k.pub" --signature "$f.sig" --insecure-ignore-tlog=true "$f"; done; }
peer=$(($(ms cosign_verify_loop) * N / PEER_N))
row "verify $N × 1 MiB (one call vs cosign verify-blob loop, peer scaled from $PEER_N)" "${ours} ms" "${peer} ms" "$(ratio "$peer" "$ours") faster" "≥20× faster"
fi # small

# SoftHSM token for the HSM rows (cases big and hsm): ECDSA P-256 in the token, no scrypt. libsofthsm2 and softhsm2 are
# in install-deps.sh's bench group (make bench installs it), checked through their packages: missing, the bench stops
# instead of dropping the rows.
if want big || want hsm; then
  test/scripts/install-deps.sh --check bench >/dev/null 2>&1 || {
    test/scripts/install-deps.sh --check bench | grep MISSING >&2
    echo "blob.bench: the bench's Debian packages are not all installed: run test/scripts/install-deps.sh bench (make bench does)" >&2
    exit 2
  }
  mkdir -p "$work/hsm/tokens" "$work/hsmfiles"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$work/hsm/tokens" > "$work/hsm/softhsm2.conf"
  export SOFTHSM2_CONF="$work/hsm/softhsm2.conf" PKCS11_PIN=bench-pin
  /usr/bin/softhsm2-util --init-token --free --label bench --pin "$PKCS11_PIN" --so-pin bench-so >/dev/null
  uri='pkcs11:token=bench;object=bench-signer;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so'
  "$sa" keys generate --type pkcs11 --key "$uri" >/dev/null 2>&1
fi

if want big; then
# 3. sign 200 MiB with a file key against its two physical limits, each its own process, interleaved in this run:
# one Go sha256 pass over the file, and the key's scrypt decryption (keytimer). Signing overlaps the two (the key
# decrypts while the file hashes) and reads the file once, so on free cores it costs about the larger of them.
# CPU seconds (user+sys) are reported too: on a busy machine the overlap cannot happen and wall time tends to the sum.
cpu_ms() { # cpu_ms CMD...: prints "wall_ms cpu_ms" of one run
  local s e
  s=$(now)
  /usr/bin/time -f '%U %S' -o "$work/cpu" "$@" >/dev/null 2>"$work/last.err" || { echo "bench: failed: $* : $(tail -3 "$work/last.err")" >&2; exit 1; }
  e=$(now)
  echo "$(((e - s) / 1000000)) $(awk '{printf "%d", ($1 + $2) * 1000}' "$work/cpu")"
}
# Each round runs the three once, in an order that rotates from round to round, so that no side always runs first
# (or right after the other) and drift on a shared machine spreads over all three.
ws=(); wk=(); wo=(); cs=(); ck=(); co=()
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((i = 0; i < BIG_RUNS; i++)); do
  for ((j = 0; j < 3; j++)); do
    case $(((i + j) % 3)) in
    0) read -r w c < <(cpu_ms "$work/sha256" "$work/big.bin"); ws+=("$w"); cs+=("$c") ;;
    1) read -r w c < <(cpu_ms "$work/keytimer" "$work/k.key"); wk+=("$w"); ck+=("$c") ;;
    2) read -r w c < <(cpu_ms "$sa" blob sign --key "$work/k.key" "$work/big.bin"); wo+=("$w"); co+=("$c") ;;
    esac
  done
done
sha=$(median "${ws[@]}"); scr=$(median "${wk[@]}"); ours=$(median "${wo[@]}")
limit=$((sha > scr ? sha : scr))
row "sign 200 MiB, file key, vs max(one sha256 pass, the key's scrypt decryption), median of $BIG_RUNS interleaved rounds" "${ours} ms" "max(${sha} ms sha256, ${scr} ms scrypt)" "$(ratio "$ours" "$limit")" "≤1.15× (session 2: 1.38×)"
echo "# 200 MiB file-key rounds (ms): ours ${wo[*]} | sha256 ${ws[*]} | scrypt ${wk[*]}; load average before $load0, after $(cut -d' ' -f1-3 /proc/loadavg)"
row "sign 200 MiB, file key: CPU time vs sha256 + scrypt CPU" "$(median "${co[@]}") ms" "$(median "${cs[@]}") + $(median "${ck[@]}") ms" "$(ratio "$(median "${co[@]}")" "$(($(median "${cs[@]}") + $(median "${ck[@]}")))")" "-"
limit=$sha
ours_hsm=$(med "$sa" blob sign --key "$uri" --out-dir "$work/hsmsig" "$work/big.bin")
row "sign 200 MiB, SoftHSM key, vs Go sha256 of the file" "${ours_hsm} ms" "${limit} ms (sha256)" "$(ratio "$ours_hsm" "$limit")" "≤1.30×"
peer=$(ms cosign sign-blob --tlog-upload=false --key "$work/k.key" --output-signature "$work/big.csig" -y "$work/big.bin")
row "sign 200 MiB vs cosign sign-blob" "${ours} ms" "${peer} ms" "$(ratio "$peer" "$ours") faster" "-"
fi # big

if want verify; then
# 4. peak RSS verifying 200 MiB.
rss() {
  /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>"$work/last.err" || { echo "bench: failed: $* : $(tail -3 "$work/last.err")" >&2; exit 1; }
  echo $(($(tail -1 "$work/rss") / 1024))
}
ours=$(rss "$sa" blob verify --key "$work/k.pub" "$work/big.bin")
ours_ms=$(med "$sa" blob verify --key "$work/k.pub" "$work/big.bin")
peer=$(rss cosign verify-blob --key "$work/k.pub" --signature "$work/big.bin.sig" --insecure-ignore-tlog=true "$work/big.bin")
peer_ms=$(ms cosign verify-blob --key "$work/k.pub" --signature "$work/big.bin.sig" --insecure-ignore-tlog=true "$work/big.bin")
row "verify 200 MiB: peak RSS" "${ours} MB" "${peer} MB" "$(ratio "$ours" "$peer")" "≤64 MB"
row "verify 200 MiB: wall time" "${ours_ms} ms" "${peer_ms} ms" "$(ratio "$peer_ms" "$ours_ms") faster" "-"
fi # verify

if want hsm; then
# 5. SoftHSM signing throughput: one call, many small files.
H=${BLOB_BENCH_HSM_N:-500}
for ((i = 0; i < H; i++)); do echo "artifact $i" > "$work/hsmfiles/f-$i"; done
t=$(med "$sa" blob sign --key "$uri" "$work/hsmfiles/f-*")
tf=$(med "$sa" blob sign --key "$work/k.key" "$work/hsmfiles/f-*")
row "SoftHSM signing, $H files in one call (peer: same with the file key)" "$(awk -v n="$H" -v t="$t" 'BEGIN{printf "%.0f sigs/s (%d ms)", n*1000/t, t}')" "$(awk -v n="$H" -v t="$tf" 'BEGIN{printf "%.0f sigs/s (%d ms)", n*1000/t, t}')" "$(ratio "$tf" "$t")" "-"
fi # hsm
