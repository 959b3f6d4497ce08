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

# free_port prints a loopback TCP port nobody listens on.
free_port() {
  local p i
  for i in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
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

GROOVY=(env "JAVA_OPTS=${JAVA_OPTS:-} -Xss4m -XX:+UseSerialGC -XX:TieredStopAtLevel=1" "RG_REPO_ROOT=$REPO"
  groovy -cp src:test/groovy:test/groovy/stubs:/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar test/demo/release.groovy)

# groovy_stage STAGE runs one stage of the release job in the step harness.
groovy_stage() { "${GROOVY[@]}" "$@"; }

preflight() {
  local need
  command -v go >/dev/null || die "go not found: install Go (go.mod's go line) and put it on PATH"
  "$REPO/test/scripts/install-deps.sh" --check demo >/dev/null 2>&1 ||
    die "$("$REPO/test/scripts/install-deps.sh" --check demo 2>&1 | grep MISSING | head -3); run 'make deps' (test/scripts/install-deps.sh demo)"
  for need in go-build-gate sign-artifacts slack-approval; do
    [ -x "$RG_BIN/$need" ] || die "$RG_BIN/$need missing: run 'make helpers' (or 'make demo')"
  done
  # release-evidence is not in the Makefile's HELPERS list yet: build it beside the others.
  go build -trimpath -o "$RG_BIN/" ./helpers/cmd/release-evidence
  mkdir -p "$DEMO/bin" "$OUT"
  go build -trimpath -o "$DEMO/bin/" ./test/demo/cmd/pushimage ./test/demo/cmd/slackclick ./helpers/internal/testing/cmd/slackapi \
    ./helpers/internal/testing/cmd/jenkinsfake

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
  for k in signer release audit; do
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
  say "keys/signer.key (+ keys/pki/chain.pem for notation), keys/release.key (attestations), keys/audit.key (ledger)"
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
      --messages "$DEMO/slack-api.jsonl" "$@" | sed 's/^/  [slack]   /'
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
  "$DEMO/bin/slackapi" --summary "$DEMO/slack-api.jsonl" || true
  kill "$relay" 2>/dev/null || true
  wait "$relay" 2>/dev/null || true
  grep -E 'request |denied|delivered' "$relay_log" | sed 's/^slack-approval: /  [relay]   /' || true
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
stage_summary
