#!/usr/bin/env bash
# Lints the library's Groovy (vars/ and src/) with Debian's CodeNarc 0.23 and test/codenarc/ruleset.groovy; exits 1 on any
# violation, printing each. --self-test lints test/codenarc/testdata instead and fails unless the rules catch its
# deliberate violations, so the lint can be seen to fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=.
self=0
if [ "${1:-}" = --self-test ]; then root=test/codenarc/testdata; self=1; fi
# CodeNarc.jar's manifest Class-Path names log4j-1.2.jar and GMetrics.jar (libgmetrics-groovy-java, liblog4j1.2-java).
# Every jar and the java that runs them are install-deps.sh's lint group, checked through their packages: the java is
# default-jre-headless' (never whichever java is first on PATH).
test/scripts/install-deps.sh --check lint >/dev/null 2>&1 || {
  test/scripts/install-deps.sh --check lint | grep MISSING >&2
  echo "codenarc: run test/scripts/install-deps.sh lint (make deps does)" >&2
  exit 2
}
cp=/usr/share/java/CodeNarc.jar:/usr/share/java/GMetrics.jar:/usr/share/java/log4j-1.2.jar:/usr/share/java/groovy-all.jar
java() { /usr/lib/jvm/default-java/bin/java "$@"; }
# CodeNarc 0.23 takes one basedir and matches includes only in the **/ form, so keep other trees out explicitly.
dirs=$root
includes='**/vars/*.groovy,**/src/**/*.groovy'
excludes='**/test/**,**/helpers/**,**/agent-image/**,**/docs/**,**/resources/**,**/deploy/**,**/scripts/**'
report=$(mktemp)
trap 'rm -f "$report"' EXIT
java -Dlog4j.configuration=file:/dev/null -cp "$cp" org.codenarc.CodeNarc -basedir="$dirs" -includes="$includes" \
  -excludes="$excludes" -rulesetfiles=file:test/codenarc/ruleset.groovy -report="text:$report" -title=release-gates >/dev/null 2>&1 ||
  { echo "codenarc: CodeNarc failed to run:" >&2; java -cp "$cp" org.codenarc.CodeNarc -basedir="$dirs" -includes="$includes" \
    -excludes="$excludes" -rulesetfiles=file:test/codenarc/ruleset.groovy -report="text:$report" 2>&1 | grep -v log4j | head -5 >&2; exit 2; }
summary=$(grep -m1 '^Summary:' "$report" || true)
[ -n "$summary" ] || { echo "codenarc: no summary in the report" >&2; exit 2; }
files=$(sed -n 's/.*TotalFiles=\([0-9]*\).*/\1/p' <<<"$summary")
[ "${files:-0}" -gt 0 ] || { echo "codenarc: linted no files under $dirs" >&2; exit 2; }
violations=$(awk '/^File: /{f=$2} /Violation: Rule=/{sub(/^ +Violation: /, ""); print f ": " $0}' "$report")
count=$(grep -c . <<<"$violations" || true)
if [ "$self" = 1 ]; then
  # Each rule family the rule set relies on must fire on the fixture.
  missing=''
  for rule in EmptyCatchBlock ExplicitLinkedHashMapInstantiation CatchException UnusedImport SandboxHasProperty SandboxInspect SandboxJsonSlurperClassic SandboxGetCauses SerializableClassMustDefineSerialVersionUID; do
    grep -q "Rule=$rule " <<<"$violations" || missing="$missing $rule"
  done
  if [ -n "$missing" ]; then echo "codenarc self-test: the rule set missed:$missing" >&2; echo "$violations" >&2; exit 1; fi
  echo "codenarc self-test: $count violations found in test/codenarc/testdata, as expected"
  exit 0
fi
if [ "$count" -gt 0 ]; then
  echo "$violations" | cut -c1-300
  echo "CodeNarc: $count violations in $files files ($summary); rules and reasons: test/codenarc/ruleset.groovy" >&2
  exit 1
fi
echo "CodeNarc: $files files clean (test/codenarc/ruleset.groovy)"
