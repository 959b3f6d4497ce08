#!/usr/bin/env bash
# Runs the Groovy step tests (test/groovy/**/*Test.groovy) with Groovy 2.4 + JUnit 4; args filter test classes by name.
# Prints "Groovy: N passed, M failed, K skipped" (a failed Assume is a skip, not a pass), then the sandbox check (every
# call vars/ and src/ made that Jenkins' sandbox would refuse: "SANDBOX <signature>" with its call sites;
# RG_SANDBOX=report|off), and exits non-zero on any failure.
# The stock script-security lists are read from $RG_SCRIPT_SECURITY_DIR, else the first shared/jenkins/script-security above the repo.
set -euo pipefail
cd "$(dirname "$0")/../.."
export RG_REPO_ROOT="$PWD" GOTOOLCHAIN=local
export RG_BIN="${RG_BIN:-$PWD/bin}"
# Debian's groovy launcher runs $JAVA_HOME/bin/java, /usr/lib/jvm/default-java unless set: check the packages, not PATH.
# RG_GROOVY_MOCK_ONLY=1 (make check) leaves out the *RealTest classes, so it needs only the `check` group.
group=test; [ "${RG_GROOVY_MOCK_ONLY:-}" != 1 ] || group=check
test/scripts/install-deps.sh --check $group >/dev/null 2>&1 || { test/scripts/install-deps.sh --check $group | grep MISSING >&2; echo "run.sh: run test/scripts/install-deps.sh $group (or make deps)" >&2; exit 2; }
cp=src:test/groovy:test/groovy/stubs
for jar in /usr/share/java/junit4.jar /usr/share/java/hamcrest-core.jar; do
  [ -r "$jar" ] || { echo "run.sh: $jar missing: run test/scripts/install-deps.sh (junit4)" >&2; exit 2; }
  cp="$cp:$jar"
done
export JAVA_OPTS="${JAVA_OPTS:-} -Xss4m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
# Debian's groovy launcher by the path the groovy package owns (test and check groups), not whichever groovy is on PATH.
exec /usr/share/groovy/bin/groovy -cp "$cp" test/groovy/RunTests.groovy "$@"
