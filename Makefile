# Targets are filled in as the products land; see README.md.
GO ?= go

.PHONY: test
test:
	$(GO) vet ./...
	$(GO) test ./...

.PHONY: bench-bridge
bench-bridge:
	$(GO) test -run '^$$' -bench . -benchtime 20000x -count 3 ./bridge/server
