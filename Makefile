# Build, run and test the Sentiance auth-code backend.
# `make run` and `make test` are the two commands a newcomer needs.

SHELL := /bin/bash
GO ?= go
# Pinned so every machine and CI run the same emulator.
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
TOOLS_BIN := $(CURDIR)/.bin
RIE := $(TOOLS_BIN)/aws-lambda-rie

# Lambda build flags: static, no RPC shim (provided.al2023 does not need it), small.
LAMBDA_GOFLAGS := -trimpath -tags lambda.norpc -ldflags "-s -w"
# The integration tier: tests that run moto_server, the bootstrap under
# aws-lambda-rie, cfn-lint, the SAM translator and local-mode processes.
# Plain `go test ./...` leaves them out and needs nothing but Go.
INTEGRATION := -tags integration

.PHONY: all run test bench fuzz tools pytools vet build size clean build-AuthCodeFunction

all: vet test

# Installs the pinned Lambda runtime interface emulator into .bin/ (tests use it).
tools: $(RIE)

$(RIE):
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

# The Python tools the integration tests run (moto_server, cfn-lint, ...):
# those on PATH if new enough, else the pins installed once into .venv-tools/.
# `scripts/pytools.sh --plan` shows what it finds. PYTOOLS_PATH is the venv's
# bin directory and a colon, or empty; expanded after `pytools` has run.
pytools:
	@scripts/pytools.sh >/dev/null
PYTOOLS_PATH = $(addsuffix :,$(shell scripts/pytools.sh))

# Local mode: the built binary, not `go run`, so a bad setting is the
# server's one line (and make's own Error line) and Ctrl-C ends it cleanly.
# It is never deployed (functions/local).
run:
	@$(GO) build -o $(TOOLS_BIN)/authcode-local ./functions/local
	@exec $(TOOLS_BIN)/authcode-local

vet:
	$(GO) vet ./...
	$(GO) vet $(INTEGRATION) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Fuzz targets as package:Target. `make test` runs each for FUZZTIME_TEST after
# the tests; `make fuzz` for FUZZTIME (e.g. `make fuzz FUZZTIME=30m`). A
# failure leaves its input in the package's testdata/fuzz/<Target>/.
# Minimising each new input is capped at 200 runs, so a short run fuzzes
# rather than spends its time minimising (it stalled FuzzVerify at 10 s).
FUZZ_TARGETS := ./internal/apigw:FuzzHandle ./internal/identity:FuzzVerify
FUZZTIME ?= 2m
FUZZTIME_TEST ?= 10s

# The CPU-share benchmark's smoke run needs root and a writable cgroup-v1
# CPU controller (these machines and CI have both). Elsewhere make test says
# so in one line and leaves it out; make bench on such a machine runs it.
CPUSHARE_SKIP := $(shell [ -w /sys/fs/cgroup/cpu ] || echo "-skip '^TestColdCPUShare$$'")

test: pytools tools vet
	@[ -z "$(CPUSHARE_SKIP)" ] || echo "make test: TestColdCPUShare left out: it needs root and a writable /sys/fs/cgroup/cpu (cgroup v1); make bench runs it"
	PATH="$(PYTOOLS_PATH)$$PATH" AWS_LAMBDA_RIE=$(RIE) $(GO) test $(INTEGRATION) $(CPUSHARE_SKIP) -race -count=1 -timeout 8m ./...
	PATH="$(PYTOOLS_PATH)$$PATH" $(GO) test $(INTEGRATION) -count=1 -run '^$$' -bench . -benchtime 1x ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_TEST)

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz: $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 200x $${t%%:*}; \
	done

# The performance figures (issue 7) against their floors, measured side by
# side and written to bench/results.md (about two minutes, loopback only),
# then the cold start at Lambda's CPU share with TLS (issue 14; needs root
# for the cgroup-v1 CPU quota). CPUSHARE_ARGS='-cpushare-baseline <bootstrap>'
# adds an earlier build beside ours.
bench: pytools tools
	PATH="$(PYTOOLS_PATH)$$PATH" AWS_LAMBDA_RIE=$(RIE) $(GO) test $(INTEGRATION) -count=1 -run '^TestReport$$' -timeout 15m ./internal/benchmarks -args -report $(CURDIR)/bench/results.md
	PATH="$(PYTOOLS_PATH)$$PATH" AWS_LAMBDA_RIE=$(RIE) $(GO) test $(INTEGRATION) -count=1 -run '^TestColdCPUShare$$' -timeout 20m ./internal/benchmarks -args -report $(CURDIR)/bench/results.md $(CPUSHARE_ARGS)
	@cat bench/results.md

# Called by `sam build` (BuildMethod: makefile) with ARTIFACTS_DIR set.
build-AuthCodeFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/authcode

# A local linux/arm64 build into dist/, as sam build would make it.
build:
	$(MAKE) build-AuthCodeFunction ARTIFACTS_DIR=$(CURDIR)/dist

clean:
	rm -rf dist

# Size of the deployment artifact, built as sam build does, and zipped.
size:
	$(GO) test $(INTEGRATION) -count=1 -run '^TestBuildTarget$$' -v ./internal/deployment | grep 'bootstrap:'

# Checks a deployed stack with your AWS credentials and says what to fix:
#   export AUTHCODE_TOKEN=<a user's JWT>   # optional: the token checks
#   make doctor STACK=sentiance-auth-code [CALL=1] [REGION=eu-west-1]
# The token comes only from the environment: on make's command line (or the
# doctor's) anyone on the machine could read it in the process list. Built, then run
# (not go run), so its exit code and output are its own.
.PHONY: doctor
doctor:
	@if [ -z "$(STACK)" ]; then echo "usage: [AUTHCODE_TOKEN=...] make doctor STACK=<stack name> [CALL=1] [REGION=...]" >&2; exit 2; fi
	@$(GO) build -o $(TOOLS_BIN)/doctor ./functions/doctor
	@$(TOOLS_BIN)/doctor -stack '$(STACK)' $(if $(CALL),-call) $(if $(REGION),-region '$(REGION)')
