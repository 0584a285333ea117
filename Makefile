# ticketing — one Makefile for the whole workspace.
#
#   make run     the whole system locally, behind a gateway on GATEWAY_ADDR
#                (default 127.0.0.1:8080); Ctrl-C stops it
#   make test    everything CI checks: formatting, vet, staticcheck, every
#                command type-checked for macOS and Windows, each module
#                building on its own, every test with the race detector, and
#                a short run of every fuzz target
#   make fuzz    every fuzz target for FUZZTIME (default 30000x inputs) each
#
# Go tools are pinned in tools/go.mod (crosscheck is the tools module's own)
# and built into .bin/ on first use.

MODULES := common auth tickets orders expiration payments client infra
# Modules with Go code (all of them: CODE keeps the targets right should an empty one be added).
CODE    := $(foreach m,$(MODULES),$(if $(wildcard $(m)/*.go $(m)/*/*.go $(m)/*/*/*.go),$(m)))
PKGS    := $(addprefix ./,$(addsuffix /...,$(CODE)))
BIN     := $(CURDIR)/.bin
GO      ?= go
SHELL   := /bin/bash
space   := $(subst ,, )
comma   := ,

# Every fuzz target, as package:function. go test -fuzz runs one target per
# invocation; make fuzz refuses a Fuzz function missing from this list.
FUZZ_TARGETS := \
	./common/events:FuzzParseMoney \
	./common/events:FuzzMoneyString \
	./common/events:FuzzMoneyUnmarshalJSON \
	./common/session:FuzzParseCookie \
	./common/web:FuzzParsePage \
	./auth/internal/httpapi:FuzzDecodeSignUp \
	./auth/internal/httpapi:FuzzDecodeSignIn \
	./tickets/internal/httpapi:FuzzDecodeTicket \
	./tickets/internal/httpapi:FuzzParsePrice \
	./orders/internal/httpapi:FuzzDecodeCreateOrder \
	./payments/internal/httpapi:FuzzDecodePayment
# A count, not a duration: Go 1.26's fuzzing coordinator can fail a target
# with "context deadline exceeded" when a -fuzztime duration runs out while
# a worker is busy (golang/go#75804, fixed in Go 1.27); a count has no such
# deadline. 30000 inputs take 2-5 s per target here.
FUZZTIME ?= 30000x
# BENCH_FLAGS are passed to the bench command (go run ./infra/cmd/bench -h).
BENCH_FLAGS ?= -pprof

.PHONY: run test fmt-check vet lint standalone unit chaos e2e fuzz deps tools clean cross crosscheck

run:
	$(GO) build -o $(BIN)/stack ./infra/cmd/stack
	$(BIN)/stack

test: fmt-check vet lint crosscheck standalone unit chaos e2e fuzz

tools: $(BIN)/staticcheck $(BIN)/crosscheck

$(BIN)/staticcheck: tools/go.mod tools/go.sum
	cd tools && GOWORK=off $(GO) build -o $(BIN)/ honnef.co/go/tools/cmd/staticcheck

$(BIN)/crosscheck: tools/go.mod tools/go.sum tools/crosscheck/main.go
	cd tools && GOWORK=off $(GO) build -o $(BIN)/ ./crosscheck

fmt-check:
	@out=$$(gofmt -l $(MODULES) tools); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

lint: $(BIN)/staticcheck
	$(BIN)/staticcheck $(PKGS)

# Every command for macOS (Apple silicon and Intel) and Windows: the stack's
# Linux-only process control sits behind build tags (infra/stack/sys_*.go).
# make test type-checks them (crosscheck: about a minute); make cross builds
# them, which from an empty cache takes longer than the rest of make test.
CROSS   := darwin/arm64 darwin/amd64 windows/amd64
COMMANDS := ./auth ./tickets ./orders ./expiration ./payments ./client \
	./infra/cmd/stack ./infra/cmd/audit ./infra/cmd/load ./infra/cmd/bench ./infra/cmd/deadletters
crosscheck: $(BIN)/crosscheck
	$(BIN)/crosscheck -targets $(subst $(space),$(comma),$(CROSS)) $(COMMANDS)

cross:
	@out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; for t in $(CROSS); do \
		echo "GOOS=$${t%/*} GOARCH=$${t#*/} go build $(COMMANDS)"; \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -o "$$out/" $(COMMANDS) || exit 1; \
	done

# Docker builds compile one module without the workspace: prove each can,
# with the very library versions the tests run with in the workspace.
MODVERSIONS := -deps -test -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}' ./...
standalone:
	@for m in $(CODE); do \
		echo "GOWORK=off go build ./$$m/..."; \
		(cd $$m && GOWORK=off $(GO) build ./...) || exit 1; \
		ws=$$(cd $$m && $(GO) list $(MODVERSIONS) | grep -v '^ticketing.dev/' | sort -u); \
		alone=$$(cd $$m && GOWORK=off $(GO) list $(MODVERSIONS) | grep -v '^ticketing.dev/' | sort -u); \
		if [ "$$ws" != "$$alone" ]; then \
			echo "$$m: built alone (as Docker does) it uses other versions than the workspace:"; \
			diff <(echo "$$ws") <(echo "$$alone"); \
			echo "align $$m/go.mod with the workspace (go get module@version, then go mod tidy)"; exit 1; \
		fi; \
	done

# make test needs redis-server, Chromium (or Chrome) and PostgreSQL's
# server programs (the stack's PostgreSQL backend is tested); make run needs
# none of them (it embeds a Redis when redis-server is missing). Debian's are
# installed when missing and running as root; elsewhere deps says what to
# install. The browser tests look where deps does (infra/e2e, CHROME_PATH).
BROWSERS := chromium chromium-browser google-chrome google-chrome-stable \
	"/Applications/Chromium.app/Contents/MacOS/Chromium" \
	"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
# Where Debian and Homebrew (keg-only) put PostgreSQL's server programs; the
# stack looks there too (infra/stack/postgres.go).
POSTGRES_BINS := /usr/lib/postgresql/*/bin/postgres /opt/homebrew/opt/postgresql@*/bin/postgres \
	/usr/local/opt/postgresql@*/bin/postgres
deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	browser="$${CHROME_PATH:-}"; \
	if [ -z "$$browser" ]; then for b in $(BROWSERS); do \
		if command -v "$$b" >/dev/null 2>&1; then browser="$$b"; break; fi; \
	done; fi; \
	[ -n "$$browser" ] || missing="$$missing chromium"; \
	command -v initdb >/dev/null 2>&1 || ls $(POSTGRES_BINS) >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(uname -s)" = Darwin ]; then \
		echo "make test needs:$$missing. With Homebrew:"; \
		case "$$missing" in *redis-server*) echo "  brew install redis";; esac; \
		case "$$missing" in *chromium*) echo "  brew install --cask chromium   (or Google Chrome; or set CHROME_PATH)";; esac; \
		case "$$missing" in *postgresql*) echo "  brew install postgresql@17";; esac; \
		echo "make run needs none of them."; exit 1; \
	fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "make test needs:$$missing; install them with your package manager (or set CHROME_PATH to a Chrome)"; exit 1; \
	fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "missing Debian packages:$$missing (sudo apt-get install$$missing)"; exit 1; \
	fi; \
	echo "installing$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null

# The services' tests go again on JetStream (BUS=jetstream: testkit starts
# that server and gives the services BUS); the bus suite in common/bus runs
# each case on both transports already.
BUS_SERVICES := ./tickets/... ./orders/... ./payments/... ./expiration/...
unit: deps
	$(GO) test -race -count=1 $$($(GO) list $(PKGS) | grep -v -E '/infra/(e2e|chaos)$$')
	BUS=jetstream $(GO) test -race -count=1 $(BUS_SERVICES)

# The chaos and kill-under-load runs, without the race detector: their test
# process hosts FerretDB, NATS Streaming and the gateway, which run several
# times slower under it, so that the load runs would measure the detector.
# The services they kill are separate processes, built without it anyway,
# and every package of ours they use is race-tested in its own package.
# The chaos run goes again on JetStream (BUS=jetstream), its server
# restarted mid-run as NATS Streaming's is.
chaos: deps
	set -o pipefail; $(GO) test -count=1 -v ./infra/chaos/ 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT)'
	set -o pipefail; BUS=jetstream $(GO) test -count=1 -v -run '^TestChaos_KilledServices' ./infra/chaos/ 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT)'

# The end-to-end and browser stories, verbose so that the output names the
# folder of the browser screenshots; only the run/pause lines are left out.
# The stories go again on JetStream (BUS=jetstream); the browser and
# document tests, which do not depend on the bus, run once.
e2e: deps
	set -o pipefail; $(GO) test -race -count=1 -v ./infra/e2e/ 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT)'
	set -o pipefail; BUS=jetstream $(GO) test -race -count=1 -v -run '^TestStory_' ./infra/e2e/ 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT)'

# A short run of each target on top of its seed corpus (testdata/fuzz); new
# inputs found are kept in Go's cache, failing ones in testdata/fuzz. Inputs
# are minimized briefly (10 runs): long minimization of a large input would
# take the whole run.
fuzz:
	@missing=$$(grep -rhoE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' $(CODE) | sed 's/^func //' | sort -u | \
		while read -r f; do case " $(FUZZ_TARGETS) " in *":$$f "*) ;; *) echo "$$f";; esac; done); \
	if [ -n "$$missing" ]; then echo "fuzz targets missing from FUZZ_TARGETS in the Makefile:" $$missing; exit 1; fi
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "go test -run='^\$$' -fuzz='^$$name\$$' -fuzztime=$(FUZZTIME) $$pkg"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=10x $$pkg || exit 1; \
	done

# PostgreSQL's cells need its server programs (make deps installs them).
bench:
	$(GO) run ./infra/cmd/bench -root $(CURDIR) -out $(CURDIR)/results $(BENCH_FLAGS)

clean:
	rm -rf $(BIN)
