# efs-fuse build and test entry points. `make test` is what CI runs (.ci/run).
GO ?= go
PKGS := ./...
BIN := bin/efs-fuse

.PHONY: build test test-short lint lint-deps fuzz bench bench-micro demo demo-stop clean deps

# Static (no cgo: Go's own DNS resolver and user lookup), so the binary
# runs alone in a container image FROM scratch; cmd/efs-fuse's
# TestStaticBinaryRunsAlone checks that in an empty chroot.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/efs-fuse

# Installs the Debian packages the tests and the demo need (root, apt).
deps:
	bash .ci/install-deps

# The whole suite: unit tests, wire tests and integration tests against the
# real local target (nfs-ganesha + TLS front end), all with the race
# detector; then the end-to-end fault tests (hundreds of MiB through FUSE
# while connections are cut and servers restart) without it; then fallback
# mode end to end with a real kernel NFS client in User-Mode Linux guests
# (internal/umltest), also without it: the guest cannot map its shadow memory.
E2E := ./internal/e2e/...
GUEST := ./internal/fallbacke2e/...
test: build deps
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $$($(GO) list $(PKGS) | grep -v -e /internal/e2e -e /internal/fallbacke2e)
	$(GO) test -count=1 -timeout 10m $(E2E)
	$(GO) test -count=1 -parallel 3 -timeout 20m $(GUEST)

test-short:
	$(GO) test -short -count=1 $(PKGS)

# go mod tidy -diff changes nothing; it fails, showing the diff, when
# go.mod or go.sum is not what `go mod tidy` would write.
lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l .; echo "gofmt: files above need formatting"; exit 1)
	@$(GO) mod tidy -diff || (echo "go.mod/go.sum: run 'go mod tidy'"; exit 1)
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)
	$(MAKE) --no-print-directory lint-deps

# The watchdog reads state files (internal/mountstate) and the config only:
# it must not pull in the FUSE, NFS or TLS code it supervises.
lint-deps:
	@bad=$$($(GO) list -deps ./watchdog | grep -E '/efs-fuse/(fusefs|nfsclient|tunnel|internal/fusemount|internal/fallback)(/|$$)'); \
		test -z "$$bad" || (echo "watchdog must not depend on:"; echo "$$bad"; exit 1)
	@echo "lint-deps: watchdog is free of fusefs, nfsclient and tunnel"

# Runs every fuzzer for FUZZTIME each (default 30s); corpora live in testdata/fuzz.
FUZZTIME ?= 30s
fuzz:
	bash .ci/fuzz $(FUZZTIME)

# efs-fuse bench: the same workloads on fuse, kernel, client, client-plain, local
# (root: starts a local target). BENCHFLAGS e.g. --json bench.json --chart bench.svg
bench: build
	./$(BIN) bench $(BENCHFLAGS)

# go test microbenchmarks: XDR encode/decode of READ/WRITE, RPC round trips,
# and the tunnel relay's throughput against a direct TLS connection.
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./nfsclient/... ./tunnel/...

# Starts the local EFS-like target and mounts it at ./mnt (root; see README).
demo:
	bash scripts/demo.sh

demo-stop:
	bash scripts/demo-stop.sh

clean:
	rm -rf bin
