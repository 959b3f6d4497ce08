#!/usr/bin/env bash
# make release: builds the helpers for linux/amd64 and linux/arm64 from REVISION's committed tree with its own
# `make helpers` recipe, twice from two paths, and refuses any difference; writes dist/SHA256SUMS, signs it with the
# release's own sign-artifacts, checks the signature with the key agents trust, and pins the sums in
# resources/helpers.lock.
#
# Inputs (environment; secrets only here, never as arguments):
#   VERSION           release tag, vMAJOR.MINOR.PATCH[-pre]; the helpers' --version and the agent image tag equal it
#   REVISION          git revision stamped into the helpers (default: git rev-parse HEAD)
#   RELEASE_KEY       signing key reference for SHA256SUMS: file://cosign.key or a pkcs11: URI
#   COSIGN_PASSWORD   password of a file key (read by sign-artifacts); PKCS11_PIN the PIN of an HSM key (never in the URI)
#   RELEASE_BASE_URL  optional: replaces baseUrl in helpers.lock
#   LOCK              the lock to update (default resources/helpers.lock); DIST the output dir (default dist)
#   TRUSTED_KEY       the public key agents verify with (default resources/release-signing.pub); RELEASE_KEY must
#                     match it, checked before anything is built
#   RELEASE_PUBLIC_KEY  optional: the public key (PEM) to verify the signature with, default TRUSTED_KEY when it
#                     exists; it is verified with sign-artifacts, openssl and the stock cosign
#   RG_TOOLS_DIR      the stock cosign is its bin/cosign (test/scripts/tools.sh cosign, which make release runs);
#                     required whenever there is a key to verify with
#
# Output: dist/<helper>-linux-<arch>, dist/SHA256SUMS, dist/SHA256SUMS.sig; the layout the Groovy runner downloads
# from (<baseUrl>/<version>/<helper>-<os>-<arch>). Exit codes: 0 done, 1 not reproducible or not verified, 2 bad input
# (a RELEASE_KEY with pin-value= included), 3 the Go module proxy unreachable after retries. No python: the lock is
# rewritten by scripts/pinlock.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "release: $2" >&2; exit "$1"; }
# key_kind: what RELEASE_KEY is, for messages; the reference itself is never printed.
key_kind() { case $RELEASE_KEY in file://*) echo "a file key" ;; pkcs11:*) echo "a pkcs11: URI" ;; *) echo "neither file:// nor pkcs11:" ;; esac; }

PLATFORMS=(linux/amd64 linux/arm64)
read -r -a HELPERS <<<"$(sed -n 's/^HELPERS[[:space:]]*:=[[:space:]]*//p' Makefile)"
[ "${#HELPERS[@]}" -gt 0 ] || { echo "release: the Makefile lists no HELPERS" >&2; exit 2; }
DIST=${DIST:-dist}
LOCK=${LOCK:-resources/helpers.lock}
MAKE=${MAKE:-make}

VERSION=${VERSION:-}
[[ "$VERSION" =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]] ||
  die 2 "VERSION=${VERSION:-<unset>} is not a release tag: run make release VERSION=v1.2.3 (see docs/versioning.md)"
REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
git cat-file -e "$REVISION^{commit}" 2>/dev/null ||
  die 2 "REVISION=$REVISION is not a commit of this repository: the release is built from a committed tree"
[ -n "${RELEASE_KEY:-}" ] ||
  die 2 "RELEASE_KEY is not set: export RELEASE_KEY=file:///path/cosign.key (password in COSIGN_PASSWORD) or a pkcs11: URI"
# RELEASE_KEY reaches sign-artifacts as an argument and may appear in logs, so it must carry no secret (and is never
# echoed anyway): an HSM PIN belongs in PKCS11_PIN (RFC 7512 allows pin-value= in the URI; this script does not).
shopt -s nocasematch
[[ "$RELEASE_KEY" != *pin-value=* ]] ||
  die 2 "RELEASE_KEY carries a pin-value: remove it from the pkcs11: URI and export the PIN as PKCS11_PIN (secrets never go on a command line)"
shopt -u nocasematch
[ -f "$LOCK" ] || die 2 "$LOCK is missing: it is owned by the Groovy runner; restore it from git"

# A release build never stamps VCS state: the revision is passed explicitly, so a dirty tree cannot change the bytes.
case " ${GOFLAGS:-} " in *" -buildvcs=false "*) ;; *) export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false" ;; esac
export GOTOOLCHAIN=local CGO_ENABLED=1

# arm64 needs a cgo cross compiler (crypto11 for PKCS#11): Debian's gcc-aarch64-linux-gnu and libc6-dev-arm64-cross,
# checked by package and file (install-deps.sh's release group, with openssl), installed when missing.
if ! test/scripts/install-deps.sh --check release >/dev/null 2>&1 && ! test/scripts/install-deps.sh release; then
  test/scripts/install-deps.sh --check release 2>/dev/null | grep MISSING | sed 's/^/release: /' >&2 || true
  die 2 "the release's Debian packages are missing and could not be installed: run test/scripts/install-deps.sh release as root"
fi

# The signature is verified as agents (openssl) and the stock cosign check it: with RELEASE_PUBLIC_KEY, else the trusted
# key. The stock cosign is test/scripts/tools.sh's pinned build (no Debian package), used by its file, never from PATH.
TRUSTED_KEY=${TRUSTED_KEY:-resources/release-signing.pub}
VERIFY_KEY=${RELEASE_PUBLIC_KEY:-}
[ -n "$VERIFY_KEY" ] || [ ! -f "$TRUSTED_KEY" ] || VERIFY_KEY=$TRUSTED_KEY
COSIGN=${RG_TOOLS_DIR:-$HOME/.cache/release-gates/tools}/bin/cosign
[ -z "$VERIFY_KEY" ] || [ -x "$COSIGN" ] ||
  die 2 "the stock cosign is missing at $COSIGN; it verifies the release's signature: run make release (which builds it) or test/scripts/tools.sh cosign; nothing was built"

cc_for() {
  case "$1" in
    linux/amd64) echo "${CC_LINUX_AMD64:-gcc}" ;;
    linux/arm64) echo "${CC_LINUX_ARM64:-aarch64-linux-gnu-gcc}" ;;
    *) die 2 "no C cross compiler known for $1" ;;
  esac
}

# build PLATFORM DIR SRC: export REVISION's tree to SRC (never the working tree: uncommitted or concurrent edits must
# not reach a release), then run its `make helpers` with GOOS/GOARCH/CC from the environment, into DIR. The modules
# are already in the cache (fetch_modules), so the build never needs the network: a failure is the revision's.
build() {
  local os=${1%/*} arch=${1#*/}
  mkdir -p "$3"
  git archive --format=tar "$REVISION" go.mod go.sum Makefile helpers | tar -x -C "$3"
  GOPROXY=off GOOS=$os GOARCH=$arch CC=$(cc_for "$1") "$MAKE" -s --no-print-directory -C "$3" helpers \
    BIN="$2" VERSION="$VERSION" REVISION="$REVISION" >&2 || die 2 "make helpers for $1 failed: $REVISION does not build (see above)"
}

# fetch_modules: downloads the modules REVISION's go.mod requires (3 attempts, 2 s and 4 s apart). An unreachable
# proxy is infrastructure (exit 3), any other failure (checksum mismatch, unknown version, GOPROXY=off) bad input.
fetch_modules() {
  local dir=$work/modules out attempt rc
  mkdir -p "$dir"
  git archive --format=tar "$REVISION" go.mod go.sum | tar -x -C "$dir"
  for attempt in 1 2 3; do
    rc=0
    out=$(cd "$dir" && timeout "${RELEASE_FETCH_TIMEOUT:-900}" go mod download 2>&1) || rc=$?
    [ "$rc" != 0 ] || return 0
    # The go command redacts URL passwords itself; the proxy's host is not a secret.
    case $out in
    *"dial tcp"* | *"no such host"* | *"connection refused"* | *"connection reset"* | *"i/o timeout"* | *"TLS handshake timeout"* | \
      *"network is unreachable"* | *"server misbehaving"* | *" 502 "* | *" 503 "* | *" 504 "* | *"unexpected EOF"* | "") ;;
    *) [ "$rc" = 124 ] || die 2 "go mod download for $REVISION failed, not for want of the network: $(tail -n 3 <<<"$out")" ;;
    esac
    [ "$attempt" = 3 ] || sleep $((attempt * 2))
  done
  die 3 "the Go module proxy is unreachable (GOPROXY=$(go env GOPROXY | sed 's#//[^/@]*@#//***@#g'), 3 attempts): $(tail -n 1 <<<"$out"); retry when it is back, nothing was built"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Agents verify SHA256SUMS.sig with the library's resources/release-signing.pub (openssl); a release signed with any
# other key would be refused by every agent. So compare RELEASE_KEY's public key with it first, before any build,
# with a sign-artifacts built from REVISION for this host.
fingerprint() { openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }
if [ -f "$TRUSTED_KEY" ]; then
  openssl pkey -pubin -in "$TRUSTED_KEY" -noout 2>/dev/null || die 2 "$TRUSTED_KEY is not a PEM public key: restore it from git"
fi
fetch_modules
# The lock is pinned at the end by scripts/pinlock (Go, standard library only); built now so it cannot fail late.
go build -o "$work/pinlock" ./scripts/pinlock || die 2 "building scripts/pinlock failed"
if [ -f "$TRUSTED_KEY" ]; then
  mkdir -p "$work/keycheck"
  git archive --format=tar "$REVISION" go.mod go.sum Makefile helpers | tar -x -C "$work/keycheck"
  GOPROXY=off "$MAKE" -s --no-print-directory -C "$work/keycheck" helpers HELPERS=sign-artifacts BIN="$work/keycheck/bin" \
    VERSION="$VERSION" REVISION="$REVISION" >&2 || die 2 "building sign-artifacts to check RELEASE_KEY failed"
  "$work/keycheck/bin/sign-artifacts" keys public --key "$RELEASE_KEY" --out "$work/release-key.pub" \
    --result-file "$work/keycheck.json" >&2 ||
    die 2 "cannot read the public key of RELEASE_KEY ($(key_kind)) (result: $(cat "$work/keycheck.json" 2>/dev/null || echo none))"
  want=$(fingerprint "$TRUSTED_KEY") got=$(fingerprint "$work/release-key.pub")
  [ "$got" = "$want" ] ||
    die 2 "RELEASE_KEY does not match $TRUSTED_KEY, the key agents trust: its public key has sha256 $got, $TRUSTED_KEY has sha256 $want (DER): sign with the matching key, or commit the new public key as $TRUSTED_KEY first; nothing was built"
  echo "release: RELEASE_KEY matches $TRUSTED_KEY (sha256 $want)" >&2
else
  echo "release: warning: no $TRUSTED_KEY; agents cannot verify downloads until the library ships the public key" >&2
fi

mkdir -p "$DIST"
rm -f "$DIST/SHA256SUMS" "$DIST/SHA256SUMS.sig"
if [ -n "$(git status --porcelain -- go.mod go.sum helpers 2>/dev/null)" ]; then
  echo "release: note: uncommitted changes under helpers/, go.mod or go.sum are not part of this release (it builds $REVISION)" >&2
fi

files=()
for p in "${PLATFORMS[@]}"; do
  os=${p%/*} arch=${p#*/}
  echo "release: building ${HELPERS[*]} $VERSION for $p" >&2
  # Two builds from two source paths: identical bytes prove -trimpath and the fixed ldflags hold for this platform.
  build "$p" "$work/$os-$arch.1" "$work/src-a/release-gates"
  build "$p" "$work/$os-$arch.2" "$work/src-b/elsewhere/release-gates"
  for h in "${HELPERS[@]}"; do
    a=$(sha256sum <"$work/$os-$arch.1/$h" | cut -d' ' -f1)
    b=$(sha256sum <"$work/$os-$arch.2/$h" | cut -d' ' -f1)
    [ "$a" = "$b" ] || die 1 "$h for $p is not reproducible: two builds gave $a and $b"
    install -m 0755 "$work/$os-$arch.1/$h" "$DIST/$h-$os-$arch"
    files+=("$h-$os-$arch")
  done
done

(cd "$DIST" && sha256sum "${files[@]}") >"$work/SHA256SUMS"
mv -f "$work/SHA256SUMS" "$DIST/SHA256SUMS"
echo "release: wrote $DIST/SHA256SUMS ($((${#files[@]})) binaries)" >&2

# Sign with sign-artifacts itself: the release's own binary for this host, else bin/ (make helpers).
host="$(uname -s | tr '[:upper:]' '[:lower:]')-$(case $(uname -m) in x86_64) echo amd64 ;; aarch64) echo arm64 ;; *) uname -m ;; esac)"
SIGN=$DIST/sign-artifacts-$host
if [ ! -x "$SIGN" ]; then
  "$MAKE" -s --no-print-directory helpers VERSION="$VERSION" REVISION="$REVISION" >&2
  SIGN=bin/sign-artifacts
fi
blob_help=$("$SIGN" blob --help 2>/dev/null || true) # captured first: grep -q on a pipe SIGPIPEs the writer under pipefail
if ! grep -qE '^[[:space:]]+sign([,[:space:]]|$)' <<<"$blob_help"; then
  die 2 "$SIGN has no 'blob sign' verb yet (it is being built in helpers/cmd/sign-artifacts); $DIST/SHA256SUMS is written but NOT signed, so helpers.lock was left unchanged"
fi
"$SIGN" blob sign --key "$RELEASE_KEY" --result-file "$work/sign.json" "$DIST/SHA256SUMS" ||
  die $? "signing $DIST/SHA256SUMS failed (result: $(cat "$work/sign.json" 2>/dev/null || echo none)); helpers.lock was left unchanged"
[ -s "$DIST/SHA256SUMS.sig" ] || die 1 "$SIGN reported success but wrote no $DIST/SHA256SUMS.sig"
if [ -n "$VERIFY_KEY" ]; then
  "$SIGN" blob verify --key "$VERIFY_KEY" --result-file "$work/verify.json" "$DIST/SHA256SUMS" >&2 ||
    die 1 "sign-artifacts does not verify $DIST/SHA256SUMS.sig with $VERIFY_KEY"
  # The bootstrap on an agent has no helper yet; it checks the signature with openssl (release group), so prove that too.
  base64 -d <"$DIST/SHA256SUMS.sig" >"$work/sig.der"
  openssl dgst -sha256 -verify "$VERIFY_KEY" -signature "$work/sig.der" "$DIST/SHA256SUMS" >&2 ||
    die 1 "openssl does not verify $DIST/SHA256SUMS.sig with $VERIFY_KEY"
  "$COSIGN" verify-blob --key "$VERIFY_KEY" --signature "$DIST/SHA256SUMS.sig" --insecure-ignore-tlog=true \
    "$DIST/SHA256SUMS" >&2 || die 1 "the stock cosign ($COSIGN) does not verify $DIST/SHA256SUMS.sig with $VERIFY_KEY"
  echo "release: sign-artifacts, openssl and the stock cosign verify $DIST/SHA256SUMS.sig with $VERIFY_KEY" >&2
fi

# The signature itself must verify with the trusted key too, as agents check it.
if [ -f "$TRUSTED_KEY" ]; then
  base64 -d <"$DIST/SHA256SUMS.sig" >"$work/sig.der"
  openssl dgst -sha256 -verify "$TRUSTED_KEY" -signature "$work/sig.der" "$DIST/SHA256SUMS" >/dev/null 2>&1 ||
    die 1 "$DIST/SHA256SUMS.sig does not verify with $TRUSTED_KEY, the key agents trust: sign with the matching RELEASE_KEY (helpers.lock left unchanged)"
  echo "release: signature verifies with $TRUSTED_KEY" >&2
fi

# Pin the sums: rewrite only version, sha256 (and baseUrl when given), keeping the file's layout; atomic rename.
"$work/pinlock" "$LOCK" "$VERSION" "$DIST/SHA256SUMS" "${RELEASE_BASE_URL:-}" || die 2 "updating $LOCK failed"
echo "release: $VERSION (revision $REVISION) signed; $LOCK pins ${#files[@]} sha256 sums" >&2
