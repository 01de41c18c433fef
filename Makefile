# AADSSHLoginForLinux VM extension handler.
#   make demo    the handler driven by the real guest agent (Debian's waagent) in a sandbox
#   make unit    the tests that need neither root, network namespaces nor chroots (fast)
#   make check   every test, as CI runs it
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

VERSION   := $(shell cat VERSION)
HANDLER   := Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux
BIN       := aadsshlogin-handler
ARCHES    := amd64 arm64
GO        ?= go
GOFLAGS_BUILD := -trimpath -ldflags "-s -w -X main.version=$(VERSION)"
DIST      ?= dist
STAGE     ?= build/package
BINDIR    ?= bin
# The next version, for update scenarios in the demo and tests.
NEXT_VERSION := $(shell awk -F. '{printf "%d.%d.%d.%d", $$1, $$2, $$3, $$4 + 1}' VERSION)
NEXT_ZIP  := build/next/$(HANDLER)__$(NEXT_VERSION).zip
ZIP       := $(DIST)/$(HANDLER)__$(VERSION).zip
# A count, not a duration: with a duration, go1.26's fuzz coordinator can
# report a spurious "context deadline exceeded" at the end (golang/go#75804,
# fixed in Go 1.27).
FUZZTIME  ?= 20000x
GOBIN     := $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2

# Debian packages the tests and the demo drive for real.
APT_PACKAGES := openssl zip unzip iproute2 gnupg ca-certificates dpkg-dev apt-utils \
	mmdebstrap debootstrap rpm createrepo-c dnf zypper openssh-server strace

.PHONY: build package package-next deps unit test fuzz lint check demo bench clean

build: $(foreach a,$(ARCHES),$(BINDIR)/$(BIN)-$(a))

$(BINDIR)/$(BIN)-%: FORCE
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build $(GOFLAGS_BUILD) -o $@ ./handler

FORCE:

# The zip the agent consumes: HandlerManifest.json at its root, the shim,
# both static binaries and the publishing definition.
package: build
	rm -rf $(STAGE) && mkdir -p $(STAGE)/bin $(STAGE)/scripts $(DIST)
	cp HandlerManifest.json $(STAGE)/
	install -m 0755 scripts/aadsshlogin-shim $(STAGE)/scripts/
	install -m 0755 $(foreach a,$(ARCHES),$(BINDIR)/$(BIN)-$(a)) $(STAGE)/bin/
	$(GO) run ./manifest/cmd/genmanifest -version $(VERSION) -out $(STAGE)/manifest.xml
	find $(STAGE) -exec touch -h -d '2000-01-01T00:00:00Z' {} +
	rm -f $(ZIP) && cd $(STAGE) && zip -q -X -r $(CURDIR)/$(ZIP) HandlerManifest.json manifest.xml scripts bin
	@echo "package: $(ZIP) ($$(stat -c %s $(ZIP)) bytes)"

# The same package with the next version number (update scenarios).
package-next:
	$(MAKE) --no-print-directory package VERSION=$(NEXT_VERSION) DIST=build/next STAGE=build/package-next BINDIR=build/next/bin

# Installs what the tests need on a Debian machine (idempotent; root).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  st=$$(dpkg-query -W -f='$${Status}' $$p 2>/dev/null || true); \
	  case "$$st" in *"ok installed") ;; *) missing="$$missing $$p";; esac; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	fi
	$(GO) mod download
	@test -x $(GOBIN)/staticcheck || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...

# The developers' loop: every test that needs neither root, network
# namespaces nor chroots. The others skip under -short unless
# AADSSH_REQUIRE_INTEGRATION=1 (fixtures.RequireIntegration), so it is unset.
unit:
	env -u AADSSH_REQUIRE_INTEGRATION $(GO) test -race -short -count=1 ./...

# End-to-end tests drive the real zips; integration tests fail instead of
# skipping when a tool they need is missing.
TEST_ENV := AADSSH_REQUIRE_INTEGRATION=1 AADSSH_ZIP=$(CURDIR)/$(ZIP) AADSSH_NEXT_ZIP=$(CURDIR)/$(NEXT_ZIP)

# The fault batteries run verbosely on their own so that their counts show.
test: package package-next
	$(TEST_ENV) $(GO) test -race -count=1 -timeout 30m -skip '^TestLockBattery$$' $$($(GO) list ./... | grep -v '/test/faults$$')
	@mkdir -p build
	$(TEST_ENV) $(GO) test -race -count=1 -timeout 20m -v -run 'TestFaultBatteries|TestBadInput|TestLockBattery' \
	  ./test/faults ./handler/lifecycle ./distros/integration > build/faults.log 2>&1 || { cat build/faults.log; exit 1; }
	@grep -h 'battery:' build/faults.log
	@grep -h '^ok' build/faults.log

# Runs every fuzz target for FUZZTIME executions on top of its seed corpus.
fuzz:
	@n=0; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    n=$$((n+1)); echo "fuzz: $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/tmp/aadssh-fuzz.log 2>&1 || { cat /tmp/aadssh-fuzz.log; exit 1; }; \
	  done; \
	done; echo "fuzz: $$n targets passed, $(FUZZTIME) each"

check: deps lint test fuzz
	@# No pipe into grep -q here: with pipefail, unzip can die of SIGPIPE (make
	@# reported Error 141 in CI). unzip exits 11 when the member is absent.
	@unzip -l $(ZIP) HandlerManifest.json >/dev/null && echo "check: $(ZIP) has HandlerManifest.json at its root"

demo: deps package package-next
	$(GO) build -o build/demo ./test/demo
	build/demo -zip $(ZIP) -zip2 $(NEXT_ZIP) $(if $(SCENARIO),-scenario $(SCENARIO),)

# Performance report: bench/report.md, .svg and .json (BENCHFLAGS e.g. -runs 50).
bench: deps package
	$(GO) run ./test/bench -zip $(ZIP) -bindir $(BINDIR) -out bench/report.md $(BENCHFLAGS)

clean:
	rm -rf bin build $(DIST)
