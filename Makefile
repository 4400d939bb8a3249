# carerecord. `make run` starts the demo; `make test` runs every test.
GO    ?= go
# Builds and tests use the toolchain go.mod names (its toolchain line: a
# Go patch release with the standard library's security fixes), fetched
# through the module proxy, even where the installed Go defaults to
# GOTOOLCHAIN=local. Set GOTOOLCHAIN to override.
GOTOOLCHAIN ?= auto
export GOTOOLCHAIN
# One set of build tags for build, test and vet, so SQLite's C code is
# compiled once and cached.
TAGS  ?= sqlite_omit_load_extension
ADDR  ?= 127.0.0.1:8080
DATA  ?= ./var
BIN   ?= bin/carerecord

.PHONY: run test bench generate lint build screenshots

## build: compile the carerecord binary into bin/
build:
	$(GO) build -tags '$(TAGS)' -o $(BIN) ./cmd/carerecord

## run: the whole product on this machine (portal, development IdP, SQLite under ./var)
run: build
	exec ./$(BIN) demo --addr $(ADDR) --data $(DATA)

## test: every test, against real SQLite files and real HTTP servers on loopback
CHROMIUM ?= /usr/bin/chromium
test:
	@test -x $(CHROMIUM) || echo "make test: NOTE: no Chromium at $(CHROMIUM), so the browser journeys in ./cmd/carerecord are SKIPPED. Install it with: sudo apt-get install chromium fonts-liberation fonts-dejavu-core"
	$(GO) test -tags '$(TAGS)' -count=1 ./...
	@test -x $(CHROMIUM) || echo "make test: the browser journeys were SKIPPED (no Chromium at $(CHROMIUM)); the other tests passed."

## screenshots: regenerate docs/screenshots/*.png from the browser tests (needs Chromium)
screenshots:
	CARERECORD_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -tags '$(TAGS)' -count=1 -run '^TestE2E$$' ./cmd/carerecord

## bench: the product against its performance targets (docs/performance.md; about 5 minutes on 2 cores;
## BENCHFLAGS=-quick for about a minute), then the store's Go benchmarks once each. Never part of test.
BENCHFLAGS ?=
bench:
	$(GO) run -tags '$(TAGS)' ./cmd/carerecord-bench $(BENCHFLAGS)
	$(GO) test -tags '$(TAGS)' -run '^$$' -bench . -benchtime 1x -benchmem ./store ./records

## generate: regenerate the templ components (*_templ.go, committed)
generate:
	$(GO) tool templ generate

## lint: go vet and gofmt
lint:
	$(GO) vet -tags '$(TAGS)' ./...
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
