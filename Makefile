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
HELPERS := go-build-gate sign-artifacts slack-approval
export RG_TOOLS_DIR ?= $(HOME)/.cache/release-gates/tools
export RG_BIN := $(BIN)

.PHONY: deps tools helpers test test-go test-groovy demo bench vet

deps:
	@test/scripts/install-deps.sh

tools: deps
	@test/scripts/tools.sh cosign notation >/dev/null

helpers:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./helpers/cmd/,$(HELPERS))

vet:
	$(GO) vet ./...

test-go: tools helpers
	PATH=$(RG_TOOLS_DIR)/bin:$$PATH RG_REQUIRE_TOOLS=1 $(GO) test -race -count=1 -timeout 40m ./...

test-groovy: deps helpers
	test/groovy/run.sh

test: deps vet test-go test-groovy

demo: deps helpers
	test/demo/demo.sh

bench: deps helpers
	@test/scripts/tools.sh cosign notation oasdiff >/dev/null
	PATH=$(RG_TOOLS_DIR)/bin:$$PATH test/bench/bench.sh
