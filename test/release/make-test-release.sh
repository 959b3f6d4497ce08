#!/usr/bin/env bash
# Makes a throwaway release as a maintainer would, for test/groovy/ReleaseDownloadRealTest.groovy:
#   1. clones this repository's HEAD into OUT/release-gates;
#   2. generates two encrypted cosign-format keys with sign-artifacts (release and other), commits release.pub as
#      resources/release-signing.pub;
#   3. runs `make release VERSION=v0.0.0-test` with the release key (both platforms, each built twice);
#   4. runs `make release` again with the other key, which must fail (its exit code and log are kept);
#   5. signs dist/SHA256SUMS with the other key into OUT/other-sig/ (a wrong signature to serve).
#
#   test/release/make-test-release.sh OUT
#
# Needs $RG_BIN/sign-artifacts (make helpers). Writes OUT/release.log, OUT/wrong-key.log, OUT/wrong-key.code,
# OUT/keys/{release,other}.{key,pub}; the key password is a random throwaway that stays in this process's env.
set -euo pipefail
out=${1:?usage: make-test-release.sh OUT}
repo=$(cd "$(dirname "$0")/../.." && pwd)
sign=${RG_BIN:-$repo/bin}/sign-artifacts
[ -x "$sign" ] || { echo "make-test-release: $sign is missing: run make helpers" >&2; exit 2; }
# A make above this one (make test) must not pass its flags or command-line variables down.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
version=v0.0.0-test

mkdir -p "$out/keys" "$out/other-sig"
git clone -q "$repo" "$out/release-gates"
COSIGN_PASSWORD=$(head -c 18 /dev/urandom | base64)
export COSIGN_PASSWORD
for k in release other; do
  "$sign" keys generate --type file --out-prefix "$out/keys/$k" --result-file "$out/keys/$k.json" 2>>"$out/release.log"
done

cd "$out/release-gates"
cp "$out/keys/release.pub" resources/release-signing.pub
git add resources/release-signing.pub
git -c user.name=release-test -c user.email=release-test@invalid commit -q -m "test: throwaway release key"

# make release verifies the signature with the stock cosign too (tools.sh, into $RG_TOOLS_DIR/bin; make test builds it first).
echo "make-test-release: make release VERSION=$version in $PWD" >&2
make release VERSION="$version" RELEASE_KEY="file://$out/keys/release.key" \
  RELEASE_PUBLIC_KEY=resources/release-signing.pub >>"$out/release.log" 2>&1 ||
  { echo "make-test-release: make release failed (exit $?):" >&2; tail -n 30 "$out/release.log" >&2; exit 1; }

code=0
make release VERSION="$version" RELEASE_KEY="file://$out/keys/other.key" >"$out/wrong-key.log" 2>&1 || code=$?
echo "$code" >"$out/wrong-key.code"

cp dist/SHA256SUMS "$out/other-sig/SHA256SUMS"
"$sign" blob sign --key "file://$out/keys/other.key" --result-file "$out/other-sig/sign.json" \
  "$out/other-sig/SHA256SUMS" 2>>"$out/release.log"
