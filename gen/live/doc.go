// Package live runs what lighthouse-gen generated and proves, from outside
// and inside the container, that it is the service the spec describes. The
// seed's worst failure was a container that started fine and served the
// wrong thing; static checks cannot see that, so this package builds the
// image from the generated Dockerfile, starts it with the generated compose
// file and asserts on the running process, its privileges, sockets,
// environment and API, then stops, restarts and removes everything it made.
// What a step reads from the container (PID 1's command line, ids and
// capabilities, listening ports, environment) is held to the spec's facts
// (gen/audit.SpecFacts) with the same comparison every build holds the
// artifacts to (gen/check.CompareFacts).
//
// The parsers of /proc files (proc.go) are pure and unit-tested; the steps
// that need Docker run in `make e2e`.
package live
