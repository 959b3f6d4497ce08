#!/usr/bin/env bash
# End-to-end demo of the release gates on the example service, as stages (functions) that later gates extend.
# Needs the helpers in $RG_BIN (make helpers) and the Debian packages of install-deps.sh's demo group (make deps-demo):
# `make demo` does both first, and the demo checks the group itself and stops naming what is missing (exit 2).
# Each stage states what it expects; the demo exits non-zero when any expectation is not met.
# DEMO_DIRECT=1 (an explicit choice, announced) runs the gate stage's helper directly with the params document the step
# writes instead of the goBuildGate step in the Groovy harness; the release stage always runs the real steps there.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
root=$(cd "$(dirname "$0")/../.." && pwd)
export RG_BIN=${RG_BIN:-$root/bin}
export RG_REPO_ROOT=$root
DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rg-demo-XXXXXX")
trap 'rm -rf "$DEMO_DIR"' EXIT
export RELEASE_TRACE_ID=${RELEASE_TRACE_ID:-rg-demo-$(date +%s)}
SUMMARY=()
FAILED=0

say() { printf '\n=== %s\n' "$*"; }

# expect NAME WANT_EXIT CMD...: runs CMD, records whether its exit code was the expected one.
expect() {
  local name=$1 want=$2; shift 2
  local got=0
  "$@" || got=$?
  if [ "$got" = "$want" ]; then
    SUMMARY+=("ok      $name (exit $got, as expected)")
  else
    SUMMARY+=("WRONG   $name (exit $got, expected $want)")
    FAILED=1
  fi
}

# Debian's groovy launcher: the file install-deps.sh's demo group checks, never whichever `groovy` comes first on PATH.
GROOVY=/usr/share/groovy/bin/groovy

# preflight: the demo group's needs, met through their packages (install-deps.sh --check demo), else exit 2 naming them.
preflight() {
  local out
  out=$("$root/test/scripts/install-deps.sh" --check demo 2>&1) && return 0
  grep MISSING <<<"$out" | sed 's/^/demo: /' >&2 || true
  echo "demo: the demo's Debian packages are not all installed: run make deps-demo (test/scripts/install-deps.sh demo, as root or with sudo), or make demo, which runs it first" >&2
  exit 2
}

# Runs the goBuildGate step through the Groovy harness, or with DEMO_DIRECT=1 the helper directly with the same params.
run_gate() { # SPEC
  local spec=$1
  if [ -z "${DEMO_DIRECT:-}" ]; then
    (cd "$root" && JAVA_OPTS="${JAVA_OPTS:-} -XX:+UseSerialGC -XX:TieredStopAtLevel=1" \
      "$GROOVY" -cp "src:test/groovy:test/groovy/stubs:/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar" \
      test/demo/GateDemo.groovy "$SERVICE_BIN" "$spec")
  else
    run_gate_direct "$spec"
  fi
}

# free_port: a loopback port nothing listens on (bash /dev/tcp; nothing beyond the demo group of install-deps).
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  echo "demo: no free loopback port found" >&2
  return 2
}

run_gate_direct() { # SPEC: the params document the step would write, run by go-build-gate run
  local spec=$1 svc="$DEMO_DIR/svc-$RANDOM" port
  mkdir -p "$svc"
  cp -r "$root/test/fixtures/example-service/." "$svc/"
  cp "$SERVICE_BIN" "$svc/orders"
  port=$(free_port)
  cat >"$svc/params.json" <<JSON
{"step": "goBuildGate", "context": {"traceId": "$RELEASE_TRACE_ID"}, "secrets": {},
 "params": {"dir": "$svc", "spec": "$spec", "baseSpec": "docs/v1/swagger.json", "smokeCommand": "./orders", "smokeEnv": {"PORT": "$port"},
            "healthUrl": "http://127.0.0.1:$port/healthz", "deadline": "30s", "expectBody": {"status": "ok"}, "resultFile": "$svc/result.json"}}
JSON
  echo "go-build-gate run --params params.json (spec $spec)"
  local rc=0
  "$RG_BIN/go-build-gate" run --params "$svc/params.json" --result-file "$svc/result.json" 2>&1 | sed 's/^/  | /' || true
  rc=$(sed -n 's/^  "exit_code": \([0-9]*\),$/\1/p' "$svc/result.json")
  sed -n 's/^  "message": "\(.*\)",$/  result: \1/p' "$svc/result.json"
  return "${rc:-2}"
}

stage_build_service() {
  say "stage: build the example service (test/fixtures/example-service)"
  [ -x "$RG_BIN/go-build-gate" ] || { echo "demo: $RG_BIN/go-build-gate missing: run make helpers" >&2; exit 2; }
  SERVICE_BIN="$DEMO_DIR/orders"
  (cd "$root/test/fixtures/example-service" && GOFLAGS=-mod=readonly go build -o "$SERVICE_BIN" .)
  echo "built $SERVICE_BIN"
  SUMMARY+=("ok      build example service")
}

stage_go_build_gate() {
  say "stage: goBuildGate on a compatible v2 (adds an endpoint and optional fields): expect PASS"
  expect "goBuildGate, compatible v2 passes" 0 run_gate docs/v2-compatible/swagger.json
  say "stage: goBuildGate on a breaking v2 (removes an endpoint, requires a param, changes a type): expect FAIL"
  expect "goBuildGate, breaking v2 is rejected" 1 run_gate docs/v2-breaking/swagger.json
}

stage_release() {
  say "stage: the full release (test/demo/release.sh): gate, build & push, keys, sign, approve in Slack, evidence, verifyRelease"
  expect "full release: gate, sign, approve, attest, verify" 0 "$root/test/demo/release.sh"
}

STAGES=(stage_build_service stage_go_build_gate stage_release)

main() {
  echo "release-gates demo, trace id $RELEASE_TRACE_ID, helpers in $RG_BIN"
  preflight
  if [ -z "${DEMO_DIRECT:-}" ]; then
    echo "driving the Jenkins steps with the Groovy harness (real sh)"
  else
    echo "demo: DEMO_DIRECT=1: the gate stage runs go-build-gate directly with the step's params document, not the goBuildGate step" >&2
  fi
  for stage in "${STAGES[@]}"; do
    "$stage"
  done
  say "summary"
  printf '  %s\n' "${SUMMARY[@]}"
  return "$FAILED"
}

main "$@"
