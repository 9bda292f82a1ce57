# mantlet: one entry point. `make help` lists the targets.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin
IMAGE ?= images/node.yaml
PROFILE ?= profiles/base.yaml
OUT ?= out
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
STAMP := -X github.com/mantlet/mantlet/internal/version.Version=$(VERSION) -X github.com/mantlet/mantlet/internal/version.Commit=$(COMMIT)

.PHONY: help deps build image test test-qemu check lint bench audit generate clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

deps: ## install the build and test tools (Debian packages, Go modules); run as root
	./scripts/install-deps.sh

build: ## build bin/mantlet and the static bin/mantlet-firstboot
	$(GO) build -trimpath -ldflags '$(STAMP)' -o $(BIN)/mantlet ./cmd/mantlet
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w $(STAMP)' -o $(BIN)/mantlet-firstboot ./cmd/mantlet-firstboot

image: build ## bake the default image: $(OUT)/node.raw (+ .bmap), node.qcow2, node.manifest.json
	$(BIN)/mantlet build --image $(IMAGE) --profile $(PROFILE) -o $(OUT)

test: ## unit tests (no VMs)
	$(GO) test -count=1 ./...

test-qemu: ## build the default image and boot it in QEMU (needs root and make deps)
	$(GO) test -count=1 -tags qemu -timeout 80m -v ./test/qemu/

check: lint test test-qemu audit ## everything CI runs

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags qemu ./test/qemu/

bench: build ## print build times (cold, warm, profile change, no change, their ratios), image sizes, boot time, and the cluster harness's boot times and memory
	./scripts/bench.sh
	./scripts/bench-cluster.sh

audit: image ## build the default image and measure it: CIS Level 1/2 (OpenSCAP) offline and booted in QEMU, sshd, sudoers, Docker, key material; needs root
	$(BIN)/mantlet audit --image $(IMAGE) --profile $(PROFILE) --report-dir $(OUT)/audit $(OUT)/node.raw

generate: ## regenerate golden files and the man pages (docs/man); make test fails while they are stale
	$(GO) test ./internal/spec/ ./internal/build/ -update
	$(GO) test ./cmd/mantlet/ ./cmd/mantlet-firstboot/ -run TestManPagesCurrent -update

clean: ## remove binaries and outputs
	rm -rf $(BIN) $(OUT)
