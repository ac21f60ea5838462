# tether — run `make help` for the targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: help build unit test lint golden bench demo deb clean

help: ## show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/tether
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/tether ./agent/cmd/tether

unit: ## fast tier: every package with -race and -short (no root, no namespaces, no real daemons)
	$(GO) test -count=1 -race -short -timeout 10m $(PKGS)

test: build ## run the whole suite: unit, golden and (as root) network-namespace integration tests
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 45m $(PKGS)

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
DEADCODE    := golang.org/x/tools/cmd/deadcode@v0.52.0

lint: ## gofmt, go vet, staticcheck, unused and unreachable code, and the rule that policy/ and render/ do no I/O
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) -checks 'U1000' $(PKGS)
	@out=$$($(GO) run $(DEADCODE) -test $(PKGS)); if [ -n "$$out" ]; then echo "unreachable code (delete it or wire it in):"; echo "$$out"; exit 1; fi
	$(GO) test -count=1 -run TestPureImports ./test/arch/

golden: ## rewrite golden files from the current renderers (review the diff like code)
	$(GO) test -count=1 ./render/... -update

bench: ## run the benchmarks, print them and the speed/memory table of issue 15 (before, target, now)
	@mkdir -p bin
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./policy/... ./render/... ./agent/... ./test/rossim/... | tee bin/bench.txt | awk '/^Benchmark/ {printf "%-56s", $$1; for (i = 3; i < NF; i += 2) printf " %12s %-13s", $$i, $$(i+1); print ""}'
	@echo
	@$(GO) run ./test/benchtable < bin/bench.txt

demo: build ## show the main job working on the example networks
	@$(GO) run ./test/demo

deb: ## build .deb packages (amd64, arm64) into dist/
	@for arch in amd64 arm64; do packaging/build-deb.sh $(VERSION) $$arch || exit 1; done

clean: ## remove build output
	rm -rf bin dist
