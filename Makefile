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

.PHONY: all run test bench fuzz tools vet build size clean build-AuthCodeFunction

all: vet test

# Installs the pinned Lambda runtime interface emulator into .bin/ (tests use it).
tools: $(RIE)

$(RIE):
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

run:
	$(GO) run ./functions/authcode

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Fuzz targets as package:Target. `make test` runs each for FUZZTIME_TEST after
# the tests; `make fuzz` for FUZZTIME (e.g. `make fuzz FUZZTIME=30m`). A
# failure leaves its input in the package's testdata/fuzz/<Target>/.
FUZZ_TARGETS := ./internal/apigw:FuzzHandle ./internal/identity:FuzzVerify ./internal/identity:FuzzNoDuplicateKeys
FUZZTIME ?= 2m
FUZZTIME_TEST ?= 10s

test: tools vet
	AWS_LAMBDA_RIE=$(RIE) $(GO) test -race -count=1 -timeout 8m ./...
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_TEST)

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz: $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) $${t%%:*}; \
	done

# The performance figures (issue 7) against their floors, measured side by
# side and written to bench/results.md (about two minutes, loopback only).
bench: tools
	AWS_LAMBDA_RIE=$(RIE) $(GO) test -count=1 -run '^TestReport$$' -timeout 15m ./internal/benchmarks -args -report $(CURDIR)/bench/results.md
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
	$(GO) test -count=1 -run '^TestBuildTarget$$' -v ./internal/deployment | grep 'bootstrap:'

# Checks a deployed stack with your AWS credentials and says what to fix:
#   make doctor STACK=sentiance-auth-code [TOKEN=<a user's JWT>] [CALL=1] [REGION=eu-west-1]
# TOKEN reaches the doctor through the environment (AUTHCODE_TOKEN), never
# its command line; an exported AUTHCODE_TOKEN works too.
.PHONY: doctor
doctor:
	@if [ -z "$(STACK)" ]; then echo "usage: make doctor STACK=<stack name> [TOKEN=...] [CALL=1] [REGION=...]" >&2; exit 2; fi
	@AUTHCODE_TOKEN="$${TOKEN:-$${AUTHCODE_TOKEN:-}}" $(GO) run ./functions/doctor -stack '$(STACK)' $(if $(CALL),-call) $(if $(REGION),-region '$(REGION)')
