#!/usr/bin/env bash
# Installs the Debian packages each make target needs, checking the package and the file really used, never a command on PATH.
#
#   install-deps.sh [GROUP...]          install what GROUP (test, check, demo, images, release, bench, lint; default test)
#                                       needs; apt-get update runs once, only when something is missing
#   install-deps.sh --check [GROUP...]  install nothing: print one line per need (group, package, file, how it was
#                                       found) and exit 1 when any need is not met through its package
#
# A need is met only when dpkg lists its package as installed AND the file the tests use exists AND dpkg says that
# package owns it. A `java` on PATH from another JDK does not meet "default-jre-headless": Debian's groovy launcher
# runs /usr/lib/jvm/default-java/bin/java, which only that package provides.
# The stock peer CLIs (cosign, notation, ...) are no Debian packages: test/scripts/tools.sh builds them into $RG_TOOLS_DIR/bin.
# Tests only: RG_DEPS_ROOT prefixes every file path; RG_DEPS_NEEDS replaces the table (with --check).
set -euo pipefail

ROOT=${RG_DEPS_ROOT:-}

# group package file why
NEEDS=$(cat <<'EOF'
test  default-jre-headless     /usr/lib/jvm/default-java/bin/java          Debian's groovy launcher runs this java (JAVA_HOME)
test  groovy                   /usr/share/groovy/lib/groovy-2.4.21.jar     Groovy 2.4.21, the version Jenkins core embeds
test  groovy                   /usr/share/groovy/bin/groovy                Debian's groovy launcher, which test/groovy/run.sh runs by this path
test  junit4                   /usr/share/java/junit4.jar                  JUnitCore drives the Groovy step tests
test  libhamcrest-java         /usr/share/java/hamcrest-core.jar           JUnit 4's matchers
test  libsofthsm2              /usr/lib/softhsm/libsofthsm2.so             the PKCS#11 module the HSM tests load
test  softhsm2                 /usr/bin/softhsm2-util                      initialises the test tokens
test  docker-registry          /usr/bin/docker-registry                    Debian's distribution registry for image tests
test  git                      /usr/bin/git                                tags, worktrees, base specs
test  make                     /usr/bin/make                               make test itself, make -n check (check_test) and make release (ReleaseDownloadRealTest)
test  gcc                      /usr/bin/gcc                                cgo (crypto11) and -race
test  libc6-dev                /usr/include/stdio.h                        cgo headers
test  curl                     /usr/bin/curl                               the Groovy runner's helper download
test  openssl                  /usr/bin/openssl                            the runner verifies SHA256SUMS.sig with it
test  time                     /usr/bin/time                               peak RSS in benchmarks and tests
test  chromium                 /usr/bin/chromium                           the release report screenshot test
test  postgresql-15            /usr/lib/postgresql/15/bin/initdb           the relay's PostgreSQL store tests
test  postgresql-15            /usr/lib/postgresql/15/bin/pg_ctl           starts and stops the test cluster
test  prometheus               /usr/bin/promtool                           checks the relay's /metrics text
test  libcodenarc-groovy-java  /usr/share/java/CodeNarc.jar                CodeNarc lints vars/ and src/
test  libgmetrics-groovy-java  /usr/share/java/GMetrics.jar                on CodeNarc.jar's manifest Class-Path (its metric rules)
test  liblog4j1.2-java         /usr/share/java/log4j-1.2.jar               on CodeNarc.jar's manifest Class-Path (its logging)
test  buildah                  /usr/bin/buildah                            builds and runs the agent and relay images
test  debootstrap              /usr/sbin/debootstrap                       the local bookworm stand-in base image
test  systemd                  /usr/bin/systemd-analyze                    verifies deploy/systemd/release-gates-relay.service
test  gcc-aarch64-linux-gnu    /usr/bin/aarch64-linux-gnu-gcc              make release's linux/arm64 cgo build
test  libc6-dev-arm64-cross    /usr/aarch64-linux-gnu/include/stdio.h      arm64 cgo headers
test  strace                   /usr/bin/strace                             the fsync-order tests of atomicfile and the approval journal
demo  default-jre-headless     /usr/lib/jvm/default-java/bin/java          Debian's groovy launcher runs this java (JAVA_HOME)
demo  groovy                   /usr/share/groovy/lib/groovy-2.4.21.jar     the demo runs the real steps in the harness
demo  groovy                   /usr/share/groovy/bin/groovy                Debian's groovy launcher, which the demo runs by this path
demo  junit4                   /usr/share/java/junit4.jar                  the step harness' classpath
demo  libhamcrest-java         /usr/share/java/hamcrest-core.jar           the step harness' classpath
demo  docker-registry          /usr/bin/docker-registry                    the demo pushes and signs the service image
demo  git                      /usr/bin/git                                the example service's release tags
demo  make                     /usr/bin/make                               make demo and make helpers
demo  gcc                      /usr/bin/gcc                                cgo helpers
demo  libc6-dev                /usr/include/stdio.h                        cgo headers
demo  curl                     /usr/bin/curl                               health probes
demo  openssl                  /usr/bin/openssl                            key material for the demo
images buildah                 /usr/bin/buildah                            builds and runs the agent and relay images
images debootstrap             /usr/sbin/debootstrap                       the local bookworm stand-in base image
images make                    /usr/bin/make                               make images
images docker-registry         /usr/bin/docker-registry                    the stand-ins and built images are pushed here
images jq                      /usr/bin/jq                                 reads the helpers' result JSON
images curl                    /usr/bin/curl                               registry and relay probes
images gcc                     /usr/bin/gcc                                make helpers (cgo) builds the signing helper
images libc6-dev               /usr/include/stdio.h                        cgo headers
images prometheus              /usr/bin/promtool                           checks the relay image's /metrics text
release gcc-aarch64-linux-gnu  /usr/bin/aarch64-linux-gnu-gcc              linux/arm64 cgo build
release libc6-dev-arm64-cross  /usr/aarch64-linux-gnu/include/stdio.h      arm64 cgo headers
release openssl                /usr/bin/openssl                            checks SHA256SUMS.sig as agents do
release gcc                    /usr/bin/gcc                                linux/amd64 cgo build
release libc6-dev              /usr/include/stdio.h                        cgo headers
release git                    /usr/bin/git                                git archive of the released revision
release make                   /usr/bin/make                               scripts/release.sh runs each revision's make helpers
bench  time                    /usr/bin/time                               peak RSS
bench  make                     /usr/bin/make                               make bench
bench  libsofthsm2             /usr/lib/softhsm/libsofthsm2.so             HSM signing rows
bench  softhsm2                /usr/bin/softhsm2-util                      initialises the HSM rows' token
bench  docker-registry         /usr/bin/docker-registry                    image signing rows
bench  postgresql-15           /usr/lib/postgresql/15/bin/initdb           relay rows on PostgreSQL
bench  jq                       /usr/bin/jq                                 image row: push_many and the duplicate-signature count
bench  curl                     /usr/bin/curl                               image rows: pushing images, reading signature manifests
check  default-jre-headless     /usr/lib/jvm/default-java/bin/java          Debian's groovy launcher runs this java (JAVA_HOME)
check  groovy                   /usr/share/groovy/lib/groovy-2.4.21.jar     the mocked Groovy step tests
check  groovy                   /usr/share/groovy/bin/groovy                Debian's groovy launcher, which test/groovy/run.sh runs by this path
check  junit4                   /usr/share/java/junit4.jar                  JUnitCore drives the Groovy step tests
check  libhamcrest-java         /usr/share/java/hamcrest-core.jar           JUnit 4's matchers
check  git                      /usr/bin/git                                tags, worktrees, base specs
check  make                     /usr/bin/make                               make check
check  gcc                      /usr/bin/gcc                                cgo (crypto11)
check  libc6-dev                /usr/include/stdio.h                        cgo headers
check  curl                     /usr/bin/curl                               the runner's download tests (loopback)
check  openssl                  /usr/bin/openssl                            the runner verifies SHA256SUMS.sig with it
lint   default-jre-headless    /usr/lib/jvm/default-java/bin/java          the java test/codenarc/run.sh runs CodeNarc on
lint   groovy                  /usr/share/groovy/lib/groovy-2.4.21.jar     CodeNarc runs on Groovy
lint   groovy                  /usr/share/java/groovy-all.jar              CodeNarc's Groovy on its classpath (test/codenarc/run.sh)
lint   make                    /usr/bin/make                               make lint-groovy
lint   libcodenarc-groovy-java /usr/share/java/CodeNarc.jar                CodeNarc lints vars/ and src/
lint   libgmetrics-groovy-java /usr/share/java/GMetrics.jar                on CodeNarc.jar's manifest Class-Path (its metric rules)
lint   liblog4j1.2-java        /usr/share/java/log4j-1.2.jar               on CodeNarc.jar's manifest Class-Path (its logging)
EOF
)
RG_DEPS_NEEDS=${RG_DEPS_NEEDS:-}
NEEDS=${RG_DEPS_NEEDS:-$NEEDS}

check=0
groups=()
for a in "$@"; do
  case $a in
  --check) check=1 ;;
  test | check | demo | images | release | bench | lint) groups+=("$a") ;;
  *) echo "install-deps: unknown argument '$a': use [--check] [test|check|demo|images|release|bench|lint ...]" >&2; exit 2 ;;
  esac
done
[ ${#groups[@]} -gt 0 ] || groups=(test)

installed() { [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | cut -c1-2)" = ii ]; }
# owned PKG FILE: dpkg's file list for PKG names FILE itself, or a symlink on its path (default-java is a symlink
# into the JDK that default-jre-headless selects).
owned() {
  local f=$2 list
  list=$(dpkg-query -L "$1" 2>/dev/null) || return 1
  grep -qxF "$f" <<<"$list" && return 0
  while [ "$f" != / ] && [ -n "$f" ]; do
    f=$(dirname "$f")
    [ -L "$f" ] && grep -qxF "$f" <<<"$list" && return 0
  done
  return 1
}

# state PKG FILE: prints how the need is met, or why not; status 0 when met.
state() {
  local pkg=$1 file=$ROOT$2
  if ! installed "$pkg"; then
    if [ -e "$file" ]; then echo "MISSING: $file exists but package $pkg is not installed (installed by hand?)"
    else echo "MISSING: package $pkg is not installed"; fi
    return 1
  fi
  [ -e "$file" ] || { echo "MISSING: package $pkg is installed but $file does not exist"; return 1; }
  [ -n "$ROOT" ] || owned "$pkg" "$file" || { echo "MISSING: $file is not owned by package $pkg"; return 1; }
  echo "ok: package $pkg owns $2"
}

want=() missing=0
seen=" "
while read -r group pkg file why; do
  [ -n "$group" ] || continue
  case " ${groups[*]} " in *" $group "*) ;; *) continue ;; esac
  case $seen in *" $pkg:$file "*) continue ;; esac
  seen="$seen$pkg:$file "
  if out=$(state "$pkg" "$file"); then ok=1; else ok=0; fi
  if [ $check = 1 ]; then
    printf '%-7s %-24s %-44s %s (%s)\n' "$group" "$pkg" "$file" "$out" "$why"
  fi
  if [ $ok = 0 ]; then
    missing=$((missing + 1))
    case " ${want[*]:-} " in *" $pkg "*) ;; *) want+=("$pkg") ;; esac
  fi
done <<<"$NEEDS"

if [ $check = 1 ]; then
  [ $missing = 0 ] || { echo "install-deps: $missing need(s) not met through their package: run test/scripts/install-deps.sh ${groups[*]}" >&2; exit 1; }
  exit 0
fi
if [ ${#want[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: missing ${want[*]}; installing needs root, and this is user $(id -un 2>/dev/null || id -u) without sudo: run test/scripts/install-deps.sh ${groups[*]} as root (or install sudo)" >&2; exit 2; }
    SUDO=sudo
  fi
  [ -z "$ROOT$RG_DEPS_NEEDS" ] || { echo "install-deps: RG_DEPS_ROOT and RG_DEPS_NEEDS are for --check only" >&2; exit 2; }
  echo "install-deps: installing ${want[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  # Prove the install met every need (a package that no longer ships the file fails here, not in a test).
  "$0" --check "${groups[@]}" >/dev/null
fi
