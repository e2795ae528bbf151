# Tollgate: every target is what README.md documents; `make test` needs no Docker.
GO        ?= go
BIN       ?= bin
GOFLAGS   ?=
export CGO_ENABLED ?= 0

.PHONY: all build test test-short lint conformance requirements e2e images bench fuzz soak clean

all: build test

build: ## compile every binary into ./bin
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

test: ## unit tests, self-tests and the builtin conformance run, with the race detector; no Docker
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

test-short: ## the same without the race detector, for a quick loop
	$(GO) test -count=1 -short ./...

lint: ## go vet and staticcheck (pinned, from the module proxy)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

conformance: ## run every requirement against the builtin reference proxy
	$(GO) run ./cmd/tollgate run --report-dir reports/conformance

requirements: ## regenerate suites/REQUIREMENTS.md from the catalogue
	$(GO) run ./cmd/tollgate list --format markdown > suites/REQUIREMENTS.md

images: ## build the FROM-scratch container images from host-built static binaries; only stale ones, nothing pulled
	$(GO) run ./suites/containers/cmd/buildimages

e2e: images ## container suites (NET-*) against the local Docker engine: host and container topologies, both drivers
	TESTCONTAINERS_RYUK_DISABLED=$${TESTCONTAINERS_RYUK_DISABLED:-true} \
	TESTCONTAINERS_HOST_OVERRIDE=$${TESTCONTAINERS_HOST_OVERRIDE:-127.0.0.1} \
	$(GO) test -tags e2e -count=1 -timeout 10m ./suites/containers/... ./cmd/tollgate/

FUZZTIME      ?= 20s
SOAK_DURATION ?= 60s
SOAK_FLAGS    ?=

bench: ## tollgate bench: the builtin proxy vs the direct path to the mock (under 3 min), then the request-path micro-benchmarks; BENCH_FLAGS adds flags (--exec, --vs-exec, --rounds...)
	$(GO) run ./cmd/tollgate bench --report-dir reports/bench $(BENCH_FLAGS)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 200ms ./proxy/

fuzz: ## run every fuzz target in the repo for FUZZTIME each; a failing input lands in that package's testdata/fuzz
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for t in $$($(GO) test -list '^Fuzz' $$dir | grep '^Fuzz'); do \
			echo "== $$dir $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$dir; \
		done; \
	done

soak: ## tollgate soak: 1000 mixed clients through the reference proxy on loopback for SOAK_DURATION (CI: SOAK_DURATION=10s)
	$(GO) run ./cmd/tollgate soak --duration $(SOAK_DURATION) $(SOAK_FLAGS)

clean:
	rm -rf $(BIN) reports
