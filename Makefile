# Targets are filled in as the products land; see README.md.
GO ?= go

.PHONY: test
test:
	$(GO) vet ./...
	$(GO) test ./...
