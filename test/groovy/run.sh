#!/usr/bin/env bash
# Runs the Groovy step tests (test/groovy/**/*Test.groovy) with Groovy 2.4 + JUnit 4; args filter test classes by name.
# Prints "Groovy: N passed, M failed" last and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
export RG_REPO_ROOT="$PWD" GOTOOLCHAIN=local
export RG_BIN="${RG_BIN:-$PWD/bin}"
for need in groovy java; do
  command -v "$need" >/dev/null || { echo "run.sh: $need not found: run test/scripts/install-deps.sh" >&2; exit 2; }
done
cp=src:test/groovy:test/groovy/stubs
for jar in /usr/share/java/junit4.jar /usr/share/java/hamcrest-core.jar; do
  [ -r "$jar" ] || { echo "run.sh: $jar missing: run test/scripts/install-deps.sh (junit4)" >&2; exit 2; }
  cp="$cp:$jar"
done
export JAVA_OPTS="${JAVA_OPTS:-} -Xss4m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
exec groovy -cp "$cp" test/groovy/RunTests.groovy "$@"
