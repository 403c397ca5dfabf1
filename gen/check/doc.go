// Package check parses lighthouse-gen's artifacts back with the parsers their
// consumers use (BuildKit for the Dockerfile, mvdan.cc/sh and shellcheck for the
// start script, compose-go for compose.yaml, strict k8s.io/api decoding for
// kubernetes.yaml) into one model per artifact, and holds them against each
// other.
//
// The model of an artifact has two views of the same parse. Tree is
// everything the artifact says, normalized the way its consumer reads it
// (formatting, comments, key order, quoting, equal spellings and defaults
// gone), so two artifacts mean the same thing exactly when their trees are
// equal: gen/audit compares a hand-written artifact with the one the spec
// gives this way, default-deny. Facts are what it says about the service,
// field by field (Fields): the process, user, ports, health, variables,
// privileges, volumes, workload. Each source has one extractor (the four
// artifacts here, the spec in gen/audit, the running container in
// gen/live) and every field one comparison (CompareField), so check holds
// the artifacts' facts to each other, a build holds them to the spec's, and
// verify --live holds the container's to the spec's, all alike.
//
// The compiler's own model is deliberately not consulted here: the seed's
// failures were disagreements between artifacts as written, so agreement is
// proven on the bytes a consumer will read. Every violation is a Finding that
// points at a file and line, printed as "file:line: rule: message".
package check
