// Package version holds the version both lighthouse binaries report and
// stamp into what they generate. Release builds override Version with
// -ldflags "-X github.com/lighthouse-project/lighthouse/cmd/internal/version.Version=v1.2.3".
package version

import "runtime/debug"

// Version is the release version. It stays "devel" in development builds
// so generated headers do not change with every commit.
var Version = "devel"

// String is the version followed by the Go toolchain that built the binary.
func String() string {
	gov := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		gov = bi.GoVersion
	}
	return Version + " (" + gov + ")"
}
