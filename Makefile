# Build, run and test the Sentiance auth-code backend.
# `make run` and `make test` are the two commands a newcomer needs.

SHELL := /bin/bash
GO ?= go
# What the tools build and install lives outside the repository: sam build
# copies the whole repository (CodeUri: .) before it runs the build.
CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sentiance-authcode
BIN := $(CACHE)/bin
# The Go tools the tests use, pinned by tests/go.mod's tool directives.
RIE := $(BIN)/aws-lambda-rie
STATICCHECK := $(BIN)/staticcheck
ACTIONLINT := $(BIN)/actionlint

# Lambda build flags: static, no RPC shim (provided.al2023 does not need it), small.
LAMBDA_GOFLAGS := -trimpath -tags lambda.norpc -ldflags "-s -w"

.PHONY: run test vet tools pytools fuzz bench build size doctor clean build-AuthCodeFunction build-PreTrafficCheckFunction

# Local mode: the built binary, not `go run`, so a bad setting is the
# server's one line (and make's own Error line) and Ctrl-C ends it cleanly.
run:
	@echo "make run: building local mode (a minute or two the first time)" >&2
	@$(GO) build -o $(BIN)/authcode-local ./devtools/cmd/local
	@exec $(BIN)/authcode-local $(ARGS)

# The CPU-share benchmark's smoke run needs root and a writable cgroup-v1
# CPU controller: these machines have both, GitHub's runners (cgroup v2) do
# not. Without them make test says so in one line and leaves it out.
CPUSHARE_SKIP := $(shell [ -w /sys/fs/cgroup/cpu ] || echo "-skip '^TestColdCPUShare$$'")

# Every test: the plain tier (the product module, nothing but Go), then the
# integration tier (the tests module: moto, aws-lambda-rie, cfn-lint, the
# SAM translator), each benchmark once, and each fuzz target briefly.
test: pytools tools vet
	@[ -z "$(CPUSHARE_SKIP)" ] || echo "make test: TestColdCPUShare left out: it needs root and a writable /sys/fs/cgroup/cpu (cgroup v1); make bench runs it"
	$(GO) test -race -count=1 -timeout 10m ./...
	cd tests && PATH="$(PYTOOLS_PATH)$$PATH" AWS_LAMBDA_RIE=$(RIE) $(GO) test -race -count=1 -timeout 20m $(CPUSHARE_SKIP) ./...
	cd tests && PATH="$(PYTOOLS_PATH)$$PATH" AWS_LAMBDA_RIE=$(RIE) $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_TEST)

vet: tools
	$(GO) vet ./...
	cd tests && $(GO) vet ./...
	$(STATICCHECK) ./...
	cd tests && $(STATICCHECK) ./...
	@# The pinned actionlint alone (no shellcheck or pyflakes found on PATH),
	@# so the verdict is the same on every machine.
	$(ACTIONLINT) -shellcheck= -pyflakes= .github/workflows/*.yml
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Builds the pinned Go tools into $(BIN). Each goes to a temporary name
# first, so a make test beside this one never runs a half-written file.
tools: $(RIE) $(STATICCHECK) $(ACTIONLINT)

$(BIN)/%: tests/go.mod tests/go.sum
	@mkdir -p $(BIN)
	cd tests && $(GO) build -o $@.tmp.$$$$ $$($(GO) list -f '{{.ImportPath}}' tool | grep '/$*$$') && mv -f $@.tmp.$$$$ $@

# The Python tools the integration tests run (moto_server, cfn-lint, ...):
# those on PATH if new enough, else the pins installed once into the cache.
# `tests/pytools/pytools.sh --plan` shows what it finds. PYTOOLS_PATH is
# the venv's bin directory and a colon, or empty.
pytools:
	@PYTOOLS_VENV=$(CACHE)/venv tests/pytools/pytools.sh >/dev/null
PYTOOLS_PATH = $(addsuffix :,$(shell PYTOOLS_VENV=$(CACHE)/venv tests/pytools/pytools.sh))

# Fuzz targets as package:Target. `make test` runs each for FUZZTIME_TEST;
# `make fuzz` for FUZZTIME (e.g. `make fuzz FUZZTIME=30m`). A failure
# leaves its input in the package's testdata/fuzz/<Target>/. Minimising
# each new input is capped at 200 runs, so a short run fuzzes rather than
# spends its time minimising.
FUZZ_TARGETS := ./internal/authcode:FuzzHandle ./internal/identity:FuzzVerify
FUZZTIME ?= 2m
FUZZTIME_TEST ?= 10s

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz: $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 200x $${t%%:*}; \
	done

# The performance figures against their floors, measured side by side and
# written to tests/bench/results.md (loopback only), then the cold start at
# Lambda's CPU share with TLS (needs root for the cgroup-v1 CPU quota).
# CPUSHARE_ARGS='-cpushare-baseline <bootstrap>' adds an earlier build.
bench: pytools tools
	cd tests && PATH="$(PYTOOLS_PATH)$$PATH" AWS_LAMBDA_RIE=$(RIE) $(GO) test -count=1 -run '^TestReport$$' -timeout 15m ./bench -args -report $(CURDIR)/tests/bench/results.md
	cd tests && PATH="$(PYTOOLS_PATH)$$PATH" AWS_LAMBDA_RIE=$(RIE) $(GO) test -count=1 -run '^TestColdCPUShare$$' -timeout 20m ./bench -args -report $(CURDIR)/tests/bench/results.md $(CPUSHARE_ARGS)
	@cat tests/bench/results.md

# Called by `sam build` (BuildMethod: makefile) with ARTIFACTS_DIR set.
build-AuthCodeFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/authcode

# The deployment's pre-traffic check (CodeDeploy hook), its own artifact.
build-PreTrafficCheckFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/pretraffic

# A linux/arm64 build into $(CACHE)/dist, as sam build would make it.
build:
	$(MAKE) build-AuthCodeFunction ARTIFACTS_DIR=$(CACHE)/dist

clean:
	rm -rf $(CACHE)/dist

# Size of the deployment artifact, built as sam build does, and zipped.
size:
	cd tests && $(GO) test -count=1 -run '^TestBuildTarget$$' -v ./deployment | grep 'bootstrap:'

# Checks a deployed stack with your AWS credentials and says what to fix:
#   export AUTHCODE_TOKEN=<a user's JWT>   # optional: the token checks
#   make doctor STACK=sentiance-auth-code [CALL=1] [REGION=eu-west-1]
# The token comes only from the environment: on make's command line (or the
# doctor's) anyone on the machine could read it in the process list.
doctor:
	@if [ -z "$(STACK)" ]; then echo "usage: [AUTHCODE_TOKEN=...] make doctor STACK=<stack name> [CALL=1] [REGION=...]" >&2; exit 2; fi
	@$(GO) build -o $(BIN)/doctor ./devtools/cmd/doctor
	@$(BIN)/doctor -stack '$(STACK)' $(if $(CALL),-call) $(if $(REGION),-region '$(REGION)')
