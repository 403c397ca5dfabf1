# The README starts with `make build` and `make test`; .ci/run runs `make test`.
GO ?= go
BIN := bin

# deps installs the system packages the tests use when they are missing
# (.ci/deps: apt-get as root; elsewhere it names them).
deps:
	@.ci/deps

.PHONY: deps build test bench bench-gen bench-bridge binaries cue-vet pins kubevalidate e2e

# binaries builds every command into ./bin.
binaries:
	$(GO) build -o $(BIN)/ ./cmd/lighthouse-gen ./cmd/lighthouse-bridge ./cmd/lighthouse-mcp

# build regenerates deploy/ from the spec embedded in lighthouse-gen.
build: binaries
	$(BIN)/lighthouse-gen build

# cue-vet runs the CUE that the compiler links (go.mod's tool directive)
# on the schema and, with concreteness, on the bridge's spec.
cue-vet:
	cd cue && $(GO) tool cue vet ./schema && $(GO) tool cue vet -c ./bridge

# kubevalidate runs the v1.37 API server's create-time validation (the
# nested module gen/kubevalidate: registry strategies and rest.BeforeCreate)
# on every generated kubernetes.yaml. Its cold build takes minutes; the Go
# build cache makes later runs quick.
KUBE_MANIFESTS := deploy/kubernetes.yaml $(wildcard golden/*/out/kubernetes.yaml)
kubevalidate:
	$(GO) -C gen/kubevalidate vet ./...
	$(GO) -C gen/kubevalidate test ./...
	$(GO) -C gen/kubevalidate run . $(abspath $(KUBE_MANIFESTS))

# pins fails when a dependency drifts from the versions this project pins
# (.ci/pins.txt); `go mod tidy` after a merge can silently move them.
pins:
	$(GO) list -m $$(cut -d' ' -f1 .ci/pins.txt) | diff -u .ci/pins.txt -

test: deps pins binaries cue-vet kubevalidate
	$(GO) vet ./...
	$(GO) test ./...
	$(BIN)/lighthouse-gen build --check
	$(BIN)/lighthouse-gen audit deploy

# bench runs every benchmark; BENCHMARKS.md records the figures.
bench: bench-gen bench-bridge

# bench-gen compares the whole-process lighthouse-gen build with cue export
# of the same spec, and measures growth over 1, 50 and 200 services; then
# lighthouse-gen vet of a spec with 10,000, 40,000 and 85,000 labels
# against cue vet (and cue export) of the same package, in the same run
# (minutes: CUE's time grows faster than the spec).
bench-gen:
	$(GO) test -run '^$$' -bench 'ProcessBridge|GenerateBridge|ChecksBridge|Services' -benchmem -count 5 ./gen/build/
	$(GO) test -run '^$$' -bench LargeSpec -benchtime 1x -count 1 -timeout 60m ./gen/build/

# bench-bridge measures durable appends over HTTP against raw bbolt and the
# HTTP floor, appends with 500 event streams open against none, reads,
# stat, readdir and ls -l through the FUSE view against plain files (needs
# root and /dev/fuse), 1 GiB of shadow history in a bridge process inside
# a 1 GiB memory cgroup (RSS, restart, snapshot size), restart on a
# 1,000,000-event log with and without a snapshot, the append stall a
# snapshot causes, and coordination's delegate+complete against two raw
# appends (issue #11: streams, shadow history, the view).
bench-bridge:
	$(GO) test -run '^$$' -bench 'Append(HTTP|Store)$$|RawBolt|HTTPFloor' -benchtime 20000x -count 3 ./bridge/server
	$(GO) test -run '^$$' -bench AppendWithStreams -benchtime 5000x -count 3 ./bridge/server
	$(GO) test -run '^$$' -bench . -count 1 ./bridge/fusefs
	$(GO) test -run '^$$' -bench ShadowHistory1GiB -benchtime 1x -timeout 30m ./bridge/server
	$(GO) test -run '^$$' -bench Restart1M -benchtime 1x -benchmem ./bridge/server
	$(GO) test -run '^$$' -bench SnapshotStall -benchtime 30000x ./bridge/server
	$(GO) test -run '^$$' -bench . -benchtime 2000x -count 3 ./bridge/coord

# e2e builds and runs the generated container (needs a Docker engine,
# docker compose or docker-compose, busybox-static): verify --live on the
# bridge's spec, then the deliberately broken artifacts, each of which
# must fail at the step that catches it. Both leave nothing behind.
e2e: deps binaries
	$(BIN)/lighthouse-gen verify --live --report $(BIN)/live-report.json
	LIGHTHOUSE_E2E=1 $(GO) test -count=1 -timeout 15m -run '^TestLive' -v ./gen/live/
