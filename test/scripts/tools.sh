#!/usr/bin/env bash
# Builds the pinned peer CLIs (cosign, cosign3, notation, oasdiff, timestamp-server, crane, kubeconform) into a cached tools dir; they are for interop tests and benchmarks only.
set -euo pipefail
TOOLS_DIR=${RG_TOOLS_DIR:-${HOME}/.cache/release-gates/tools}
COSIGN_VERSION=v2.6.5
COSIGN3_VERSION=v3.1.3
NOTATION_VERSION=v1.3.2
OASDIFF_VERSION=v1.37.0
TSA_VERSION=v2.1.3 # newer timestamp-authority releases need Go 1.27
KUBECONFORM_VERSION=v0.8.0
K8S_OPENAPI_VERSION=v1.34.4 # deploy/kubernetes/manifests_test.go reads this module's api/openapi-spec/swagger.json
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
mkdir -p "$TOOLS_DIR/bin"
want=${*:-cosign notation}
for tool in $want; do
  case $tool in
  cosign)
    bin="$TOOLS_DIR/bin/cosign-$COSIGN_VERSION"
    if [ ! -x "$bin" ]; then
      echo "tools: building cosign $COSIGN_VERSION (about 4 minutes cold)" >&2
      tmp=$(mktemp -d); (cd "$tmp" && GOBIN="$tmp" go install "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION") && mv "$tmp/cosign" "$bin"; rm -rf "$tmp"
    fi
    ln -sf "$bin" "$TOOLS_DIR/bin/cosign" ;;
  cosign3)
    bin="$TOOLS_DIR/bin/cosign3-$COSIGN3_VERSION"
    if [ ! -x "$bin" ]; then
      echo "tools: building cosign $COSIGN3_VERSION (about 5 minutes cold)" >&2
      tmp=$(mktemp -d); (cd "$tmp" && GOBIN="$tmp" go install "github.com/sigstore/cosign/v3/cmd/cosign@$COSIGN3_VERSION") && mv "$tmp/cosign" "$bin"; rm -rf "$tmp"
    fi
    ln -sf "$bin" "$TOOLS_DIR/bin/cosign3" ;;
  notation)
    bin="$TOOLS_DIR/bin/notation-$NOTATION_VERSION"
    if [ ! -x "$bin" ]; then
      echo "tools: building notation $NOTATION_VERSION from its module source" >&2
      tmp=$(mktemp -d)
      dir=$(cd "$tmp" && go mod download -json "github.com/notaryproject/notation@$NOTATION_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      cp -r "$dir" "$tmp/src" && chmod -R u+w "$tmp/src"
      (cd "$tmp/src" && go build -trimpath -o "$bin" ./cmd/notation)
      rm -rf "$tmp"
    fi
    ln -sf "$bin" "$TOOLS_DIR/bin/notation" ;;
  timestamp-server)
    bin="$TOOLS_DIR/bin/timestamp-server-$TSA_VERSION"
    if [ ! -x "$bin" ]; then
      echo "tools: building sigstore timestamp-server $TSA_VERSION" >&2
      tmp=$(mktemp -d); (cd "$tmp" && GOBIN="$tmp" go install "github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server@$TSA_VERSION") && mv "$tmp/timestamp-server" "$bin"; rm -rf "$tmp"
    fi
    ln -sf "$bin" "$TOOLS_DIR/bin/timestamp-server" ;;
  oasdiff)
    bin="$TOOLS_DIR/bin/oasdiff-$OASDIFF_VERSION"
    if [ ! -x "$bin" ]; then
      echo "tools: building oasdiff $OASDIFF_VERSION" >&2
      tmp=$(mktemp -d); (cd "$tmp" && GOBIN="$tmp" go install "github.com/oasdiff/oasdiff@$OASDIFF_VERSION") && mv "$tmp/oasdiff" "$bin"; rm -rf "$tmp"
    fi
    ln -sf "$bin" "$TOOLS_DIR/bin/oasdiff" ;;
  kubeconform)
    bin="$TOOLS_DIR/bin/kubeconform-$KUBECONFORM_VERSION"
    if [ ! -x "$bin" ]; then
      echo "tools: building kubeconform $KUBECONFORM_VERSION" >&2
      tmp=$(mktemp -d); (cd "$tmp" && GOBIN="$tmp" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION") && mv "$tmp/kubeconform" "$bin"; rm -rf "$tmp"
    fi
    # Its schemas, offline: the Kubernetes OpenAPI document ships in the k8s.io/kubernetes module.
    tmp=$(mktemp -d); (cd "$tmp" && go mod download "k8s.io/kubernetes@$K8S_OPENAPI_VERSION"); rm -rf "$tmp"
    ln -sf "$bin" "$TOOLS_DIR/bin/kubeconform" ;;
  crane) # go-containerregistry's version in go.mod; the crane scripts/pin-images.sh runs unless CRANE is set
    ver=$(awk '$1 == "github.com/google/go-containerregistry" {print $2}' "$(dirname "$0")/../../go.mod")
    [ -n "$ver" ] || { echo "tools: go-containerregistry is not in go.mod" >&2; exit 2; }
    bin="$TOOLS_DIR/bin/crane-$ver"
    if [ ! -x "$bin" ]; then
      echo "tools: building crane $ver" >&2
      tmp=$(mktemp -d); (cd "$tmp" && GOBIN="$tmp" go install "github.com/google/go-containerregistry/cmd/crane@$ver") && mv "$tmp/crane" "$bin"; rm -rf "$tmp"
    fi
    ln -sf "$bin" "$TOOLS_DIR/bin/crane" ;;
  *) echo "tools: unknown tool $tool" >&2; exit 2 ;;
  esac
done
echo "$TOOLS_DIR/bin"
