# Relance — every developer command. `make` alone lists them.
#
# Two commands get a fresh Debian machine (no Docker engine) to a running app:
#   make dev    installs what is missing, starts PostgreSQL + Redis under .data/,
#               migrates, serves the app with a simulated dev store
#   make test   the same services for tests, then every Go, frontend and browser test

SHELL := bash
.DEFAULT_GOAL := help

GO          ?= go
TEST_TIMEOUT ?= 20m
FUZZ_TIME   ?= 10s
FUZZ_PKGS   ?= ./...
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Throwaway servers (internal/platform/localstack): the dev stack, and the one
# the tests start on their own (internal/platform/testenv).
DEV_STACK  := -dir .data -pg-port 15432 -redis-port 16379
TEST_STACK := -dir .data/test -pg-port 15433 -redis-port 16380

# The browser end-to-end test (make e2e) runs its own bin/relance dev on ports
# of its own, so it does not disturb a running make dev. The simulated Shopify
# of relance dev always listens on 127.0.0.1:8081, though: stop make dev first.
E2E_PORT   ?= 18080
E2E_STACK  := -dir .data/e2e -pg-port 15434 -redis-port 16381

# Written after a successful npm ci; older than the lock file means reinstall.
NODE_MODULES := frontend/node_modules/.relance-installed
PIXEL_MODULES := extensions/relance-pixel/node_modules/.relance-installed

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_\/-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: system-deps $(NODE_MODULES) ## Install what is missing (Debian packages, frontend packages)

.PHONY: system-deps
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing (Debian packages)"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi
	@command -v $(GO) >/dev/null 2>&1 || { echo "deps: Go is not on PATH (it lives in /usr/local/go/bin on our machines)"; exit 1; }
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "deps: Node.js >= 20.19 and npm are required (Debian's nodejs is too old for Vite 7)"; exit 1; }
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20 || (a===20 && b<19)) { console.error("deps: Node.js >= 20.19 is required, found " + process.versions.node); process.exit(1) }'

# npm ci when node_modules is missing or the lock file changed.
$(PIXEL_MODULES): extensions/relance-pixel/package-lock.json extensions/relance-pixel/package.json
	cd extensions/relance-pixel && npm ci --no-audit --no-fund
	@touch $@

$(NODE_MODULES): frontend/package-lock.json frontend/package.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

.PHONY: frontend
frontend: $(NODE_MODULES) ## Build the admin UI into frontend/dist (embedded in the binary)
	@# Vite empties dist/; .gitkeep goes back even when the build fails, so the
	@# Go code (//go:embed all:dist) still compiles.
	@status=0; (cd frontend && npm run build) || status=$$?; \
	mkdir -p frontend/dist && touch frontend/dist/.gitkeep; exit $$status

.PHONY: build
build: frontend ## Build bin/relance with the admin UI embedded
	$(GO) build -o bin/relance ./app

.PHONY: dev
dev: deps build ## Run the app locally: PostgreSQL + Redis under .data/, migrations, a simulated dev store, http://localhost:8080
	./bin/relance dev

.PHONY: run
run: build ## Run bin/relance dev without installing anything (what `shopify app dev` runs)
	./bin/relance dev

.PHONY: test
test: deps frontend $(PIXEL_MODULES) ## Every Go test, a short run of every fuzz target, the frontend unit tests, the browser e2e test; then stop the test servers
	@status=0; \
	echo "==> go test ./..."; \
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./... || status=1; \
	echo "==> fuzz ($(FUZZ_TIME) per target)"; \
	$(MAKE) --no-print-directory fuzz || status=1; \
	echo "==> frontend unit tests"; \
	(cd frontend && npm test) || status=1; \
	echo "==> web pixel extension tests (type check, bundle under 128 KB, unit tests)"; \
	(cd extensions/relance-pixel && npm test) || status=1; \
	echo "==> browser end-to-end test"; \
	$(MAKE) --no-print-directory e2e || status=1; \
	echo "==> stopping the test servers"; \
	$(GO) run ./app stack down $(TEST_STACK) || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED"; else echo "make test: ok"; fi; \
	exit $$status

# e2e: PostgreSQL + Redis under .data/e2e, bin/relance dev with TIME_SCALE=3600
# (1 h → 1 s) on E2E_PORT, then the Playwright script in headless Debian
# Chromium; the app and the servers are stopped whatever happens.
.PHONY: e2e
e2e: build ## Browser end-to-end test of the admin (own app + servers, TIME_SCALE=3600), screenshots into docs/screenshots
	@command -v chromium >/dev/null 2>&1 || { echo "e2e: Debian's chromium is missing (make deps installs it)"; exit 1; }
	@mkdir -p .data/e2e; \
	log=.data/e2e/relance.log; \
	urls=$$(./bin/relance stack up $(E2E_STACK) -fast) || { echo "e2e: could not start PostgreSQL/Redis"; exit 1; }; \
	eval "$$urls"; \
	env DATABASE_URL="$$DATABASE_URL" REDIS_URL="$$REDIS_URL" PORT=$(E2E_PORT) TIME_SCALE=3600 ./bin/relance dev >$$log 2>&1 & pid=$$!; \
	cleanup() { kill -TERM $$pid 2>/dev/null; wait $$pid 2>/dev/null; ./bin/relance stack down $(E2E_STACK) >/dev/null 2>&1; }; \
	trap cleanup EXIT INT TERM; \
	up=0; for i in $$(seq 1 120); do \
	  if curl -fsS -o /dev/null http://localhost:$(E2E_PORT)/readyz 2>/dev/null; then up=1; break; fi; \
	  kill -0 $$pid 2>/dev/null || break; sleep 0.5; \
	done; \
	if [ $$up -ne 1 ]; then echo "e2e: bin/relance dev did not become ready; its log:"; tail -40 $$log; exit 1; fi; \
	status=0; (cd frontend && E2E_URL=http://localhost:$(E2E_PORT) npm run --silent e2e) || status=$$?; \
	if [ $$status -ne 0 ]; then echo "e2e: FAILED; the app's log (tail):"; tail -40 $$log; fi; \
	exit $$status

.PHONY: test/race
test/race: deps frontend ## Go tests with the race detector; then stop the test servers
	@status=0; \
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./... || status=1; \
	$(GO) run ./app stack down $(TEST_STACK) || status=1; \
	exit $$status

# Fuzz targets are discovered, so a new FuzzX is picked up without editing this
# file. -fuzz takes one target per run, hence one `go test` per target. A run
# that fails only because the fuzzing coordinator's deadline expired (no
# failing input written) is run once more; any input that fails always fails.
.PHONY: fuzz
fuzz: ## Run every Go fuzz target (of FUZZ_PKGS) for FUZZ_TIME (default 10s) each
	@set -o pipefail; \
	targets=$$($(GO) test -list '^Fuzz' $(FUZZ_PKGS) | awk '/^Fuzz/ {t[n++]=$$1; next} $$1 == "ok" {for (i = 0; i < n; i++) print $$2, t[i]; n = 0}') || { echo "fuzz: listing the fuzz targets failed"; exit 1; }; \
	if [ -z "$$targets" ]; then echo "fuzz: no fuzz targets"; exit 0; fi; \
	status=0; \
	set -- $$targets; \
	while [ $$# -ge 2 ]; do \
	  pkg=$$1; name=$$2; shift 2; \
	  echo "--> $$pkg $$name"; \
	  for try in 1 2; do \
	    out=$$($(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZ_TIME) $$pkg 2>&1); rc=$$?; echo "$$out"; \
	    [ $$rc -eq 0 ] && break; \
	    if [ $$try -eq 1 ] && ! grep -q 'Failing input written' <<<"$$out" && grep -q 'context deadline exceeded' <<<"$$out"; then \
	      echo "fuzz: $$name: the fuzzing engine's own deadline expired with no failing input (Go's coordinator on a loaded machine); running it once more"; \
	      continue; \
	    fi; \
	    status=1; break; \
	  done; \
	done; \
	exit $$status

.PHONY: lint
lint: ## gofmt check, go vet, staticcheck
	@files=$$(find . -name '*.go' -not -path './frontend/node_modules/*' -not -path './.data/*' -print0 | xargs -0 gofmt -l); \
	if [ -n "$$files" ]; then echo "gofmt -w needed on:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

.PHONY: bench
bench: ## Benchmarks of the webhook inbox
	@status=0; \
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/webhook/... || status=1; \
	$(GO) run ./app stack down $(TEST_STACK) || status=1; \
	exit $$status

.PHONY: db/reset
db/reset: ## Wipe the dev database and queue: stop the dev servers, delete .data/pg* and .data/redis, start them again
	$(GO) run ./app stack down $(DEV_STACK)
	@# As root the cluster lives in a temporary directory that .data/pg links to.
	@for p in .data/pg* .data/redis; do \
	  if [ -L "$$p" ]; then target=$$(readlink -f "$$p"); [ -z "$$target" ] || rm -rf "$$target"; fi; \
	  rm -rf "$$p"; \
	done
	$(GO) run ./app stack up $(DEV_STACK)
	@echo "db/reset: empty servers are up; make dev creates and migrates the database"
