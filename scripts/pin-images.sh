#!/usr/bin/env bash
# make agent-image-pin: refreshes every `ARG NAME=image:tag@sha256:<digest>` default in a Dockerfile with
# `crane digest image:tag` (the multi-arch index digest), and rewrites that image's "#   image:tag: <source>" comment
# so the file keeps saying where each digest came from.
#
#   scripts/pin-images.sh [--check] DOCKERFILE
#     --check   change nothing; exit 1 when a pinned digest no longer matches its tag (for a scheduled CI job)
#
# crane: $CRANE, else the one test/scripts/tools.sh crane builds once from go-containerregistry (the version in go.mod)
# into $RG_TOOLS_DIR/bin, never a crane found on PATH. Registry credentials come from crane's usual docker config;
# nothing is passed on the command line.
# Exit codes: 0 up to date or refreshed, 1 drift found with --check, 2 bad input, 3 registry unreachable.
set -euo pipefail

check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
file=${1:-}
[ -n "$file" ] && [ -f "$file" ] || { echo "pin-images: usage: pin-images.sh [--check] path/to/Dockerfile" >&2; exit 2; }

crane=${CRANE:-}
if [ -z "$crane" ]; then
  # The pinned crane (go.mod's go-containerregistry) by its file, never whichever crane is first on PATH.
  root=$(cd "$(dirname "$0")/.." && pwd)
  "$root/test/scripts/tools.sh" crane >/dev/null || { echo "pin-images: building crane (test/scripts/tools.sh crane) failed (is the Go module proxy reachable?); or set CRANE to a crane binary" >&2; exit 3; }
  crane=${RG_TOOLS_DIR:-$HOME/.cache/release-gates/tools}/bin/crane
fi

tmp=$(mktemp "$(dirname "$file")/.pin.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cp "$file" "$tmp"

re='^ARG[[:space:]]+([A-Za-z_][A-Za-z0-9_]*)=([^@[:space:]]+)@(sha256:[0-9a-f]{64})[[:space:]]*$'
drift=0 changed=0 seen=0
while IFS= read -r line; do
  [[ "$line" =~ $re ]] || continue
  ref=${BASH_REMATCH[2]} old=${BASH_REMATCH[3]}
  seen=$((seen + 1))
  if ! new=$("$crane" digest "$ref" 2>"$tmp.err"); then
    echo "pin-images: crane digest $ref failed: $(head -c 300 "$tmp.err" | tr "\n" " ")" >&2
    rm -f "$tmp.err"; exit 3
  fi
  rm -f "$tmp.err"
  [[ "$new" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "pin-images: crane digest $ref printed '$new', not a sha256 digest" >&2; exit 3; }
  if [ "$new" = "$old" ]; then
    echo "pin-images: $ref up to date ($new)" >&2
    continue
  fi
  drift=$((drift + 1))
  echo "pin-images: $ref $old -> $new" >&2
  [ "$check" = 1 ] && continue
  changed=$((changed + 1))
  when=$(date -u +%Y-%m-%d)
  REF=$ref OLD=$old NEW=$new WHEN=$when perl -0pi -e '
    s/\Q$ENV{REF}\E\@\Q$ENV{OLD}\E/$ENV{REF}\@$ENV{NEW}/g;
    s/^(#\s+\Q$ENV{REF}\E:).*$/$1 crane digest on $ENV{WHEN} (previously $ENV{OLD})/mg;
  ' "$tmp"
done <"$file"

[ "$seen" -gt 0 ] || { echo "pin-images: $file has no ARG NAME=image:tag@sha256:<digest> lines to refresh" >&2; exit 2; }
if [ "$check" = 1 ]; then
  [ "$drift" = 0 ] || { echo "pin-images: $drift pinned digest(s) in $file no longer match their tags: run make agent-image-pin" >&2; exit 1; }
  exit 0
fi
if [ "$changed" -gt 0 ]; then
  chmod --reference="$file" "$tmp"
  mv -f "$tmp" "$file"
  echo "pin-images: refreshed $changed digest(s) in $file; review and commit it" >&2
fi
