# nsagent — see README.md. Every target runs on a fresh Debian 12 machine as
# root; `make deps` installs the system packages the others need.
GO      ?= go
BIN     := bin/nsagent
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)

.PHONY: build deps run test test-unit test-v2 bench lint fixtures clean dashboards dashboards-check deploy-check

# Static, with the launch-only binary embedded: scripts/build.sh says why.
build:
	GO=$(GO) VERSION=$(VERSION) REVISION=$(REVISION) scripts/build.sh $(BIN)

deps:
	scripts/deps.sh

# The main job: install, build, and run the agent on loopback: the web
# view at http://127.0.0.1:19100/ and metrics at /metrics (Ctrl-C stops it).
run: deps build
	$(BIN) serve --web.listen-address=127.0.0.1:19100

# Every test, privileged and real-server ones included (CI runs this).
test: deps build
	scripts/test.sh

# The privileged tests again under a cgroup v2 kernel in qemu (CI runs it
# after `test`); see scripts/v2lane/run.sh for its settings.
test-v2: deps
	GO=$(GO) scripts/v2lane/run.sh

# Unit tests only: fixture trees and parsers, no root, no servers.
test-unit:
	$(GO) test -count=1 -short ./...

# Benchmarks against the reference tools, measured in the same run.
bench: deps build
	scripts/bench.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Regenerate golden files from the fixture trees (review the diff).
fixtures:
	$(GO) test ./... -run 'Golden' -update

# Grafana dashboards: regenerate dashboards/*.json from Go; the check fails
# when the committed JSON is not what the generator writes, then runs the
# schema tests and every query against a live Prometheus (root, docker).
dashboards:
	$(GO) run ./dashboards/gen

dashboards-check: dashboards
	@git diff --exit-code -- dashboards/ && test -z "$$(git status --porcelain -- dashboards/)" || { echo "dashboards/: committed JSON differs from the generator (run make dashboards and commit)"; exit 1; }
	$(GO) test -count=1 ./dashboards/...

# deploy/: manifests, systemd unit, Prometheus and compose configs.
deploy-check:
	$(GO) test -count=1 ./deploy/...

clean:
	rm -rf bin cmd/nsagent/nsagent-launch.gz
