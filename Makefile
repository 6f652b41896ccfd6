SHELL := /bin/bash
.DEFAULT_GOAL := build

# GOFLAGS from the environment still apply; tests always run fresh.
GO ?= go

.PHONY: build test vet vet-deploy fmt-check image bench bench-full bench-tls bench-bypass bench-core bench-residence bench-sim pgo fuzz rewrite sim-long run demo demo-stop bin/nexusd bin/nexusd-bypass

# build compiles every package and command.
build:
	$(GO) build ./...

# -buildvcs=auto: --version names the commit wherever git is at hand.
bin/nexusd:
	$(GO) build -buildvcs=auto -o bin/nexusd ./cmd/nexusd

# run starts one daemon for a local try-out: discovery over loopback
# multicast (--mcast-iface lo), so daemons on this machine find each other
# and nothing leaves it (the mesh listens on 127.0.0.1 only). Status page: http://127.0.0.1:8080/. Extra flags:
# make run ARGS='--cluster mine --log-level debug'.
run: bin/nexusd
	./bin/nexusd --mcast-iface lo --bind 127.0.0.1 $(ARGS)

# demo starts a three-node cluster on this machine in the background (logs
# in .run/demo/); demo-stop ends it.
demo: bin/nexusd
	@scripts/demo-start.sh

demo-stop:
	@scripts/demo-stop.sh

# test is what CI runs (.ci/run): formatting, vet, then every test with the
# race detector, the end-to-end suite a second time on the v1 wire
# (daemons push with --mesh-packed=false, the client library keeps to the
# v1 calls; without the race detector, which the first pass already had), and the Python client's tests against real daemons. It must
# stay under 10 minutes on 2 cores. deploy/ is a
# module of its own (Helm and the Kubernetes types stay out of the
# daemon's): its tests lint and render the chart, check the manifests, and
# (as root, with podman and runc) build the image and run it.
# -pgo=off: the daemon's tests need not be built with its profile
# (cmd/nexusd/default.pgo), which would compile every dependency again.
test: fmt-check vet
	$(GO) test -race -count=1 -pgo=off ./...
	NEXUSD_E2E_WIRE=v1 $(GO) test -count=1 ./e2e
	$(GO) test -count=1 -tags nexusd_bypass -run Bypass ./internal/packed
	$(MAKE) --no-print-directory test-python
	cd deploy && $(GO) test -count=1 ./...
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...

vet:
	$(GO) vet ./...
	$(GO) vet -tags nexusd_bypass ./netshell ./internal/packed

# vet-deploy vets deploy/'s module; not part of test, whose go test runs
# vet's main checks there anyway (a cold vet of Helm's tree takes minutes).
vet-deploy:
	cd deploy && $(GO) vet ./...

# image builds the container image FROM scratch with podman (vfs storage):
# Go builds static nexusd and nexusd-cli here, then podman copies them in
# (Containerfile, deploy/image/build.sh). Nothing is pulled or pushed.
# make image IMAGE=registry.example.com/nexusd:v1 VERSION=v1
IMAGE ?= localhost/nexusd:latest
image:
	IMAGE='$(IMAGE)' VERSION='$(VERSION)' GO='$(GO)' $(if $(PODMAN_FLAGS),PODMAN_FLAGS='$(PODMAN_FLAGS)') deploy/image/build.sh

# fmt-check fails listing any Go file gofmt would change (generated code aside).
fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# bench runs nexusd side by side with NATS and a raw gRPC relay (bench/,
# its own module) and writes BENCHMARKS.md's table and bench/results.json:
# a quick pass, under 5 minutes on 2 cores. bench-full runs every scenario
# for longer, plus the core and simulator benchmarks.
bench: bin/nexusd
	cd bench && $(GO) run . --nexusd ../bin/nexusd --json results.json --markdown ../BENCHMARKS.md

bench-full: bin/nexusd bench-core bench-sim
	cd bench && $(GO) run . --full --runs 5 --nexusd ../bin/nexusd --json results.json --markdown ../BENCHMARKS.md

# bench-tls: the cross-node case with a cluster key (mutual TLS on the
# mesh) and without, taking turns in one run, 5 runs of 5 s each; prints
# the ratio and writes neither results.json nor BENCHMARKS.md. About 1 min.
bench-tls: bin/nexusd
	cd bench && $(GO) run . --full --only '^cross-node$$' --systems nexusd,nexusd-tls --runs 5 --nexusd ../bin/nexusd --json '' --markdown ''

# bench-bypass: what the daemon's I/O path alone allows. local-1to1-packed
# with the daemon, with bin/nexusd-bypass (a build whose sidecar hands each
# published frame to the subscriber as it came, past the node:
# netshell/bypass.go; never a daemon to run), with that build passing each
# frame through one goroutine more, as the daemon's loop would (nexusd-
# bypass-hop), and with NATS, taking turns, 5 runs of 5 s each; prints the
# ratios, writes nothing. About 2 min.
bench-bypass: bin/nexusd bin/nexusd-bypass
	cd bench && $(GO) run . --full --only '^local-1to1-packed$$' --systems nexusd,nexusd-bypass,nexusd-bypass-hop,nats --runs 5 --nexusd ../bin/nexusd --json '' --markdown ''

bin/nexusd-bypass:
	$(GO) build -tags nexusd_bypass -o bin/nexusd-bypass ./cmd/nexusd

# bench-residence: where a message's time goes inside the daemon at 10k
# msg/s on the packed path, from an execution trace of the daemon under
# latency-10k-packed (scripts/residence.sh). About 15 s; writes nothing.
bench-residence: bin/nexusd
	GO='$(GO)' scripts/residence.sh

# bench-core: the protocol core's publish path (go test -bench).
bench-core:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./state/

# pgo regenerates cmd/nexusd/default.pgo, the CPU profile go build uses to
# optimise the daemon (profile-guided optimisation), from daemons under
# the benchmark harness's busiest scenarios; see scripts/pgo.sh and
# BENCHMARKS.md. About 2 minutes. Rebuild bin/nexusd afterwards.
pgo: bin/nexusd
	GO='$(GO)' scripts/pgo.sh

# bench-sim: 60 s of virtual time with beacons, for growing meshes: with
# no faults (wall time, convergence after a subscription change), then
# with one partition in two that the heal ends (convergence after it).
bench-sim:
	@$(GO) build -o bin/nexusd-sim ./cmd/nexusd-sim
	@for f in none partitions=1; do for n in 10 100 500 1000; do \
	  ./bin/nexusd-sim swarm --nodes $$n --seed 1 --duration 60s --faults $$f --json | \
	    $(GO) run ./scripts/simrow; \
	done; done

# fuzz runs every fuzz target of every package that has one (found by
# their source) for FUZZTIME each (default 30s); what they find
# interesting lands in the Go cache; crashers land in the package's
# testdata/fuzz.
FUZZTIME ?= 30s
fuzz:
	@for p in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for t in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    echo "== $$p $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
	  done; \
	done

# rewrite regenerates the scenario files' expected output; read the diff
# before committing it.
rewrite:
	$(GO) test ./scenarios -rewrite
	@git --no-pager diff --stat -- scenarios/testdata

# sim-long: 1000-node meshes with default and heavy faults over SEEDS
# seeds, then 200-node meshes with heavy faults over five times as many,
# all with four queue groups, then 10-node meshes at 2000 publishes a
# second (holes, resends and clock jumps under load) with heavy faults and
# two groups over seven times as many, and 5-node meshes at 5000 a second
# on one topic (bursts into members' queues, backlogs shed) over three
# times as many, and 3-node meshes at 6000 a second on two topics (rings
# turning over faster than partitions heal) over SEEDS; every run must
# report no silent,
# needless or phantom loss, no duplicate, nothing out of order, no broken
# invariant, every group message to exactly one member (or accounted for)
# and the same retained values everywhere after healing. Stops at the
# first failure and prints the command that replays it. About an hour
# on 2 cores (a 1000-node run takes 1 to 2 minutes, a 200-node one a few
# seconds, a 10-node one at 2000/s about 7, a 5-node one at 5000/s about
# 10, a 3-node one at 6000/s 20 to 45).
SEEDS ?= 10
sim-long:
	@$(GO) build -o bin/nexusd-sim ./cmd/nexusd-sim
	@for s in $$(seq 1 $(SEEDS)); do for f in default heavy; do \
	  ./bin/nexusd-sim swarm --nodes 1000 --seed $$s --duration 30s --faults $$f --groups 4 | grep -E '^(violations|result)' | sed "s/^/1000 nodes $$f seed $$s: /"; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done; done
	@for s in $$(seq 1 $$((5 * $(SEEDS)))); do \
	  ./bin/nexusd-sim swarm --nodes 200 --seed $$s --duration 20s --faults heavy --groups 4 >/dev/null || exit 1; \
	done
	@for s in $$(seq 1 $$((7 * $(SEEDS)))); do \
	  ./bin/nexusd-sim swarm --nodes 10 --seed $$s --duration 10s --faults heavy --rate 2000 --topics 4 --groups 2 >/dev/null || exit 1; \
	done
	@for s in $$(seq 1 $$((3 * $(SEEDS)))); do \
	  ./bin/nexusd-sim swarm --nodes 5 --seed $$s --duration 10s --faults heavy --rate 5000 --topics 1 --groups 2 >/dev/null || exit 1; \
	done
	@for s in $$(seq 1 $(SEEDS)); do \
	  ./bin/nexusd-sim swarm --nodes 3 --seed $$s --duration 20s --faults heavy --rate 6000 --topics 2 --groups 1 >/dev/null || exit 1; \
	done; echo "sim-long: 1000 nodes x $(SEEDS) seeds (default and heavy faults), 200 nodes x $$((5 * $(SEEDS))) seeds (heavy), 10 nodes at 2000/s x $$((7 * $(SEEDS))) seeds, 5 nodes at 5000/s x $$((3 * $(SEEDS))) seeds and 3 nodes at 6000/s x $(SEEDS) seeds (heavy) passed"

# Code generation tools, pinned. They come from the Go module proxy through
# `go run module@version`, so Go is the only thing a machine needs. The three plugin
# versions are also written in proto/buf.gen.yaml; `make proto` refuses to run if
# they disagree. The vtprotobuf plugin's generated code (*_vtproto.pb.go) needs
# github.com/planetscale/vtprotobuf at run time: go.mod keeps the version that
# gRPC itself requires, which is at least the plugin's.
BUF_VERSION                   := v1.75.0
PROTOC_GEN_GO_VERSION         := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION    := v1.6.2
PROTOC_GEN_GO_VTPROTO_VERSION := v0.6.0

BUF := go run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

# Folders under proto/ that hold generated Go code, one per .proto file
# (meshpb and sidecarpb also hold the vtprotobuf methods).
PROTO_GO_DIRS := discoverypb meshpb sidecarpb

.PHONY: proto proto-check proto-versions

# proto regenerates the Go code under proto/ from the .proto files. It generates
# into a temporary directory first, so a failed run leaves the committed code alone.
proto: proto-versions
	@set -euo pipefail; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd proto && $(BUF) generate -o "$$tmp"); \
	for d in $(PROTO_GO_DIRS); do rm -rf "proto/$$d"; done; \
	cp -R "$$tmp/." proto/; \
	echo "proto: regenerated $(addprefix proto/,$(PROTO_GO_DIRS))"

# proto-check fails if the committed generated code differs from what the .proto
# files and pinned tools produce now. Not part of `test`: it needs the module proxy
# the first time.
proto-check: proto-versions
	@set -euo pipefail; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	mkdir "$$tmp/committed" "$$tmp/fresh"; \
	for d in $(PROTO_GO_DIRS); do \
	  if [ -d "proto/$$d" ]; then cp -R "proto/$$d" "$$tmp/committed/"; fi; \
	done; \
	(cd proto && $(BUF) generate -o "$$tmp/fresh"); \
	if (cd "$$tmp" && diff -r -q committed fresh >/dev/null); then \
	  echo "proto-check: generated code in proto/ is up to date"; exit 0; \
	fi; \
	echo "proto-check: the generated Go code in proto/ is stale. Run 'make proto' and commit the result."; \
	echo "Stale files:"; \
	(cd "$$tmp" && diff -r -q committed fresh || true) | sed -E \
	  -e 's|^Files committed/(.*) and fresh/.* differ$$|  proto/\1 (out of date)|' \
	  -e 's|^Only in committed/?(.*): (.*)$$|  proto/\1/\2 (not produced by generation)|' \
	  -e 's|^Only in fresh/?(.*): (.*)$$|  proto/\1/\2 (missing)|' \
	  -e 's|proto//|proto/|'; \
	echo "Difference (committed -> regenerated), first 40 lines:"; \
	(cd "$$tmp" && diff -r -u committed fresh || true) | head -n 40; \
	exit 1

# proto-versions checks that proto/buf.gen.yaml pins the plugin versions above.
proto-versions:
	@grep -qF 'protoc-gen-go@$(PROTOC_GEN_GO_VERSION)"' proto/buf.gen.yaml && \
	grep -qF 'protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)"' proto/buf.gen.yaml && \
	grep -qF 'protoc-gen-go-vtproto@$(PROTOC_GEN_GO_VTPROTO_VERSION)"' proto/buf.gen.yaml || { \
	  echo "proto/buf.gen.yaml must run protoc-gen-go@$(PROTOC_GEN_GO_VERSION), protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION) and protoc-gen-go-vtproto@$(PROTOC_GEN_GO_VTPROTO_VERSION), as the Makefile says; change them together."; \
	  exit 1; }

# Python client (clients/python/). python-proto regenerates its gRPC stubs
# (clients/python/nexusd/_pb/) from proto/sidecar.proto with grpc_tools
# (Debian: python3-grpc-tools). test-python runs its pytest suite against
# real daemons: as root, inside a private network namespace (unshare -n)
# whose loopback carries the daemons' multicast, so nothing leaves the
# namespace; otherwise it says it skipped. The daemon is NEXUSD_BIN, or
# built here first (outside the namespace, which has no network for Go).
# More pytest flags: make test-python PYTEST_ARGS='-k restart -x'.
PYTHON ?= /usr/bin/python3

.PHONY: python-proto test-python

python-proto:
	@PYTHON='$(PYTHON)' clients/python/scripts/gen_proto.sh

test-python:
	@set -euo pipefail; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "test-python: SKIPPED: the Python client's tests run daemons in a private network namespace (unshare -n), which needs root; run make test-python as root"; \
	  exit 0; \
	fi; \
	for cmd in unshare ip; do command -v $$cmd >/dev/null || { echo "test-python: $$cmd is missing (apt-get install util-linux iproute2)"; exit 1; }; done; \
	if ! unshare -n true 2>/dev/null; then \
	  echo "test-python: SKIPPED: unshare -n is refused here (no CAP_SYS_ADMIN?); the tests run daemons only in a private network namespace"; \
	  exit 0; \
	fi; \
	if ! '$(PYTHON)' -c 'import grpc, google.protobuf, pytest' 2>/dev/null; then \
	  if [ "$${CI:-}" = true ]; then \
	    echo "test-python: $(PYTHON) lacks grpc, protobuf or pytest (apt-get install python3-grpcio python3-grpc-tools python3-pytest)"; exit 1; \
	  fi; \
	  echo "test-python: SKIPPED: $(PYTHON) lacks grpc, protobuf or pytest; apt-get install python3-grpcio python3-grpc-tools python3-pytest to run the Python client's tests (CI installs them, and fails without them)"; \
	  exit 0; \
	fi; \
	bin="$${NEXUSD_BIN:-}"; \
	if [ -z "$$bin" ]; then \
	  tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; bin="$$tmp/nexusd"; \
	  $(GO) build -pgo=off -o "$$bin" ./cmd/nexusd; \
	fi; \
	bin=$$(realpath "$$bin"); \
	NEXUSD_BIN="$$bin" NEXUSD_TEST_NETNS=1 PYTHONDONTWRITEBYTECODE=1 PYTEST_ADDOPTS='$(PYTEST_ARGS)' unshare -n -- sh -ec '\
	  ip link set lo up; ip link set lo multicast on; ip route add 224.0.0.0/4 dev lo; \
	  cd clients/python && exec "$$0" -m pytest -q -p no:cacheprovider tests' '$(PYTHON)'
