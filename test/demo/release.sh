#!/usr/bin/env bash
# The release half of `make demo` (test/demo/demo.sh's last stage calls it): one build of the example service's release
# job on embedded defaults. The real vars steps run in the Groovy step harness with real sh and the real helpers
# (test/demo/release.groovy); everything talks to 127.0.0.1 only. Stages: gate, build & push, keys, sign, approve,
# evidence & verify, summary. Needs: make deps helpers. Every process started here is stopped on exit (also on failure)
# and the temp dir is removed (RG_DEMO_KEEP=1 keeps it); the report stays in test/demo/out/ (RG_DEMO_OUT).
# Exits non-zero naming the stage that failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
export GOTOOLCHAIN=local
export RG_BIN="${RG_BIN:-$REPO/bin}"
OUT="${RG_DEMO_OUT:-$REPO/test/demo/out}"

PIDS=()
DEMO=$(mktemp -d "${TMPDIR:-/tmp}/rg-demo.XXXXXX")
STAGE=setup
T0=$(date +%s)

cleanup() {
  local rc=$?
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "${RG_DEMO_KEEP:-}" ]; then
    echo "demo: kept $DEMO (RG_DEMO_KEEP)" >&2
  else
    rm -rf "$DEMO"
  fi
  if [ "$rc" -ne 0 ]; then
    echo >&2
    echo "demo: FAILED in stage '$STAGE' (exit $rc); see the lines above" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

header() {
  STAGE=$1
  printf '\n=== %s: %s  (+%ss)\n' "$1" "$2" "$(($(date +%s) - T0))"
}
say() { printf '  %s\n' "$*"; }
die() {
  echo "demo: $*" >&2
  exit 1
}

# free_port prints a loopback TCP port nobody listens on, never one it printed before: the Jenkins and smoke ports
# are both chosen before either is bound, so a second call could otherwise hand out the first one again.
free_port() {
  local p i
  for i in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    grep -qx "$p" "$DEMO/ports" 2>/dev/null && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p" >>"$DEMO/ports"
      echo "$p"
      return 0
    fi
  done
  return 1
}

# wait_for CMD... retries CMD for up to 20 s.
wait_for() {
  local i
  for i in $(seq 1 200); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# helper CMD... runs a helper with its progress lines (stderr) indented under the stage.
helper() { "$@" 2>&1 | sed 's/^/  | /'; }

rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# Debian's groovy launcher, by the path install-deps.sh's demo group checks (not whichever groovy is first on PATH).
GROOVY=(env "JAVA_OPTS=${JAVA_OPTS:-} -Xss4m -XX:+UseSerialGC -XX:TieredStopAtLevel=1" "RG_REPO_ROOT=$REPO"
  /usr/share/groovy/bin/groovy -cp src:test/groovy:test/groovy/stubs:/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar test/demo/release.groovy)

# groovy_stage STAGE runs one stage of the release job in the step harness.
groovy_stage() { "${GROOVY[@]}" "$@"; }

preflight() {
  local need
  command -v go >/dev/null || die "go not found: install Go (go.mod's go line) and put it on PATH"
  "$REPO/test/scripts/install-deps.sh" --check demo >/dev/null 2>&1 ||
    die "$("$REPO/test/scripts/install-deps.sh" --check demo 2>&1 | grep MISSING | head -3); run 'make deps-demo' (test/scripts/install-deps.sh demo)"
  for need in go-build-gate sign-artifacts slack-approval; do
    [ -x "$RG_BIN/$need" ] || die "$RG_BIN/$need missing: run 'make helpers' (or 'make demo')"
  done
  # release-evidence is not in the Makefile's HELPERS list yet: build it beside the others.
  go build -trimpath -o "$RG_BIN/" ./helpers/cmd/release-evidence
  mkdir -p "$DEMO/bin" "$OUT"
  go build -trimpath -o "$DEMO/bin/" ./test/demo/cmd/pushimage ./test/demo/cmd/slackclick ./helpers/internal/testing/cmd/slackapi \
    ./helpers/internal/testing/cmd/jenkinsfake ./helpers/internal/testing/cmd/crdcheck

  # One build of the "orders" job: workspace, trace id, job URL (the Jenkins stand-in's port), demo secrets.
  export DEMO_DIR=$DEMO DEMO_WS=$DEMO/ws
  mkdir -p "$DEMO_WS/.release-gates"
  cp -r test/fixtures/example-service "$DEMO_WS/svc"
  cp test/demo/rbac.yaml "$DEMO_WS/rbac.yaml"
  export RELEASE_TRACE_ID="${RELEASE_TRACE_ID:-rg-demo-$(rand_hex 8)}"
  export DEMO_VERSION=1.0.0 DEMO_REQUESTER=U01ALICE DEMO_REPO=https://github.com/release-gates/release-gates
  DEMO_COMMIT=$(git rev-parse HEAD 2>/dev/null || printf '0%.0s' $(seq 1 40))
  export DEMO_COMMIT
  DEMO_JENKINS_ADDR=127.0.0.1:$(free_port)
  export DEMO_JENKINS_ADDR DEMO_JOB_URL="http://$DEMO_JENKINS_ADDR/job/orders/"
  export DEMO_SMOKE_PORT=$(free_port)
  export DEMO_REPORT="$OUT/report.html"
  # Demo secrets: random per run, in env vars only (the harness binds them as Jenkins credentials).
  DEMO_KEY_PASSWORD="demo-$(rand_hex 12)" DEMO_SLACK_BOT_TOKEN="xoxb-demo-$(rand_hex 12)" DEMO_RELAY_TOKEN=$(rand_hex 32)
  export DEMO_KEY_PASSWORD DEMO_SLACK_BOT_TOKEN DEMO_RELAY_TOKEN
  SIGNING_SECRET=$(rand_hex 32) JENKINS_TOKEN=$(rand_hex 16)
}

stage_gate() {
  header gate "the release job's goBuildGate (v1 -> v2-compatible): its result goes into Slack and the provenance"
  (cd "$DEMO_WS/svc" && go build -o orders .)
  groovy_stage gate
}

stage_build_push() {
  header "build & push" "linux/amd64 binary, Debian docker-registry on loopback, OCI image without Docker"
  mkdir -p "$DEMO_WS/dist"
  (cd "$DEMO_WS/svc" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags '-s -w' -o ../dist/orders-linux-amd64 .)
  say "built dist/orders-linux-amd64 ($(wc -c <"$DEMO_WS/dist/orders-linux-amd64") bytes)"
  local port
  port=$(free_port)
  export REGISTRY=127.0.0.1:$port
  mkdir -p "$DEMO/registry"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$DEMO/registry/data" "$REGISTRY" >"$DEMO/registry/config.yml"
  docker-registry serve "$DEMO/registry/config.yml" >"$DEMO/registry/registry.log" 2>&1 &
  PIDS+=($!)
  wait_for curl -fsS "http://$REGISTRY/v2/" || die "docker-registry did not start on $REGISTRY: $(cat "$DEMO/registry/registry.log")"
  say "docker-registry (distribution) serving http://$REGISTRY"
  local ref
  ref=$("$DEMO/bin/pushimage" --binary "$DEMO_WS/dist/orders-linux-amd64" --ref "$REGISTRY/demo/orders:$DEMO_VERSION" \
    --path /usr/local/bin/orders --plain-http)
  export IMAGE_DIGEST_REF=$ref IMAGE="$REGISTRY/demo/orders:$DEMO_VERSION@${ref#*@}"
  say "pushed $REGISTRY/demo/orders:$DEMO_VERSION"
  say "digest ${ref#*@}"
}

stage_keys() {
  header keys "cosign file keys, a notation CA + code-signing leaf for the signing key, trust policy + store"
  local sa=$RG_BIN/sign-artifacts k
  mkdir -p "$DEMO_WS/keys"
  cd "$DEMO_WS"
  for k in signer release audit vsa; do
    COSIGN_PASSWORD=$DEMO_KEY_PASSWORD helper "$sa" keys generate --type file --out-prefix "keys/$k" --result-file ".release-gates/keys-$k.json"
  done
  COSIGN_PASSWORD=$DEMO_KEY_PASSWORD helper "$sa" keys generate --type ca --key keys/signer.key --out-dir keys/pki \
    --subject 'CN=orders release signer,O=release-gates demo,L=Berlin,ST=Berlin,C=DE' --result-file .release-gates/keys-ca.json
  mkdir -p keys/truststore/x509/ca/demo
  cp keys/pki/ca.crt keys/truststore/x509/ca/demo/ca.pem
  cat >keys/trustpolicy.json <<'EOF'
{"version": "1.0", "trustPolicies": [{"name": "demo", "registryScopes": ["*"],
  "signatureVerification": {"level": "strict", "override": {"revocation": "skip"}},
  "trustStores": ["ca:demo"],
  "trustedIdentities": ["x509.subject: C=DE, ST=Berlin, L=Berlin, O=release-gates demo, CN=orders release signer"]}]}
EOF
  cd "$REPO"
  say "keys/signer.key (+ keys/pki/chain.pem for notation), keys/release.key (attestations), keys/audit.key (ledger), keys/vsa.key (VSA verifier)"
}

stage_sign() {
  header sign "signArtifacts: binary, go.sum, SHA256SUMS and the image by digest (cosign + notation), then verified"
  groovy_stage sign
}

stage_approve() {
  header approve "slackApproval through the approval relay: its own rbac.yaml, SQLite state, one signed answer to the input"
  local sa=$RG_BIN/slack-approval relay_log=$DEMO/relay.log relay_port slack_port
  mkdir -p "$DEMO/relay"
  # The platform's side: the relay's decision key (its public key goes to the pipelines) and its config.
  helper "$sa" keygen --out "$DEMO/relay/decision.pem" --public-out "$DEMO_WS/keys/relay.pub" --result-file "$DEMO/relay/keygen.json"
  slack_port=$(free_port)
  SLACK_BOT_TOKEN=$DEMO_SLACK_BOT_TOKEN "$DEMO/bin/slackapi" --listen "127.0.0.1:$slack_port" --log "$DEMO/slack-api.jsonl" 2>"$DEMO/slackapi.log" &
  PIDS+=($!)
  # Jenkins: build 7 of orders runs, started by alice; the pipeline needs 2 s to reach an input (node, stash, audit).
  JENKINS_API_TOKEN=$JENKINS_TOKEN "$DEMO/bin/jenkinsfake" --listen "$DEMO_JENKINS_ADDR" --user slack-relay --build /job/orders/7 \
    --started-by alice --rearm-delay 2s 2>"$DEMO/jenkinsfake.log" &
  PIDS+=($!)
  relay_port=$(free_port)
  export DEMO_RELAY_URL="http://127.0.0.1:$relay_port"
  cat >"$DEMO/relay/relay.yaml" <<EOF
listen: 127.0.0.1:$relay_port
mode: http
database: sqlite:$DEMO/relay/relay.db
rbac: $REPO/test/demo/rbac.yaml
audit: $DEMO_WS/.release-gates/relay-audit.jsonl
decisionKey: $DEMO/relay/decision.pem
slack:
  apiURL: http://127.0.0.1:$slack_port/api/
  botToken: {env: SLACK_BOT_TOKEN}
  signingSecret: {env: SLACK_SIGNING_SECRET}
controllers:
  - name: demo
    url: http://$DEMO_JENKINS_ADDR/
    user: slack-relay
    apiToken: {env: RG_JENKINS_API_TOKEN}
    credentialSHA256: $(printf '%s' "$DEMO_RELAY_TOKEN" | sha256sum | cut -d' ' -f1)
EOF
  env SLACK_BOT_TOKEN="$DEMO_SLACK_BOT_TOKEN" SLACK_SIGNING_SECRET="$SIGNING_SECRET" RG_JENKINS_API_TOKEN="$JENKINS_TOKEN" \
    "$sa" relay --config "$DEMO/relay/relay.yaml" --result-file "$DEMO/relay.json" 2>"$relay_log" &
  local relay=$!
  PIDS+=("$relay")
  wait_for curl -fsS "$DEMO_RELAY_URL/readyz" || die "the relay did not get ready: $(cat "$relay_log")"
  say "approval relay on $DEMO_RELAY_URL (rbac.yaml, SQLite, decision key, bot token: the relay's; the pipeline holds one controller credential)"

  "${GROOVY[@]}" approve &
  local job=$!
  PIDS+=("$job")
  click() {
    env SLACK_SIGNING_SECRET="$SIGNING_SECRET" "$DEMO/bin/slackclick" --relay "$DEMO_RELAY_URL/slack/interactions" \
      --messages "$DEMO/slack-api.jsonl" "$@" | tee -a "$DEMO/clicks.log" | sed 's/^/  [slack]   /'
  }
  local i
  for i in $(seq 1 600); do
    grep -q chat.postMessage "$DEMO/slack-api.jsonl" 2>/dev/null && break
    kill -0 "$job" 2>/dev/null || die "the pipeline stopped before the relay posted the approval message"
    sleep 0.1
  done
  grep -q chat.postMessage "$DEMO/slack-api.jsonl" || die "the relay posted no approval message within 60 s"
  click --user U01ALICE --name alice --action approve # the requester (Jenkins says alice started the build): four-eyes
  click --user U09EVE --name eve --action approve     # not an approver
  # bob and carol click at the same instant, while the pipeline may still be on its way to the input: both count.
  click --user U02BOB --name bob --action approve &
  local b=$!
  click --user U03CAROL --name carol --action approve &
  local c=$!
  wait "$b" "$c"
  wait "$job" || die "the slackApproval stage failed"
  say "the approval message as the relay updated it (oldest first):"
  local updates
  updates=$("$DEMO/bin/slackapi" --summary "$DEMO/slack-api.jsonl") || die "cannot read the Slack stand-in's log $DEMO/slack-api.jsonl"
  printf '%s\n' "$updates"
  kill "$relay" 2>/dev/null || true
  wait "$relay" 2>/dev/null || true
  grep -E 'request |denied|delivered' "$relay_log" | sed 's/^slack-approval: /  [relay]   /' || true
  assert_approval "$relay_log" "$DEMO/clicks.log" "$updates"
}

# assert_approval RELAY_LOG CLICKS UPDATES: fails the demo unless the relay refused the requester's and the
# non-approver's clicks, counted both simultaneous approvers, and Slack showed the progress: the clickers saw 1 of 2
# then 2 of 2, the message ends at 2 of 2 without buttons, and any earlier update is 1 of 2 with its buttons. (Two
# clicks within the relay's RedrawDelay fold into one chat.update by design, helpers/internal/relay/outbox.go, so the
# message's own 1 of 2 shows only when the clicks are a second apart.)
assert_approval() {
  local log=$1 clicks=$2 updates=$3 last
  grep -q 'denied: user U01ALICE .*four-eyes rule' "$log" ||
    die "approve: the relay did not refuse the requester alice's own click (no 'denied: user U01ALICE ... four-eyes rule' in $log)"
  grep -q 'denied: user U09EVE .*not an approver' "$log" ||
    die "approve: the relay did not refuse the non-approver eve's click (no 'denied: user U09EVE ... not an approver' in $log)"
  [ "$(grep -Ec '^(bob|carol) .*"Recorded: you approved orders for prod \(1 of 2\)\."$' "$clicks")" = 1 ] &&
    [ "$(grep -Ec '^(bob|carol) .*"Recorded: you approved orders for prod \(2 of 2\)\. ' "$clicks")" = 1 ] ||
    die "approve: bob and carol should have been shown 1 of 2 and 2 of 2 (one each); Slack showed: $(grep -E '^(bob|carol) ' "$clicks")"
  last=$(printf '%s\n' "$updates" | tail -n1 | sed 's/^ *//')
  [[ $last =~ \*Approved\*.*\ 2\ of\ 2:\ (bob,\ carol|carol,\ bob)\ approved\ +\(buttons\ removed\)$ ]] ||
    die "approve: the last Slack update should show '2 of 2: bob, carol approved' (both simultaneous clicks counted) with the buttons removed, got: $last"
  local bad
  bad=$(printf '%s\n' "$updates" | sed '$d' | grep -Ev '^ *:hourglass_flowing_sand: 1 of 2: (bob|carol) approved +\[Approve\] \[Reject\]$' || true)
  [ -z "$bad" ] || die "approve: a Slack update before the final one is not '1 of 2: bob|carol approved' with its buttons: $bad"
  say "asserted: alice (requester) and eve (non-approver) refused; bob and carol both counted; Slack showed 1 of 2, then 2 of 2 with the buttons removed"
}

stage_evidence() {
  header "evidence & verify" "attestRelease (provenance + approval attestations on the image, audit chain), verifyRelease, report"
  local re=$RG_BIN/release-evidence rg=.release-gates
  DEMO_GO_VERSION=$(go env GOVERSION) groovy_stage attest
  groovy_stage verify
  say "verified digest: $(cat "$DEMO_WS/.release-gates/verified-digest.txt")"
  cd "$DEMO_WS"
  helper "$re" audit verify --ledger $rg/audit.jsonl --pub keys/audit.pub --result-file $rg/audit-verify.json
  helper "$re" report --ledger $rg/audit.jsonl --pub keys/audit.pub --title "orders $DEMO_VERSION" --service orders \
    --html "$OUT/report.html" --markdown "$OUT/summary.md" --metrics "$OUT/release.prom" --result-file $rg/report.json
  cd "$REPO"
  say "release report: $OUT/report.html (also summary.md, release.prom)"
}

# check NAME CMD...: runs CMD (its output to $DEMO/checks.log), prints one line and records it; a failed check ends the demo.
CHECKS=()
check() {
  local name=$1
  shift
  printf '\n$ %s\n' "$*" >>"$DEMO/checks.log"
  if "$@" >>"$DEMO/checks.log" 2>&1; then
    CHECKS+=("ok    $name")
    say "ok    $name"
  else
    tail -n 15 "$DEMO/checks.log" | cut -c1-300 | sed 's/^/  | /'
    die "check failed: $name"
  fi
}

# refused NAME WANT_EXIT CMD...: like check, but CMD must fail with WANT_EXIT (a check that cannot fail proves nothing).
refused() {
  local name=$1 want=$2 got=0
  shift 2
  printf '\n$ %s\n' "$*" >>"$DEMO/checks.log"
  "$@" >>"$DEMO/checks.log" 2>&1 || got=$?
  [ "$got" = "$want" ] || die "check failed: $name: exit $got, want $want"
  CHECKS+=("ok    $name (exit $got)")
  say "ok    $name (exit $got)"
}

stage_interop() {
  header interop "stock cosign v2 + v3 verify every signature and attestation; verify-vsa admits on the VSA alone; the Kyverno policy fits its CRD"
  local tools=${RG_TOOLS_DIR:-$HOME/.cache/release-gates/tools}/bin re=$RG_BIN/release-evidence tool b
  for tool in cosign cosign3; do
    [ -x "$tools/$tool" ] || die "$tools/$tool missing: run 'make tools' (test/scripts/tools.sh cosign cosign3)"
  done
  cd "$DEMO_WS"
  printf '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}\n' >"$DEMO/trusted_root.json"
  # Offline, key-based: no transparency log; v3 also needs a trusted root (an empty one: keys only).
  local -a off=(--insecure-ignore-tlog=true --trusted-root "$DEMO/trusted_root.json")
  export TUF_ROOT=$DEMO/tuf SIGSTORE_NO_CACHE=1
  for tool in cosign cosign3; do
    local v=v2
    [ "$tool" = cosign3 ] && v=v3
    check "cosign $v verify: image signature (keys/signer.pub)" \
      "$tools/$tool" verify --key keys/signer.pub "${off[@]}" --allow-http-registry "$IMAGE_DIGEST_REF"
    check "cosign $v verify-attestation: SLSA provenance (keys/release.pub)" \
      "$tools/$tool" verify-attestation --key keys/release.pub "${off[@]}" --allow-http-registry --type https://slsa.dev/provenance/v1 "$IMAGE_DIGEST_REF"
    check "cosign $v verify-attestation: approval (keys/release.pub)" \
      "$tools/$tool" verify-attestation --key keys/release.pub "${off[@]}" --allow-http-registry --type https://release-gates.dev/approval/v1 "$IMAGE_DIGEST_REF"
    check "cosign $v verify-attestation: ledger checkpoint (keys/release.pub)" \
      "$tools/$tool" verify-attestation --key keys/release.pub "${off[@]}" --allow-http-registry --type https://release-gates.dev/ledger-checkpoint/v1 "$IMAGE_DIGEST_REF"
    check "cosign $v verify-attestation: VSA (keys/vsa.pub)" \
      "$tools/$tool" verify-attestation --key keys/vsa.pub "${off[@]}" --allow-http-registry --type https://slsa.dev/verification_summary/v1 "$IMAGE_DIGEST_REF"
    for b in dist/orders-linux-amd64 dist/SHA256SUMS svc/go.sum; do
      # a detached .sig (signArtifacts' default format): --trusted-root applies only to bundles
      check "cosign $v verify-blob: $b (keys/signer.pub)" \
        "$tools/$tool" verify-blob --key keys/signer.pub --insecure-ignore-tlog=true --signature "$b.sig" "$b"
    done
  done
  check "release-evidence verify-vsa: admitted on the VSA alone" \
    "$re" verify-vsa --plain-http --image "$IMAGE_DIGEST_REF" --vsa-pub keys/vsa.pub --result-file .release-gates/verify-vsa.json
  refused "cosign v2 verify-attestation: VSA under the release key is refused" 1 \
    "$tools/cosign" verify-attestation --key keys/release.pub "${off[@]}" --allow-http-registry --type https://slsa.dev/verification_summary/v1 "$IMAGE_DIGEST_REF"
  refused "release-evidence verify-vsa: a VSA not signed by the trusted verifier key is refused" 1 \
    "$re" verify-vsa --plain-http --image "$IMAGE_DIGEST_REF" --vsa-pub keys/release.pub --result-file .release-gates/verify-vsa-refused.json
  check "release-evidence policy export --format kyverno --vsa-key keys/vsa.pub" \
    "$re" policy export --format kyverno --image-glob "$REGISTRY/demo/orders*" --cosign-key keys/signer.pub --release-key keys/release.pub \
    --notation-cert-chain keys/pki/chain.pem --expect-repo "$DEMO_REPO" --expect-branch main --expect-builder "$DEMO_JOB_URL" \
    --environment prod --min-approvals 2 --vsa-key keys/vsa.pub \
    --out "$OUT/kyverno-policy.yaml" --result-file .release-gates/policy-export.json
  check "kyverno policy valid against the ImageValidatingPolicy CRD (policies.kyverno.io/v1)" \
    "$DEMO/bin/crdcheck" --from "$REPO" --crd policies.kyverno.io_imagevalidatingpolicies.yaml --version v1 --file "$OUT/kyverno-policy.yaml"
  cd "$REPO"
}

# no_secret_leaked fails when a demo secret appears in the console, a result, audit or relay log, or the report.
no_secret_leaked() {
  local name value hits
  for name in DEMO_KEY_PASSWORD DEMO_SLACK_BOT_TOKEN DEMO_RELAY_TOKEN SIGNING_SECRET JENKINS_TOKEN; do
    value=${!name}
    hits=$(grep -rlF -- "$value" "$DEMO/console.log" "$DEMO_WS/.release-gates" "$OUT" "$DEMO"/*.log 2>/dev/null || true)
    [ -z "$hits" ] || die "secret $name leaked into: $hits"
  done
  say "no demo secret (key password, bot token, relay credential, signing secret, Jenkins token) in the console, results, logs or report"
}

stage_summary() {
  header summary "what happened"
  no_secret_leaked
  groovy_stage summary
  printf '  interop and admission checks (%d):\n' "${#CHECKS[@]}"
  printf '    %s\n' "${CHECKS[@]}"
  printf '\ndemo: release of orders %s passed every gate in %ss\n' "$DEMO_VERSION" "$(($(date +%s) - T0))"
}

exec > >(tee "$DEMO/console.log") 2>&1
preflight
stage_gate
stage_build_push
stage_keys
stage_sign
stage_approve
stage_evidence
stage_interop
stage_summary
