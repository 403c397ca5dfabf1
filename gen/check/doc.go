// Package check parses lighthouse-gen's artifacts back with the parsers their
// consumers use (BuildKit for the Dockerfile, mvdan.cc/sh and shellcheck for the
// start script, compose-go for compose.yaml, strict k8s.io/api decoding for
// kubernetes.yaml) and holds them against each other.
//
// The compiler's own model is deliberately not consulted: the seed's failures
// were disagreements between artifacts as written, so agreement is proven on
// the bytes a consumer will read. Every violation is a Finding that points at a
// file and line, printed as "file:line: rule: message".
package check
