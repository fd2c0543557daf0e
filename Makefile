# Build and test entry points for containerd-shim-wasmedge.
# CI runs `bash .ci/run`, which is `.ci/install-deps` then `make test`.

export PATH := /usr/local/go/bin:$(PATH)

GO       ?= go
BIN_DIR  := $(CURDIR)/bin
WASM_DIR := $(CURDIR)/build/wasm
TESTDATA := integration/testdata
SHIM     := $(BIN_DIR)/containerd-shim-wasmedge-v1

# The daemons the integration tests start (see integration/harness).
CONTAINERD16 ?= /usr/bin/containerd
CTR16        ?= /usr/bin/ctr
CONTAINERD24 ?= /opt/containerd-v2.4.2/bin/containerd
CTR24        ?= /opt/containerd-v2.4.2/bin/ctr

# Narrow a test run, e.g. `make integration RUN=TestHello`.
RUN ?= .

WASI_CC     := clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-debug
WASM_FILES  := $(addprefix $(WASM_DIR)/,wasitool.wasm hello.wasm reactor.wasm hello-go.wasm httpserver.wasm notwasm.wasm)

.NOTPARALLEL:
.PHONY: all test deps build wasm vet unit integration demo bench bench-smoke clean

all: build

test: deps build wasm vet unit integration bench-smoke

deps:
	bash .ci/install-deps

# cgo only for the instance's entry into its namespaces (sandbox/nsenter_linux.c),
# linked statically against glibc so the binary runs whatever the host's libc;
# netgo and osusergo keep out glibc's NSS, which a static binary cannot load.
#
# Three binaries, nested so that one file is installed: the instance process
# (engine and sandbox only) is embedded in the shim server, and the server in
# the small binary containerd runs, which answers the start and delete actions
# itself and writes the others out once per node (see shim/action).
STATIC_GO := CGO_ENABLED=1 $(GO) build -trimpath -ldflags '-s -w -extldflags=-static'
INSTANCE  := cmd/wasmedge-shim-server/wasmedge-instance
SERVER    := cmd/containerd-shim-wasmedge/wasmedge-shim-server

# Each embedded binary comes with its SHA-256, which names the file it is
# written to.
build:
	$(STATIC_GO) -tags netgo,osusergo -o $(INSTANCE) ./cmd/wasmedge-instance
	sha256sum $(INSTANCE) | cut -d' ' -f1 > $(INSTANCE).sha256
	$(STATIC_GO) -tags netgo,osusergo,embed_instance -o $(SERVER) ./cmd/wasmedge-shim-server
	sha256sum $(SERVER) | cut -d' ' -f1 > $(SERVER).sha256
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -tags embed_server -o $(SHIM) ./cmd/containerd-shim-wasmedge

wasm: $(WASM_FILES)

$(WASM_DIR):
	mkdir -p $@

$(WASM_DIR)/wasitool.wasm: $(TESTDATA)/wasitool.c | $(WASM_DIR)
	$(WASI_CC) -o $@ $<

$(WASM_DIR)/%.wasm: $(TESTDATA)/%.wat | $(WASM_DIR)
	wat2wasm -o $@ $<

$(WASM_DIR)/hello-go.wasm: $(wildcard $(TESTDATA)/hello-go/*.go) | $(WASM_DIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -o $@ ./$(TESTDATA)/hello-go

$(WASM_DIR)/httpserver.wasm: $(wildcard $(TESTDATA)/httpserver/*.go) | $(WASM_DIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -o $@ ./$(TESTDATA)/httpserver

# A text file with a .wasm name: what a user gets wrong in practice.
$(WASM_DIR)/notwasm.wasm: $(TESTDATA)/notwasm.txt | $(WASM_DIR)
	cp $< $@

vet:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/integration')

integration:
	SHIM_BIN_DIR=$(BIN_DIR) WASM_DIR=$(WASM_DIR) \
	CONTAINERD16=$(CONTAINERD16) CTR16=$(CTR16) \
	CONTAINERD24=$(CONTAINERD24) CTR24=$(CTR24) \
	$(GO) test -count=1 -v -timeout 60m -run '$(RUN)' ./integration/...

demo: deps build wasm
	SHIM_BIN_DIR=$(BIN_DIR) WASM_DIR=$(WASM_DIR) \
	CONTAINERD16=$(CONTAINERD16) CTR16=$(CTR16) \
	CONTAINERD24=$(CONTAINERD24) CTR24=$(CTR24) \
	bash integration/demo.sh

# Figures for wasm beside runc on one private containerd (see bench/main.go);
# e.g. BENCH_FLAGS='-containerd 1.6 -m 200'. bench-smoke runs tiny sizes and
# saves nothing.
BENCH_FLAGS ?=
BENCH_ENV   := SHIM_BIN_DIR=$(BIN_DIR) WASM_DIR=$(WASM_DIR) \
	CONTAINERD16=$(CONTAINERD16) CTR16=$(CTR16) \
	CONTAINERD24=$(CONTAINERD24) CTR24=$(CTR24)

bench: build wasm
	$(BENCH_ENV) $(GO) run ./bench -results $(CURDIR)/bench/results $(BENCH_FLAGS)

bench-smoke: build wasm
	$(BENCH_ENV) $(GO) run ./bench -smoke $(BENCH_FLAGS)

clean:
	rm -rf bin build $(INSTANCE) $(INSTANCE).sha256 $(SERVER) $(SERVER).sha256
