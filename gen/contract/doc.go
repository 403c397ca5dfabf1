// Package contract holds the tests that keep the bridge's spec
// (cue/bridge) and the bridge's code in agreement: the variables the spec
// declares are exactly the ones the code reads, the spec's health paths
// are served, and the entry package builds and has the subcommands the
// artifacts run. The package has no code of its own; it exists so these
// tests can import both the compiler and the bridge.
package contract
