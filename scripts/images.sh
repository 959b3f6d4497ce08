#!/usr/bin/env bash
# Builds the agent and relay images without a Docker engine (Debian buildah, vfs storage, chroot isolation) on local
# stand-ins for the pinned base images, runs them as their non-root user, checks them, pushes them to a loopback
# docker-registry, signs them by digest (sign-artifacts, cosign + notation) and verifies them with the stock CLIs.
#
#   scripts/images.sh [all]                everything above (make images)
#   scripts/images.sh agent-oci FILE       build the agent image only, write it as an OCI archive (make agent-image
#                                          when no Docker engine answers)
#   scripts/images.sh preflight            check the builder and tools only
#   scripts/images.sh check-base REF ARG   check that base image REF (passed as build arg ARG) is in its registry
#
# Env: VERSION, REVISION (stamped into the helpers and labels); RG_BIN (host helpers: sign-artifacts signs);
# RG_TOOLS_DIR (stock cosign and notation in bin/); RG_IMAGES_CACHE (debootstrap tarball, stand-in registry seed,
# RUN cache mounts; default ~/.cache/release-gates/images); BUILDAH (the builder, default /usr/bin/buildah, Debian's).
# Exit codes: 0 passed, 1 an image check failed, 2 bad input or a missing builder/base image, 3 infrastructure.
set -Eeuo pipefail
trap 'echo "images: failed at ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND" >&2' ERR
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
BUILDAH=${BUILDAH:-/usr/bin/buildah}
# The packaged tools by the files install-deps.sh's images group checks, never whichever comes first on PATH.
DEBOOTSTRAP=/usr/sbin/debootstrap REGISTRY_BIN=/usr/bin/docker-registry PROMTOOL=/usr/bin/promtool
CACHE=${RG_IMAGES_CACHE:-$HOME/.cache/release-gates/images}
TOOLS_BIN=${RG_TOOLS_DIR:-$HOME/.cache/release-gates/tools}/bin
HOST_BIN=${RG_BIN:-$REPO/bin}
VERSION=${VERSION:-$(git describe --tags --match 'v*' --always 2>/dev/null || echo dev)}
REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
HELPERS=(go-build-gate sign-artifacts slack-approval release-evidence)
AGENT_UID=10001
SUITE=bookworm
STANDIN_RECIPE=1 # bump to rebuild the cached stand-ins when their recipe changes in a way the key cannot see

die() { echo "images: $1" >&2; exit "${2:-1}"; }
say() { echo "images: $*" >&2; }
T0=$(date +%s)
phase() { say "[$(($(date +%s) - T0))s] $*"; }

# preflight: root, and the images group's needs met through their packages (install-deps.sh --check images: buildah,
# debootstrap, docker-registry, jq, curl, promtool, ...), else exit 2 naming each missing one.
preflight() {
  [ "$(id -u)" = 0 ] || die "buildah with vfs storage and chroot isolation needs root here (running as uid $(id -u))" 2
  local out
  if ! out=$(test/scripts/install-deps.sh --check images 2>&1); then
    grep MISSING <<<"$out" | sed 's/^/images: /' >&2 || true
    die "the images' Debian packages are not all installed: run test/scripts/install-deps.sh images as root (make images does), or make agent-image where a Docker engine answers" 2
  fi
  [ -x "$BUILDAH" ] || die "builder '$BUILDAH' not found: install Debian's buildah (test/scripts/install-deps.sh images)" 2
  local v
  v=$("$BUILDAH" version 2>&1) || die "builder '$BUILDAH' does not run: $(tail -1 <<<"$v")" 2
}

# free_port prints a loopback TCP port nothing listens on, below the kernel's ephemeral range (where an outgoing
# connection may hold a port that nothing listens on, and a bind would fail), and never one it printed before: the
# relay's port and its Jenkins' port are both chosen before the Jenkins one is bound.
free_port() {
  local p i lo
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
  for i in $(seq 50); do
    p=$(shuf -i 20000-$((lo - 1)) -n 1)
    grep -qx "$p" "$WORK/ports" 2>/dev/null && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p" >>"$WORK/ports"; echo "$p"; return 0; }
  done
  die "no free loopback port found" 3
}

# bb runs buildah on this run's own vfs storage; TMPDIR holds the RUN --mount=type=cache dirs, kept in the cache.
bb() { TMPDIR=$CACHE/tmp "$BUILDAH" --root "$WORK/storage" --runroot "$WORK/runroot" --storage-driver vfs "$@"; }
# bb_exec is bb replacing the shell, for `bb_exec run ... &`: $! is then buildah itself, which forwards SIGTERM.
bb_exec() { TMPDIR=$CACHE/tmp exec "$BUILDAH" --root "$WORK/storage" --runroot "$WORK/runroot" --storage-driver vfs "$@"; }

# debian_mirror prints the URI apt uses for $SUITE (deb822 .sources or one-line .list), so nothing else is hard-coded.
debian_mirror() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    uri=$(awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (u != "" && s) { print u; exit } u = ""; s = 0; next }
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) s = 1 }
      END { if (u != "" && s) print u }' "$f" | head -1)
    [ -z "$uri" ] || break
  done
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk -v suite="$SUITE" '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == suite) { print $i; exit } }')
  fi
  [ -n "$uri" ] || die "no apt source for Debian $SUITE in /etc/apt/sources.list*: debootstrap needs its mirror" 2
  echo "$uri"
}

# arg_default FILE NAME prints the default of ARG NAME in a Dockerfile.
arg_default() { sed -n "s/^ARG $2=//p" "$1" | head -1; }

# local_name PINNED REGISTRY maps golang:1.26.8-bookworm@sha256:... to REGISTRY/library/golang:1.26.8-bookworm.
local_name() {
  local ref=${1%@*} repo tag
  repo=${ref%%:*} tag=${ref#*:}
  case $repo in */*) ;; *) repo=library/$repo ;; esac
  echo "$2/$repo:$tag"
}

# check_base REF ARG: the registry named in REF must serve its manifest, else the build would fail deep in buildah.
check_base() {
  local ref=$1 arg=$2 host rest repo tag code
  host=${ref%%/*} rest=${ref#*/}
  repo=${rest%:*} tag=${rest##*:}
  [ "$host" != "$ref" ] && [ "$repo" != "$rest" ] || die "base image $ref (build arg $arg) is not HOST/REPO:TAG" 2
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
    -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json' \
    "http://$host/v2/$repo/manifests/$tag") || code=000
  case $code in
  200) ;;
  404) die "base image $ref (build arg $arg) is not in the local registry $host: build its stand-in first (scripts/images.sh pushes bookworm and golang stand-ins there)" 2 ;;
  000) die "base image $ref (build arg $arg): registry $host does not answer" 3 ;;
  *) die "base image $ref (build arg $arg): registry $host answered HTTP $code" 3 ;;
  esac
}

start_registry() {
  local port i
  port=$(free_port)
  REG=127.0.0.1:$port
  mkdir -p "$WORK/registry"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n' \
    "$WORK/registry/data" "$REG" >"$WORK/registry/config.yml"
  "$REGISTRY_BIN" serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &
  REG_PID=$!
  for i in $(seq 600); do # up to 60 s on a loaded machine
    curl -fsS -o /dev/null "http://$REG/v2/" 2>/dev/null && return 0
    kill -0 "$REG_PID" 2>/dev/null || break
    sleep 0.1
  done
  die "docker-registry did not start on $REG: $(tail -3 "$WORK/registry/log")" 3
}

cleanup() {
  local rc=$?
  [ -z "${RELAY_PID:-}" ] || { kill "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null || true; }
  [ -z "${JENKINS_PID:-}" ] || { kill "$JENKINS_PID" 2>/dev/null; wait "$JENKINS_PID" 2>/dev/null || true; }
  [ -z "${REG_PID:-}" ] || { kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null || true; }
  if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
    bb rm --all >/dev/null 2>&1 || true
    rm -rf "$WORK"
    # buildah's own per-build temp dirs under its TMPDIR (the cache mounts in buildah-cache-* stay).
    find "$CACHE/tmp" -mindepth 1 -maxdepth 1 -name 'buildah[0-9]*' -exec rm -rf {} + 2>/dev/null || true
  fi
  exit $rc
}

# ---- stand-ins ------------------------------------------------------------------------------------------------

# standin_build builds bookworm (debootstrap minbase, slimmed like bookworm-slim) and golang (the installed Go on it,
# with the build tools the official golang:bookworm image has) and pushes both to $REG under their expected names.
standin_build() {
  local debs=$1 rootfs=$WORK/rootfs c
  "$DEBOOTSTRAP" --variant=minbase --arch=amd64 --unpack-tarball="$debs" "$SUITE" "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    die "debootstrap --unpack-tarball failed: $(tail -3 "$WORK/debootstrap.log")" 3
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/*
  # As in debian:bookworm-slim: later apt installs skip docs, man pages and locales too.
  printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\npath-exclude /usr/share/info/*\n' \
    >"$rootfs/etc/dpkg/dpkg.cfg.d/slim"
  tar --numeric-owner -C "$rootfs" -cf "$WORK/rootfs.tar" .
  rm -rf "$rootfs"
  c=$(bb from scratch)
  bb add "$c" "$WORK/rootfs.tar" / >/dev/null
  rm -f "$WORK/rootfs.tar"
  bb config --os linux --arch amd64 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash \
    --label org.opencontainers.image.description="stand-in for $RUNTIME_PIN: debootstrap $SUITE minbase from $MIRROR" "$c"
  bb commit --rm -q "$c" "$RUNTIME_LOCAL" >/dev/null
  c=$(bb from "$RUNTIME_LOCAL")
  bb run --isolation chroot "$c" -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates git gcc libc6-dev make pkg-config && rm -rf /var/lib/apt/lists/*' >"$WORK/apt.log" 2>&1 ||
    die "installing the golang stand-in's build tools (apt-get in the stand-in) failed: $(tail -3 "$WORK/apt.log")" 3
  bb copy "$c" "$GOROOT_HOST" /usr/local/go >/dev/null
  bb config --env GOLANG_VERSION="$GO_PINNED" --env GOTOOLCHAIN=local --env GOPATH=/go \
    --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --workingdir /go \
    --label org.opencontainers.image.description="stand-in for $GO_PIN: the host's Go $GO_PINNED on the bookworm stand-in" "$c"
  bb commit --rm -q "$c" "$GO_LOCAL" >/dev/null
  bb push -q -D --tls-verify=false "$RUNTIME_LOCAL" "docker://$RUNTIME_LOCAL"
  bb push -q -D --tls-verify=false "$GO_LOCAL" "docker://$GO_LOCAL"
  bb rmi -a -f >/dev/null
}

# standins makes the stand-ins available in $REG: from the cached registry seed when its key matches, else built.
# Keys: the debootstrap tarball by mirror/suite/variant; the seed by the tarball's sha256, the Go tree's sha256, the
# recipe above and the expected names, so a new Go, a new mirror snapshot or a recipe change rebuilds it.
standins() {
  local gover debs_key debs seed_key seed
  GO_PIN=$(arg_default agent-image/Dockerfile GO_IMAGE)
  RUNTIME_PIN=$(arg_default agent-image/Dockerfile RUNTIME_IMAGE)
  [ -n "$GO_PIN" ] && [ -n "$RUNTIME_PIN" ] || die "agent-image/Dockerfile lost its GO_IMAGE or RUNTIME_IMAGE default" 2
  GO_PINNED=$(sed -n 's/^golang:\([0-9][0-9.]*\)-.*/\1/p' <<<"$GO_PIN")
  GOROOT_HOST=$(go env GOROOT)
  gover=$(go env GOVERSION)
  [ "$gover" = "go$GO_PINNED" ] || die "the installed Go is $gover, but agent-image/Dockerfile pins golang $GO_PINNED: the golang stand-in must be that Go" 2
  GO_LOCAL=$(local_name "$GO_PIN" "$REG")
  RUNTIME_LOCAL=$(local_name "$RUNTIME_PIN" "$REG")
  MIRROR=$(debian_mirror)
  mkdir -p "$CACHE/debootstrap" "$CACHE/standins" "$CACHE/tmp"
  debs_key=$(printf '%s\n' "$MIRROR" "$SUITE" minbase amd64 | sha256sum | cut -c1-16)
  debs=$CACHE/debootstrap/$SUITE-minbase-amd64-$debs_key.tgz
  if [ ! -s "$debs" ]; then
    phase "debootstrap: downloading $SUITE minbase from $MIRROR"
    "$DEBOOTSTRAP" --variant=minbase --arch=amd64 --make-tarball="$debs.tmp.tgz" "$SUITE" "$WORK/debs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
      die "debootstrap --make-tarball from $MIRROR failed: $(tail -3 "$WORK/debootstrap.log")" 3
    mv "$debs.tmp.tgz" "$debs"
  fi
  seed_key=$({
    sha256sum "$debs" | cut -d' ' -f1
    (cd "$GOROOT_HOST" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum
    declare -f standin_build
    echo "$STANDIN_RECIPE ${GO_LOCAL#*/} ${RUNTIME_LOCAL#*/}"
  } | sha256sum | cut -c1-16)
  seed=$CACHE/standins/registry-$seed_key
  if [ -d "$seed" ]; then
    phase "stand-ins: cached registry seed $seed"
  else
    phase "stand-ins: building bookworm (debootstrap) and golang (Go $GO_PINNED) into $REG"
    standin_build "$debs"
    rm -rf "$seed.tmp" && cp -a "$WORK/registry/data" "$seed.tmp" && mv "$seed.tmp" "$seed"
    # Only the current seed is kept: an old one is never used again.
    find "$CACHE/standins" -mindepth 1 -maxdepth 1 -name 'registry-*' ! -name "registry-$seed_key" -exec rm -rf {} +
  fi
  if [ ! -d "$WORK/registry/data/docker" ]; then
    # Seed the registry's storage: the distribution filesystem layout is plain files, so a copy is a faithful push.
    mkdir -p "$WORK/registry/data"
    cp -a "$seed/." "$WORK/registry/data/"
  fi
  check_base "$GO_LOCAL" GO_IMAGE
  check_base "$RUNTIME_LOCAL" RUNTIME_IMAGE
  say "stand-ins: $GO_LOCAL (for $GO_PIN), $RUNTIME_LOCAL (for $RUNTIME_PIN)"
}

# ---- build ----------------------------------------------------------------------------------------------------

# build_image DOCKERFILE TAG GO_IMAGE RUNTIME_IMAGE: buildah bud for linux/amd64; modules come from the host's module
# cache as a read-only file:// GOPROXY (go.sum still verifies every module), so the build needs no TLS egress.
build_image() {
  local file=$1 tag=$2 go_image=$3 runtime_image=$4 modcache
  check_base "$go_image" GO_IMAGE
  check_base "$runtime_image" RUNTIME_IMAGE
  modcache=$(go env GOMODCACHE)
  go mod download
  bb bud --isolation chroot --platform linux/amd64 --tls-verify=false --pull=true \
    -f "$file" --ignorefile "$file.dockerignore" \
    -v "$modcache/cache/download:/run/goproxy:ro" --build-arg BUILD_GOPROXY=file:///run/goproxy \
    --build-arg GO_IMAGE="$go_image" --build-arg RUNTIME_IMAGE="$runtime_image" \
    --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" \
    --timestamp "$(git log -1 --format=%ct 2>/dev/null || echo 0)" \
    -t "$tag" . >"$WORK/bud-$(basename "$(dirname "$file")").log" 2>&1 ||
    die "buildah bud -f $file failed: $(grep -v '^[[:space:]]*$' "$WORK/bud-$(basename "$(dirname "$file")").log" | tail -5)" 1
}

# ---- checks ---------------------------------------------------------------------------------------------------

# in_image CTR CMD...: runs CMD in the working container as the image's configured (non-root) user.
in_image() { local c=$1; shift; bb run --isolation chroot "$c" -- "$@"; }

# check_user CTR IMAGE: the image's USER is the numeric non-root uid and a process in it really runs as that uid.
check_user() {
  local user uid
  user=$(bb inspect --type image --format '{{.OCIv1.Config.User}}' "$2")
  [ "${user%%:*}" = "$AGENT_UID" ] || die "$2: USER is '$user', want $AGENT_UID:$AGENT_UID" 1
  uid=$(in_image "$1" id -u)
  [ "$uid" = "$AGENT_UID" ] || die "$2: runs as uid $uid, want $AGENT_UID" 1
}

# check_versions CTR IMAGE WANT HELPER...: each helper's --version in the image must equal WANT.
check_versions() {
  local c=$1 img=$2 want=$3 h out got
  shift 3
  for h in "$@"; do
    out=$(in_image "$c" "$h" --version 2>&1) || die "$img: $h --version failed: $out" 1
    got=${out##* }
    [ "$got" = "$want" ] || die "$img: $h reports version '$got', but this build's VERSION is '$want' (stale image or wrong --build-arg VERSION)" 1
  done
}

# check_agent IMAGE: versions, SHA256SUMS, the pinned Go and a go-build-gate run on the example service.
check_agent() {
  local img=$1 c out port trace
  c=$(bb from -q "$img")
  check_user "$c" "$img"
  check_versions "$c" "$img" "$VERSION" "${HELPERS[@]}"
  out=$(in_image "$c" sh -c 'cd /usr/local/bin && sha256sum -c /usr/local/share/release-gates/SHA256SUMS' 2>&1) ||
    die "$img: /usr/local/share/release-gates/SHA256SUMS does not match the helpers: $out" 1
  [ "$(grep -c ': OK$' <<<"$out")" = "${#HELPERS[@]}" ] || die "$img: SHA256SUMS lists other files than the ${#HELPERS[@]} helpers: $out" 1
  out=$(in_image "$c" go version)
  [ "$out" = "go version go$GO_PINNED linux/amd64" ] || die "$img: go version says '$out', want the pinned go$GO_PINNED" 1
  say "agent: uid $AGENT_UID, ${HELPERS[*]} at $VERSION, SHA256SUMS OK, $out"

  # go-build-gate run as the goBuildGate step runs it, in the agent's workspace: the runner's params document
  # (src/io/releasegates/StepRunner.groovy writes {step, params, context, secrets}: the Jenkinsfile's map verbatim, the
  # build context from env, the secrets' env var names; helpers/internal/params.Doc reads it strictly), then the
  # runner's command line (HelperRunner.commandLine) with RELEASE_TRACE_ID set as HelperRunner sets it.
  bb copy --chown "$AGENT_UID:$AGENT_UID" "$c" test/fixtures/example-service /home/jenkins/agent/svc >/dev/null
  port=$(free_port)
  trace="rg-images-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  jq -n --arg port "$port" --arg trace "$trace" '{
    step: "goBuildGate",
    params: {dir: "svc", checks: ["modverify", "apidiff", "smoke"], spec: "docs/v2-compatible/swagger.json",
             baseSpec: "docs/v1/swagger.json", smokeCommand: "./orders", smokeEnv: {PORT: $port},
             healthUrl: ("http://127.0.0.1:" + $port + "/healthz"), tryTimeout: "3s", deadline: "60s", expectBody: {status: "ok"}},
    context: {buildUrl: "http://127.0.0.1/job/orders/1/", jobName: "orders", jobUrl: "http://127.0.0.1/job/orders/", buildNumber: "1",
              gitUrl: "", gitCommit: "", branch: "main", traceId: $trace, workspace: "/home/jenkins/agent"},
    secrets: {}}' >"$WORK/goBuildGate.params.json"
  bb copy --chown "$AGENT_UID:$AGENT_UID" "$c" "$WORK/goBuildGate.params.json" /home/jenkins/agent/.release-gates/goBuildGate.params.json >/dev/null
  # A persistent build cache for the agent user, as a CI agent keeps one: the second run compiles nothing.
  mkdir -p "$CACHE/agent-gocache"
  chown "$AGENT_UID:$AGENT_UID" "$CACHE/agent-gocache"
  if ! out=$(bb run --isolation chroot -v "$CACHE/agent-gocache:/home/jenkins/.cache/go-build" --env "RELEASE_TRACE_ID=$trace" "$c" -- sh -c 'cd svc && go build -o orders . && cd .. &&
      go-build-gate run --params .release-gates/goBuildGate.params.json --result-file .release-gates/goBuildGate.json' 2>&1); then
    die "$img: go-build-gate run on the example service failed: $(tail -5 <<<"$out"; in_image "$c" cat .release-gates/goBuildGate.json 2>/dev/null | jq -c '{status, message}')" 1
  fi
  out=$(in_image "$c" cat .release-gates/goBuildGate.json)
  [ "$(jq -r .status <<<"$out")" = passed ] || die "$img: go-build-gate result is not passed: $(jq -c '{status, message}' <<<"$out")" 1
  # The runner contract's answer: one item per check, the step's summary with the trace id, and the JUnit XML beside
  # the result (resultFile's default), listed for archiving.
  [ "$(jq -r '[.items[].name] | sort | join(",")' <<<"$out")" = apidiff,modverify,smoke ] ||
    die "$img: go-build-gate result items are not modverify, apidiff and smoke: $(jq -c '[.items[] | {name, status}]' <<<"$out")" 1
  [ "$(jq -r '.summary[0]' <<<"$out")" = "goBuildGate: passed (trace $trace)" ] ||
    die "$img: go-build-gate summary is not the runner step's: $(jq -c .summary <<<"$out")" 1
  [ "$(jq -r '.archive | join(",")' <<<"$out")" = .release-gates/goBuildGate.junit.xml ] && in_image "$c" test -s .release-gates/goBuildGate.junit.xml ||
    die "$img: go-build-gate did not write and list .release-gates/goBuildGate.junit.xml: archive $(jq -c .archive <<<"$out")" 1
  say "agent: go-build-gate run on the example service passed ($(jq -r '[.items[] | .name + " " + .status] | join(", ")' <<<"$out"))"

  # Bad input, checked on the real image: helpers that report another version are refused with both versions named.
  if out=$( (check_versions "$c" "$img" v0.0.0-not-this-build go-build-gate) 2>&1); then
    die "check_versions accepted helpers built as $VERSION for VERSION v0.0.0-not-this-build" 1
  fi
  grep -qF "reports version '$VERSION', but this build's VERSION is 'v0.0.0-not-this-build'" <<<"$out" ||
    die "the version-mismatch message does not name both versions: $out" 1
  bb rm "$c" >/dev/null
}

# check_relay IMAGE: start the relay image's entrypoint as uid 10001, config and secrets mounted read-only as files,
# and probe /healthz, /readyz (503 while its Jenkins is down, 200 once that answers) and /metrics.
check_relay() {
  local img=$1 c port jport s=$WORK/relay-secrets cfg=$WORK/relay-config f code pid uid i
  c=$(bb from -q "$img")
  check_user "$c" "$img"
  check_versions "$c" "$img" "$VERSION" slack-approval
  in_image "$c" test -s /etc/ssl/certs/ca-certificates.crt || die "$img: no CA bundle at /etc/ssl/certs/ca-certificates.crt: the relay could not reach Slack or Jenkins over TLS" 1
  port=$(free_port)
  jport=$(free_port)
  mkdir -p "$s" "$cfg"
  for f in slack-bot-token slack-signing-secret jenkins-api-token controller-credential; do
    head -c 32 /dev/urandom | base64 >"$s/$f"
  done
  cp test/demo/rbac.yaml "$cfg/rbac.yaml"
  "$HOST_BIN/slack-approval" keygen --out "$s/decision-key.pem" --public-out "$WORK/decision-key.pub" >/dev/null 2>"$WORK/keygen.log" ||
    die "slack-approval keygen failed: $(tail -3 "$WORK/keygen.log")" 1
  # The Deployment's relay.yaml (deploy/kubernetes/relay.yaml), with SQLite and the secrets as files; its Jenkins
  # (a loopback port nothing listens on yet) is down at first.
  cat >"$cfg/relay.yaml" <<EOF
listen: 127.0.0.1:$port
mode: http
database: sqlite:/var/lib/release-gates/relay.db
rbac: /etc/release-gates/rbac.yaml
audit: "-"
decisionKey: /run/secrets/release-gates/decision-key.pem
slack:
  botToken: {file: /run/secrets/release-gates/slack-bot-token}
  signingSecret: {file: /run/secrets/release-gates/slack-signing-secret}
controllers:
  - name: ci-main
    url: http://127.0.0.1:$jport/
    user: slack-relay
    apiToken: {file: /run/secrets/release-gates/jenkins-api-token}
    credential: {file: /run/secrets/release-gates/controller-credential}
EOF
  chown -R "$AGENT_UID:$AGENT_UID" "$s" "$cfg"
  chmod 0500 "$s" && chmod 0400 "$s"/*
  # The image's entrypoint (slack-approval relay); chroot isolation shares the host's network, so it listens on loopback.
  bb_exec run --isolation chroot -v "$s:/run/secrets/release-gates:ro" -v "$cfg:/etc/release-gates:ro" \
    --env JENKINS_USER=slack-relay "$c" -- /usr/local/bin/slack-approval relay --config /etc/release-gates/relay.yaml >"$WORK/relay.log" 2>&1 &
  RELAY_PID=$!
  for i in $(seq 150); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz" 2>/dev/null) || code=000
    [ "$code" = 200 ] && break
    kill -0 "$RELAY_PID" 2>/dev/null || die "$img: the relay exited before /healthz answered: $(tail -5 "$WORK/relay.log")" 1
    sleep 0.2
  done
  [ "$code" = 200 ] || die "$img: /healthz did not answer 200 within 30s: $(tail -5 "$WORK/relay.log")" 1
  # The relay is the slack-approval process under this run's buildah (buildah-chroot-runtime, -exec in between).
  pid=$(ps -e -o pid=,ppid=,comm= | awk -v root="$RELAY_PID" '
    { parent[$1] = $2; comm[$1] = $3 }
    END { for (p in comm) if (comm[p] == "slack-approval") { q = p; while (q in parent && q != root) q = parent[q]; if (q == root) { print p; exit } } }')
  uid=$(ps -o uid= -p "${pid:-0}" 2>/dev/null | tr -d ' ') || uid=none
  [ "$uid" = "$AGENT_UID" ] || die "$img: the relay process (pid ${pid:-none}) runs as uid '$uid', want $AGENT_UID" 1
  curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" >"$WORK/relay.metrics" || die "$img: /metrics did not answer" 1
  "$PROMTOOL" check metrics <"$WORK/relay.metrics" >"$WORK/promtool.log" 2>&1 || die "$img: promtool check metrics: $(tail -3 "$WORK/promtool.log")" 1
  code=$(curl -s -o "$WORK/readyz.body" -w '%{http_code}' --max-time 8 "http://127.0.0.1:$port/readyz") || code=000
  [ "$code" = 503 ] || die "$img: /readyz answered $code while its Jenkins is down, want 503: $(head -c 300 "$WORK/readyz.body")" 1
  # Now the controller answers: readiness must follow.
  go build -o "$WORK/jenkinsroot" ./test/images/jenkinsroot
  "$WORK/jenkinsroot" --listen "127.0.0.1:$jport" --user slack-relay --token-file "$s/jenkins-api-token" >"$WORK/jenkinsroot.log" 2>&1 &
  JENKINS_PID=$!
  for i in $(seq 60); do
    code=$(curl -s -o "$WORK/readyz.body" -w '%{http_code}' --max-time 8 "http://127.0.0.1:$port/readyz") || code=000
    [ "$code" = 200 ] && break
    sleep 0.5
  done
  [ "$code" = 200 ] || die "$img: /readyz answered $code with its database and Jenkins up, want 200: $(head -c 300 "$WORK/readyz.body")" 1
  say "relay: uid $AGENT_UID, /healthz 200, /readyz 503 with its Jenkins down and 200 once it answers, /metrics passes promtool check metrics"
  kill "$RELAY_PID" 2>/dev/null
  wait "$RELAY_PID" 2>/dev/null || true
  RELAY_PID=
  [ -z "${JENKINS_PID:-}" ] || { kill "$JENKINS_PID"; wait "$JENKINS_PID" 2>/dev/null || true; JENKINS_PID=; }
  bb rm "$c" >/dev/null
}

# ---- sign and verify ------------------------------------------------------------------------------------------

# sign_and_verify REF...: a throwaway key and CA chain, sign-artifacts image sign (cosign + notation) by digest, then
# the stock cosign and notation CLIs verify each digest, and signing again adds no second signature.
sign_and_verify() {
  local sa=$HOST_BIN/sign-artifacts k=$WORK/keys home=$WORK/peer-home ref d out
  [ -x "$sa" ] || die "$sa not found: run make helpers (or set RG_BIN)" 2
  local t
  for t in cosign notation; do [ -x "$TOOLS_BIN/$t" ] || die "$TOOLS_BIN/$t not found: run test/scripts/tools.sh cosign notation" 2; done
  mkdir -p "$k" "$home"
  export COSIGN_PASSWORD
  COSIGN_PASSWORD=$(head -c 24 /dev/urandom | base64)
  "$sa" keys generate --type file --out-prefix "$k/signer" --result-file "$k/gen.json" 2>/dev/null ||
    die "sign-artifacts keys generate failed: $(jq -r .message "$k/gen.json")" 1
  "$sa" keys generate --type ca --key "$k/signer.key" --out-dir "$k/pki" --subject 'CN=release-gates images check,O=release-gates,ST=Berlin,C=DE' \
    --validity 2h --result-file "$k/ca.json" 2>/dev/null || die "sign-artifacts keys generate --type ca failed: $(jq -r .message "$k/ca.json")" 1
  "$sa" image sign --result-file "$WORK/sign.json" --key "$k/signer.key" --cert-chain "$k/pki/chain.pem" \
    --format cosign,notation --plain-http "$@" 2>"$WORK/sign.log" ||
    die "sign-artifacts image sign failed: $(jq -r .message "$WORK/sign.json")" 1
  mapfile -t DIGESTS < <(jq -r '.items[].details.digest' "$WORK/sign.json")
  [ "${#DIGESTS[@]}" = $# ] || die "sign-artifacts signed ${#DIGESTS[@]} images, want $#: $(jq -c . "$WORK/sign.json")" 1
  phase "signed by digest (cosign + notation): ${DIGESTS[*]}"

  peer() { env HOME="$home" XDG_CONFIG_HOME="$home/.config" DOCKER_CONFIG="$home/.docker" TUF_ROOT="$home/tuf" "$TOOLS_BIN/$1" "${@:2}"; }
  mkdir -p "$k/trust/x509/ca/rg"
  cp "$k/pki/ca.crt" "$k/trust/x509/ca/rg/ca.pem"
  printf '{"version":"1.0","trustPolicies":[{"name":"rg","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"revocation":"skip"}},"trustStores":["ca:rg"],"trustedIdentities":["x509.subject: C=DE, ST=Berlin, O=release-gates, CN=release-gates images check"]}]}\n' >"$k/trustpolicy.json"
  out=$(peer notation cert add --type ca --store rg "$k/pki/ca.crt" 2>&1) || die "notation cert add: $out" 3
  out=$(peer notation policy import --force "$k/trustpolicy.json" 2>&1) || die "notation policy import: $out" 3
  for d in "${DIGESTS[@]}"; do
    out=$(peer cosign verify --key "$k/signer.pub" --insecure-ignore-tlog=true --allow-http-registry "$d" 2>&1) ||
      die "stock cosign does not verify $d: $out" 1
    out=$(peer notation verify --insecure-registry "$d" 2>&1) || die "stock notation does not verify $d: $out" 1
  done
  say "verified with stock cosign ($("$TOOLS_BIN/cosign" version 2>/dev/null | sed -n 's/^GitVersion:[[:space:]]*//p')) and notation ($("$TOOLS_BIN/notation" version 2>/dev/null | sed -n 's/^Version:[[:space:]]*//p'))"
  "$sa" image verify --result-file "$WORK/verify.json" --key "$k/signer.pub" --trust-policy "$k/trustpolicy.json" --trust-store "$k/trust" \
    --plain-http "${DIGESTS[@]}" 2>/dev/null || die "sign-artifacts image verify failed: $(jq -r .message "$WORK/verify.json")" 1
  # Signing again must reuse both signatures, not push duplicates.
  "$sa" image sign --result-file "$WORK/resign.json" --key "$k/signer.key" --cert-chain "$k/pki/chain.pem" \
    --format cosign,notation --plain-http "${DIGESTS[@]}" 2>/dev/null || die "re-signing failed: $(jq -r .message "$WORK/resign.json")" 1
  [ "$(jq '[.items[].details | .cosign.reused, .notation.reused] | all' "$WORK/resign.json")" = true ] ||
    die "signing again pushed new signatures instead of reusing them: $(jq -c '[.items[].details]' "$WORK/resign.json")" 1
}

# push IMAGE REF: push to the loopback registry; prints REF@digest.
push() {
  # -D: uncompressed layers (valid OCI, and much faster on loopback than gzip of the Go toolchain).
  bb push -q -D --tls-verify=false --digestfile "$WORK/digest" "$1" "docker://$2" || die "buildah push $1 to $2 failed" 3
  echo "$2@$(cat "$WORK/digest")"
}

# ---- commands -------------------------------------------------------------------------------------------------

cmd=${1:-all}
case $cmd in
preflight) preflight; say "preflight: $BUILDAH $("$BUILDAH" version 2>/dev/null | sed -n 's/^Version:[[:space:]]*//p'), running as root"; exit 0 ;;
check-base) [ $# = 3 ] || die "usage: scripts/images.sh check-base REF BUILD_ARG" 2; check_base "$2" "$3"; exit 0 ;;
all) [ $# = 1 ] || die "usage: scripts/images.sh all" 2 ;;
agent-oci) [ $# = 2 ] || die "usage: scripts/images.sh agent-oci FILE" 2 ;;
*) die "unknown command '$cmd': use all, agent-oci FILE, preflight or check-base REF ARG" 2 ;;
esac

preflight
mkdir -p "$CACHE/tmp"
# One run at a time: runs share the cached stand-ins and RUN cache mounts.
exec 9>"$CACHE/.lock"
flock -w 3600 9 || die "another scripts/images.sh holds $CACHE/.lock" 3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rg-images.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT TERM
phase "VERSION $VERSION, cache $CACHE"
start_registry
standins

# Bad input, checked before the real build: a base image the registry does not have is named with its build arg.
if out=$( (check_base "$REG/library/debian:no-such-tag" RUNTIME_IMAGE) 2>&1); then die "check_base accepted a missing base image" 1; fi
grep -qF "base image $REG/library/debian:no-such-tag (build arg RUNTIME_IMAGE) is not in the local registry" <<<"$out" ||
  die "the missing-base-image message does not name the image and build arg: $out" 1

AGENT=localhost/release-gates/agent:$VERSION
phase "building agent-image/Dockerfile (buildah bud, vfs, chroot, linux/amd64)"
build_image agent-image/Dockerfile "$AGENT" "$GO_LOCAL" "$RUNTIME_LOCAL"
if [ "$cmd" = agent-oci ]; then
  mkdir -p "$(dirname "$2")"
  bb push -q "$AGENT" "oci-archive:$2.tmp:release-gates/agent:$VERSION" && mv "$2.tmp" "$2"
  phase "wrote $2"
  exit 0
fi
phase "checking the agent image as uid $AGENT_UID"
check_agent "$AGENT"

RELAY=localhost/release-gates/relay:$VERSION
phase "building deploy/relay/Dockerfile"
build_image deploy/relay/Dockerfile "$RELAY" "$GO_LOCAL" "$RUNTIME_LOCAL"
phase "starting the relay image"
check_relay "$RELAY"

phase "pushing to $REG"
agent_ref=$(push "$AGENT" "$REG/release-gates/agent:$VERSION")
relay_ref=$(push "$RELAY" "$REG/release-gates/relay:$VERSION")
# repo:tag@digest: sign-artifacts refuses a tag that moved away from the digest just pushed.
sign_and_verify "$agent_ref" "$relay_ref"
phase "passed: agent and relay images built, run, checked, signed and verified"
