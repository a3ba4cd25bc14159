# Tipbox — make targets. `make run` starts the embedded profile; `make test`
# runs every test with the race detector against real Redis and PostgreSQL.
GO       ?= go
PKGS     ?= ./...
BENCHTIME ?= 2s
# Every target builds with the Go release named by go.mod's toolchain line
# (a patch release whose standard library has no known vulnerability that
# `make vuln` reports); the go command fetches it from the module proxy once.
export GOTOOLCHAIN := $(shell sed -n 's/^toolchain //p' go.mod)
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(HOME)/go/bin/staticcheck)

.PHONY: run run-redis worker test test-short lint vuln fmt bench build services tools

run: ## Run the API with the embedded profile (SQLite, in-memory cache and queue)
	$(GO) run ./cmd/api

run-redis: ## Run the API with the Redis profile
	$(GO) run ./cmd/api --config configs/redis.yaml

worker: ## Run a worker with the Redis profile
	$(GO) run ./cmd/worker --config configs/redis.yaml

build: ## Build both programs into ./bin
	$(GO) build -o bin/api ./cmd/api
	$(GO) build -o bin/worker ./cmd/worker

test: ## All tests, race detector on (needs Redis and PostgreSQL; see README)
	./scripts/test.sh

test-short: ## Quick tests only
	$(GO) test -short -count=1 $(PKGS)

lint: ## go vet, staticcheck, gofmt (installs staticcheck when missing)
	$(GO) vet $(PKGS)
	@[ -x "$(STATICCHECK)" ] || $(MAKE) tools
	$(STATICCHECK) $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vuln: ## govulncheck against an offline database built from golang.org/x/vulndb
	./scripts/vuln.sh

tools: ## Install staticcheck
	$(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

fmt:
	gofmt -w $$(git ls-files '*.go')

bench: ## Benchmarks, printed as tables (see docs/benchmarks.md)
	./scripts/bench.sh

services: ## Start local Redis and PostgreSQL if they are down
	./scripts/services.sh
