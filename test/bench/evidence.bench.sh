#!/usr/bin/env bash
# evidence.bench.sh: one release's evidence end to end on Debian's docker-registry, timed against the stock CLIs.
#   sign (sign-artifacts) -> audit chain -> attest provenance + approval -> verify (one call) -> report (HTML + Markdown)
# Rows: verify before deploy (ours: one call checking cosign + notation signatures and both attestations) against
# cosign verify + notation verify + 2x cosign verify-attestation; verify-vsa (the VSA that verify issued) against the same; attest provenance against cosign attest; audit
# verify of a 1000-record chain. Needs the stock cosign and notation (tools.sh; make bench).
# Knobs: EVIDENCE_BENCH_RUNS (median of; default 5), EVIDENCE_DEMO_OUT (copy report.html, summary.md, *.prom there).
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local CGO_ENABLED=1
RUNS="${EVIDENCE_BENCH_RUNS:-5}"
work="$(mktemp -d)"
regpid=""
cleanup() {
  if [ -n "$regpid" ]; then kill "$regpid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

bin="${RG_BIN:-bin}"
for h in sign-artifacts release-evidence; do
  if [ ! -x "$bin/$h" ]; then
    mkdir -p "$work/bin"
    go build -trimpath -ldflags '-s -w -buildid=' -o "$work/bin/$h" "./helpers/cmd/$h"
  fi
done
sa="$bin/sign-artifacts"; [ -x "$sa" ] || sa="$work/bin/sign-artifacts"
re="$bin/release-evidence"; [ -x "$re" ] || re="$work/bin/release-evidence"

# The registry: a free port, filesystem storage in the work dir (test/bench/registry.sh).
source test/bench/registry.sh
registry_start
now() { date +%s%N; }
ms() {
  local s e
  s=$(now)
  "$@" >/dev/null 2>"$work/last.err" || { echo "evidence.bench: failed: $* : $(tail -3 "$work/last.err")" >&2; exit 1; }
  e=$(now)
  echo $(((e - s) / 1000000))
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f×", a / b }'; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
step() { "$@" >/dev/null 2>"$work/last.err" || { echo "evidence.bench: failed: $* : $(tail -3 "$work/last.err")" >&2; exit 1; }; }

TOOLS_BIN=${RG_TOOLS_DIR:-$HOME/.cache/release-gates/tools}/bin # the stock peers (tools.sh), found before HOME moves
export COSIGN_PASSWORD=bench-pw TUF_ROOT="$work/tuf" HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" RELEASE_TRACE_ID="rg-evidence-bench"
mkdir -p "$HOME"
step "$sa" keys generate --type ca --out-dir "$work/pki" --subject 'CN=release signer,O=release-gates,C=US,ST=WA'
step "$sa" keys generate --type file --out-prefix "$work/release"
step "$sa" keys generate --type file --out-prefix "$work/audit"
step "$sa" keys generate --type file --out-prefix "$work/verifier"
mkdir -p "$work/store/x509/ca/release-gates"
# The CA is the last certificate of the chain: notation trusts the root.
awk '/BEGIN CERT/{n++} {print > ("'"$work"'/cert" n ".pem")}' "$work/pki/chain.pem"
cp "$(ls "$work"/cert*.pem | sort | tail -1)" "$work/store/x509/ca/release-gates/ca.pem"
cat > "$work/trustpolicy.json" <<'JSON'
{"version":"1.0","trustPolicies":[{"name":"release-gates","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"revocation":"skip"}},"trustStores":["ca:release-gates"],"trustedIdentities":["*"]}]}
JSON

img=$(push shop/orders 1.4.0)
ledger="$work/audit.jsonl"; index="$work/releases.jsonl"
audit=(--audit-key "$work/audit.key")
step "$sa" image sign --key "$work/pki/leaf.key" --cert-chain "$work/pki/chain.pem" --plain-http --result-file "$work/sign.json" "$img"
printf '{"helper":"go-build-gate","verb":"run","status":"passed","trace_id":"%s","duration_ms":4200,"items":[{"name":"modverify","status":"passed"},{"name":"apidiff","status":"passed","message":"no breaking change"},{"name":"smoke","status":"passed"}]}\n' "$RELEASE_TRACE_ID" > "$work/gate.json"
t0=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf '{"time":"%s","event":"request","trace_id":"%s","by":"jenkins","environment":"prod"}\n{"time":"%s","event":"approved","trace_id":"%s","user":"alice","environment":"prod"}\n{"time":"%s","event":"approved","trace_id":"%s","user":"bob","environment":"prod"}\n' \
  "$t0" "$RELEASE_TRACE_ID" "$t0" "$RELEASE_TRACE_ID" "$t0" "$RELEASE_TRACE_ID" > "$work/slack-audit.jsonl"
step "$re" audit append --ledger "$ledger" --from-result "$work/gate.json" --from-result "$work/sign.json" "${audit[@]}"
prov=(attest provenance --plain-http --image "$img" --builder-id https://jenkins.example/job/orders/7/ --repo https://git.example/orders.git
  --branch main --commit "$(printf 'c%.0s' $(seq 40))" --module example.com/orders --go-version "$(go env GOVERSION)" --goos linux --goarch amd64
  --gate-result "$work/gate.json" --started "$t0" --release-key "$work/release.key")
step "$re" "${prov[@]}" --ledger "$ledger" "${audit[@]}"
step "$re" audit append --ledger "$ledger" --from-audit "$work/slack-audit.jsonl" "${audit[@]}"
step "$re" attest approval --plain-http --image "$img" --environment prod --rule prod-four-eyes --min-approvals 2 --four-eyes \
  --from-audit "$work/slack-audit.jsonl" --release-key "$work/release.key" --ledger "$ledger" "${audit[@]}"
verify=(verify --plain-http --image "$img" --cosign-key "$work/pki/leaf.pub" --trust-policy "$work/trustpolicy.json" --trust-store "$work/store"
  --release-key "$work/release.pub" --expect-repo https://git.example/orders.git --expect-branch main --expect-builder https://jenkins.example/job/orders/
  --environment prod --min-approvals 2)
digest=$("$re" "${verify[@]}" --index "$index" --ledger "$ledger" "${audit[@]}" --vsa-key "$work/verifier.key" 2>"$work/last.err") || { echo "evidence.bench: verify failed: $(tail -3 "$work/last.err")" >&2; exit 1; }
[ "$digest" = "$img" ] || { echo "evidence.bench: verify printed '$digest', want '$img'" >&2; exit 1; }
step "$re" report --ledger "$ledger" --pub "$work/audit.pub" --title "orders 1.4.0" --service orders \
  --html "$work/report.html" --markdown "$work/summary.md" --metrics "$work/release.prom"
if [ -n "${EVIDENCE_DEMO_OUT:-}" ]; then
  mkdir -p "$EVIDENCE_DEMO_OUT"
  cp "$work/report.html" "$work/summary.md" "$work/release.prom" "$ledger" "$EVIDENCE_DEMO_OUT/"
fi

# The stock cosign and notation that make bench builds (test/scripts/tools.sh), by their files and first on PATH:
# the peer column is part of the benchmark, so a missing peer stops it instead of printing "-".
for t in cosign notation; do
  [ -x "$TOOLS_BIN/$t" ] || { echo "evidence.bench: the stock $t is missing at $TOOLS_BIN/$t: run test/scripts/tools.sh cosign notation (make bench does)" >&2; exit 2; }
done
export PATH="$TOOLS_BIN:$PATH"
mkdir -p "$XDG_CONFIG_HOME/notation/truststore/x509/ca/release-gates"
cp "$work/store/x509/ca/release-gates/ca.pem" "$XDG_CONFIG_HOME/notation/truststore/x509/ca/release-gates/"
cp "$work/trustpolicy.json" "$XDG_CONFIG_HOME/notation/trustpolicy.json"
printf '{"buildDefinition":{"buildType":"x","externalParameters":{"repository":"r","branch":"main"}},"runDetails":{"builder":{"id":"b"}}}' > "$work/predicate.json"
peer_verify() {
  cosign verify --key "$work/pki/leaf.pub" --insecure-ignore-tlog=true --allow-http-registry "$img"
  notation verify --insecure-registry "$img"
  cosign verify-attestation --key "$work/release.pub" --type slsaprovenance1 --insecure-ignore-tlog=true --allow-http-registry "$img"
  cosign verify-attestation --key "$work/release.pub" --type https://release-gates.dev/approval/v1 --insecure-ignore-tlog=true --allow-http-registry "$img"
}

echo "# release evidence: Debian docker-registry on $host, median of $RUNS runs, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
row case ours peer ratio target
row --- --- --- --- ---
o=(); p=()
for ((r = 0; r < RUNS; r++)); do
  o+=("$(ms "$re" "${verify[@]}")")
  p+=("$(ms peer_verify)")
done
ours=$(median "${o[@]}")
peer=$(median "${p[@]}")
row "verify before deploy: 2 signatures + 2 attestations (one call vs 4 CLI calls)" "${ours} ms" "${peer} ms" "$(ratio "$peer" "$ours")" "≥1×"
# Admission on the VSA alone (issued by the verify above): one signed attestation instead of the 4 CLI calls.
o=(); p=()
for ((r = 0; r < RUNS; r++)); do
  o+=("$(ms "$re" verify-vsa --plain-http --image "$img" --vsa-pub "$work/verifier.pub")")
  p+=("$(ms peer_verify)")
done
ours=$(median "${o[@]}")
peer=$(median "${p[@]}")
row "verify with the VSA (verify-vsa vs the 4 CLI calls it replaces)" "${ours} ms" "${peer} ms" "$(ratio "$peer" "$ours")" "≥5× (before: 4.5×, the full verify)"
o=(); p=()
for ((r = 0; r < RUNS; r++)); do
  o+=("$(ms "$re" "${prov[@]}")")
  p+=("$(ms cosign attest --key "$work/release.key" --type slsaprovenance1 --predicate "$work/predicate.json" --tlog-upload=false --allow-http-registry -y "$img")")
done
ours=$(median "${o[@]}")
peer=$(median "${p[@]}")
row "attest SLSA provenance on an image (incl. scrypt key decryption)" "${ours} ms" "${peer} ms" "$(ratio "$peer" "$ours")" "≥1×"
# A 1000-record chain: one append call ingesting 1000 audit lines, then audit verify (signature + hash link per record).
for i in $(seq 1000); do printf '{"time":"%s","event":"approved","trace_id":"rg-big","user":"u%d","environment":"prod"}\n' "$t0" "$i"; done > "$work/big.jsonl"
app=$(ms "$re" audit append --ledger "$work/big-ledger.jsonl" --from-audit "$work/big.jsonl" "${audit[@]}")
o=()
for ((r = 0; r < RUNS; r++)); do o+=("$(ms "$re" audit verify --ledger "$work/big-ledger.jsonl" --pub "$work/audit.pub")"); done
row "audit append 1000 records (one call, one atomic rewrite)" "${app} ms" "-" "-" "-"
row "audit verify 1000 records (ECDSA P-256 + sha256 chain)" "$(median "${o[@]}") ms" "-" "-" "-"
