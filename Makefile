# meshdoctor — build, test, lint, benchmarks and the demo.
# `make test` is what CI runs (.ci/run); the README's two commands are
# `make demo` and `make test`.

GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
PKGS        := ./...

.PHONY: all build test unit lint bench fuzz demo demo-record envoy-fixtures fixtures testbin e2e playground clean junit-consumer \
	release-check release-snapshot image-test

all: build

# The version stamped into the binary (meshdoctor version): the nearest tag,
# else the commit; go install takes them from Go's build information instead.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE    ?= $(shell git log -1 --format=%cI 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/meshdoctor ./cmd/meshdoctor

## test: lint, build the integration binaries (cached), then every test tier, the
## image test (hack/image, its own module) and goreleaser check.
test: lint testbin junit-consumer
	$(GO) test -count=1 -timeout 40m $(PKGS)
	cd hack/istiod && $(GO) test -count=1 ./configdump/
	$(MAKE) image-test
	$(MAKE) release-check
	$(MAKE) fuzz FUZZTIME=10s

## image-test: build the static binary, the OCI image from it, unpack it and run it (hack/image)
image-test:
	cd hack/image && $(GO) vet ./... && $(GO) test -count=1 -timeout 40m ./...

## release-check: validate .goreleaser.yaml with the pinned GoReleaser (built into bin/ when missing)
release-check:
	bash hack/testbin.sh goreleaser
	bin/goreleaser check

## release-snapshot: every release archive, checksums, SBOMs and the krew manifest into dist/
## (nothing published), then the container image: dist/image (OCI layout, linux/amd64+arm64)
## and dist/meshdoctor_image_linux_amd64.tar (docker/podman load)
release-snapshot:
	bash hack/testbin.sh goreleaser cyclonedx-gomod
	PATH="$(CURDIR)/bin:$$PATH" bin/goreleaser release --snapshot --clean
	cd hack/image && $(GO) run . -dist ../../dist -oci ../../dist/image -tarball ../../dist/meshdoctor_image_linux_amd64.tar

## unit: only the fast tiers (no API servers); tests that need them skip and say why.
unit:
	MESHDOCTOR_NO_TESTENV=1 $(GO) test -count=1 $(PKGS)

## junit-consumer: the JUnit consumer from npm (test-results-parser) that the CLI tests read --junit output with
junit-consumer:
	@if ! command -v npm >/dev/null; then echo "npm not found: TestJUnitConsumerCounts will skip"; \
	elif [ ! -d hack/junit/node_modules/test-results-parser ]; then npm ci --prefix hack/junit --no-audit --no-fund; fi

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

## bench: the performance figures (see README, Performance).
## SCALE=1 adds the real-API-server tier (e2e TestScaleSideBySideWithIstioctl:
## three kube-apiservers with 20,000 Services, 20,000 EndpointSlices and 5,000
## pods each, meshdoctor and istioctl side by side; tens of minutes, never in
## make test). SCALE_SERVICES=2000 shrinks it; SCALE_BINS=a,b adds binaries.
SCALE          ?=
SCALE_SERVICES ?=
SCALE_BINS     ?=
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 5x -count 1 ./internal/cluster/ ./internal/checks/ ./internal/envoyadmin/ ./internal/ui/
ifneq ($(SCALE),)
	MESHDOCTOR_SCALE=1 MESHDOCTOR_SCALE_SERVICES=$(SCALE_SERVICES) MESHDOCTOR_SCALE_BINS=$(SCALE_BINS) \
		$(GO) test -run '^TestScaleSideBySideWithIstioctl$$' -v -count 1 -timeout 150m ./e2e/
endif

## fuzz: each hostile-input fuzzer for a short, bounded time (FUZZTIME=10s).
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./internal/snapshot/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRemoteKubeconfig$$' -fuzztime $(FUZZTIME) ./internal/cluster/
	$(GO) test -run '^$$' -fuzz '^FuzzCABundle$$' -fuzztime $(FUZZTIME) ./internal/cluster/
	$(GO) test -run '^$$' -fuzz '^FuzzParseConfigDump$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./internal/envoyadmin/

## demo: the TUI (or the table, when not on a terminal) on the recorded demo mesh.
demo:
	@$(GO) run ./cmd/meshdoctor --from testdata/demo/mesh.tar.gz; code=$$?; \
	  if [ $$code = 1 ]; then echo "(exit 1: meshdoctor found failures; the demo mesh is broken on purpose)" >&2; \
	  elif [ $$code != 0 ]; then exit $$code; fi

## demo-record: re-record the demo from the integration environment (root, make testbin)
demo-record: testbin
	$(GO) run ./hack/demo -o testdata/demo/mesh.tar.gz

## envoy-fixtures: re-record testdata/envoy/istiod-*.json from a real istiod (root, make testbin)
envoy-fixtures: testbin
	$(GO) test -count=1 -run TestIstiodOracle ./e2e/ -update-istiod

## fixtures: re-render testdata/installs with the pinned Istio's own tooling (bin/istioctl, built
## here from hack/istiod when missing; `make test` does not need it: the rendered files are committed)
fixtures:
	bash hack/testbin.sh istioctl
	$(GO) run ./hack/render -o testdata/installs

clean:
	rm -rf bin dist

# testbin, e2e, playground: the integration tier (real kube-apiservers).
include hack/testenv.mk
