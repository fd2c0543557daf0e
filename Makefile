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
WASM_FILES  := $(addprefix $(WASM_DIR)/,wasitool.wasm hello.wasm reactor.wasm hello-go.wasm notwasm.wasm)

.NOTPARALLEL:
.PHONY: all test deps build wasm vet unit integration demo bench clean

all: build

test: deps build wasm vet unit integration

deps:
	bash .ci/install-deps

# CGO off makes the binary static, so it runs whatever the host's libc.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(SHIM) ./cmd/containerd-shim-wasmedge

wasm: $(WASM_FILES)

$(WASM_DIR):
	mkdir -p $@

$(WASM_DIR)/wasitool.wasm: $(TESTDATA)/wasitool.c | $(WASM_DIR)
	$(WASI_CC) -o $@ $<

$(WASM_DIR)/%.wasm: $(TESTDATA)/%.wat | $(WASM_DIR)
	wat2wasm -o $@ $<

$(WASM_DIR)/hello-go.wasm: $(wildcard $(TESTDATA)/hello-go/*.go) | $(WASM_DIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -o $@ ./$(TESTDATA)/hello-go

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

bench:
	@echo "bench: not yet"

clean:
	rm -rf bin build
