# release-gates: Jenkins shared library + Go helpers. `make demo` and `make test` set up a fresh machine themselves.
SHELL := /bin/bash
GO ?= go
export GOTOOLCHAIN := local
export CGO_ENABLED := 1
MODULE := github.com/release-gates/release-gates
VERSION ?= $(shell git describe --tags --match 'v*' --always 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -buildid= -X $(MODULE)/helpers/internal/version.Version=$(VERSION) -X $(MODULE)/helpers/internal/version.Revision=$(REVISION)
BIN := $(CURDIR)/bin
BUILD_TAGS := urfave_cli_no_docs# drops urfave/cli's man-page generator (and its ~20 ms of package init)
HELPERS := go-build-gate sign-artifacts slack-approval release-evidence
export RG_TOOLS_DIR ?= $(HOME)/.cache/release-gates/tools
export RG_BIN := $(BIN)

.PHONY: deps deps-demo tools helpers test test-go test-groovy lint-groovy demo bench vet

# Debian packages, checked by package and file (test/scripts/install-deps.sh --check lists how each need is met).
# make test installs every group it or CI (.ci/run: make images after it) uses, so its deps test can check them all.
deps:
	@test/scripts/install-deps.sh test lint images
deps-demo:
	@test/scripts/install-deps.sh demo

tools: deps
	@test/scripts/tools.sh cosign cosign3 notation timestamp-server crane kubeconform >/dev/null

helpers:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -buildvcs=false -tags '$(BUILD_TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./helpers/cmd/,$(HELPERS))

# resources/steps/<step>.json and vars/<step>.txt from the Go Params structs (helpers/internal/steps); a test checks them.
.PHONY: generate
generate:
	RG_GENERATE=1 $(GO) test -count=1 -run '^TestGenerated$$' ./helpers/internal/steps

vet:
	@out=$$(gofmt -l helpers test agent-image scripts deploy); test -z "$$out" || { echo "vet: run gofmt -w on: $$out" >&2; exit 1; }
	$(GO) vet ./...
	@bad=$$($(GO) list -deps $(addprefix ./helpers/cmd/,$(HELPERS)) | grep -E '/internal/testing/|$(MODULE)/test/' || true); \
	test -z "$$bad" || { echo "vet: shipped helpers must not link test support (helpers/internal/testing, test/): $$bad" >&2; exit 1; }

test-go: tools helpers
	PATH=$(RG_TOOLS_DIR)/bin:$$PATH RG_REQUIRE_TOOLS=1 RELEASE_GATES_STATE_DIR=$$(mktemp -d) $(GO) test -race -count=1 -timeout 25m ./...

# The step tests also record every call vars/ and src/ make and fail on any the Jenkins sandbox would refuse (RG_SANDBOX=report lists only).
# Peer CLIs are required there too (RG_REQUIRE_TOOLS=1): ReleaseDownloadRealTest checks the release with the stock cosign.
test-groovy: tools helpers
	PATH=$(RG_TOOLS_DIR)/bin:$$PATH RG_REQUIRE_TOOLS=1 test/groovy/run.sh

# CodeNarc over vars/ and src/ (test/codenarc/ruleset.groovy); the self-test shows the rules still fire on a bad fixture.
lint-groovy: deps
	test/codenarc/run.sh --self-test
	test/codenarc/run.sh

test: deps vet test-go test-groovy lint-groovy

demo: deps-demo tools helpers
	test/demo/demo.sh

bench: deps helpers
	@test/scripts/install-deps.sh bench
	@test/scripts/tools.sh cosign cosign3 notation oasdiff >/dev/null
	PATH=$(RG_TOOLS_DIR)/bin:$$PATH test/bench/bench.sh

.PHONY: check check-deps
# The newcomer's fast loop: gofmt, go vet, go test -short and the mocked Groovy tests. No root, no apt-get, no peer
# builds: it only checks the Debian packages it needs and says which are missing.
check: check-deps vet
	@state=$$(mktemp -d); trap 'rm -rf "$$state"' EXIT; RELEASE_GATES_STATE_DIR=$$state $(GO) test -short ./...
	RG_GROOVY_MOCK_ONLY=1 test/groovy/run.sh

check-deps:
	@test/scripts/install-deps.sh --check check >/dev/null 2>&1 || { test/scripts/install-deps.sh --check check | grep MISSING >&2; \
	  echo "check: these Debian packages are missing; install them once with test/scripts/install-deps.sh check (as root or with sudo)" >&2; exit 2; }

# ---- distribution: agent image and release (issue 7; agent-image/README.md, docs/versioning.md) ----
.PHONY: helpers-repro release agent-image agent-image-pin images
IMAGE ?= ghcr.io/release-gates/agent
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
AGENT_IMAGE_OUTPUT ?= --output type=oci,dest=dist/agent-image-$(VERSION).oci.tar

# Two `make helpers` builds into separate dirs must be bit for bit identical (make release also varies the source path, per platform).
helpers-repro:
	@a=$$(mktemp -d); b=$$(mktemp -d); trap 'rm -rf "$$a" "$$b"' EXIT; set -e; \
	$(MAKE) -s --no-print-directory helpers BIN=$$a; $(MAKE) -s --no-print-directory helpers BIN=$$b; \
	(cd $$a && sha256sum $(HELPERS)) >$$a/SUMS; (cd $$b && sha256sum -c --quiet $$a/SUMS); \
	echo "helpers-repro: identical sha256 for $(HELPERS)"

# Signed, reproducible helpers for linux/amd64 and linux/arm64 in dist/, pinned in resources/helpers.lock (env: RELEASE_KEY, COSIGN_PASSWORD).
# The stock cosign (tools.sh, into $(RG_TOOLS_DIR)/bin) verifies the signature too; scripts/release.sh refuses to run without it.
release:
	@test/scripts/tools.sh cosign >/dev/null
	VERSION='$(VERSION)' REVISION='$(REVISION)' scripts/release.sh

# Agent image: docker buildx (multi-arch; push with AGENT_IMAGE_OUTPUT=--push) when a Docker engine answers
# `docker info`, else buildah as root (linux/amd64 on local base-image stand-ins, OCI archive in dist/).
agent-image:
	@mkdir -p dist
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; then \
	  set -x; docker buildx build -f agent-image/Dockerfile --platform $(IMAGE_PLATFORMS) \
	    --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
	    --build-arg SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct) \
	    --provenance=mode=max --sbom=true -t $(IMAGE):$(VERSION) $(AGENT_IMAGE_OUTPUT) .; \
	else \
	  echo "agent-image: no Docker engine answers 'docker info': building linux/amd64 with buildah (scripts/images.sh)" >&2; \
	  test/scripts/install-deps.sh images && \
	  VERSION='$(VERSION)' REVISION='$(REVISION)' scripts/images.sh agent-oci dist/agent-image-$(VERSION).oci.tar; \
	fi

# Agent and relay images built, run as non-root, checked, signed and verified, without a Docker engine
# (scripts/images.sh: buildah, vfs, chroot; base-image stand-ins cached in ~/.cache/release-gates/images). .ci/run runs it.
images: helpers
	@test/scripts/install-deps.sh images
	@test/scripts/tools.sh cosign notation >/dev/null
	VERSION='$(VERSION)' REVISION='$(REVISION)' RG_BIN='$(BIN)' scripts/images.sh all

# Refresh the base-image digests in agent-image/Dockerfile and deploy/relay/Dockerfile with `crane digest` (needs a reachable registry).
agent-image-pin:
	scripts/pin-images.sh agent-image/Dockerfile
	scripts/pin-images.sh deploy/relay/Dockerfile
