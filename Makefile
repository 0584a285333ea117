# ticketing — one Makefile for the whole workspace.
#
#   make run     the whole system locally, behind a gateway on GATEWAY_ADDR
#                (default 127.0.0.1:8080); Ctrl-C stops it
#   make test    everything CI checks: formatting, vet, staticcheck, each module
#                building on its own, and every test with the race detector
#
# Go tools are pinned in tools/go.mod and built into .bin/ on first use.

MODULES := common auth tickets orders expiration payments client infra
# Modules with Go code so far; the others are placeholders for services to come.
CODE    := $(foreach m,$(MODULES),$(if $(wildcard $(m)/*.go $(m)/*/*.go $(m)/*/*/*.go),$(m)))
PKGS    := $(addprefix ./,$(addsuffix /...,$(CODE)))
BIN     := $(CURDIR)/.bin
GO      ?= go

# Programs the tests run, as command:Debian-package; installed when missing.
SYSTEM_DEPS := redis-server:redis-server chromium:chromium

.PHONY: run test fmt-check vet lint standalone unit deps tools clean

run:
	$(GO) build -o $(BIN)/stack ./infra/cmd/stack
	$(BIN)/stack

test: fmt-check vet lint standalone unit

tools: $(BIN)/staticcheck

$(BIN)/staticcheck: tools/go.mod tools/go.sum
	cd tools && GOWORK=off $(GO) build -o $(BIN)/ honnef.co/go/tools/cmd/staticcheck

fmt-check:
	@out=$$(gofmt -l $(MODULES) tools); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

lint: $(BIN)/staticcheck
	$(BIN)/staticcheck $(PKGS)

# Docker builds compile one module without the workspace: prove each can.
standalone:
	@for m in $(CODE); do \
		echo "GOWORK=off go build ./$$m/..."; \
		(cd $$m && GOWORK=off $(GO) build ./...) || exit 1; \
	done

deps:
	@missing=""; \
	for dep in $(SYSTEM_DEPS); do \
		command -v $${dep%%:*} >/dev/null 2>&1 || missing="$$missing $${dep#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "missing Debian packages:$$missing (apt-get install$$missing)"; exit 1; \
		fi; \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

unit: deps
	$(GO) test -race -count=1 $(PKGS)

clean:
	rm -rf $(BIN)
