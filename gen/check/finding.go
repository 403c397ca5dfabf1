package check

import (
	"cmp"
	"fmt"
	"slices"
)

// Rule names used in findings. They are stable: audits, goldens and CI grep for them.
const (
	RuleParse      = "parse"
	RuleHeader     = "header"
	RuleDockerLint = "dockerfile-lint"
	RuleShellcheck = "shellcheck"
	RuleProcess    = "process"
	RuleUser       = "user"
	RulePorts      = "ports"
	RuleHealth     = "health"
	RulePrivileges = "privileges"
	RuleEnv        = "env"
	RuleSecrets    = "secrets"
	RuleVolumes    = "volumes"
	RuleSelectors  = "selectors"
	RuleWorkload   = "workload" // image, replicas, stop grace period, restart policy, resources
	// RuleWidens and RuleDiffers name an audit's differences from the
	// artifact the spec gives: one that widens privileges, and any other.
	RuleWidens  = "widens"
	RuleDiffers = "differs"
)

// Finding is one violation, located at the line a reader should open first.
// When a rule compares two artifacts, Message names the other file and line too,
// so the finding can be acted on without re-running anything.
type Finding struct {
	File    string
	Line    int
	Rule    string
	Message string
	// Kind tells findings of one rule apart for programs (tests, tools),
	// whatever the message says; it is not printed. Most have none.
	Kind string
}

// Kinds of findings (Finding.Kind).
const (
	// KindReadOnlyRoot: a path the service writes (an absolute value of
	// a variable, a directory the start script creates) lies on a
	// read-only root with no volume, tmpfs or FUSE mount over it. It is
	// about what a value means, not about how the artifacts agree.
	KindReadOnlyRoot = "read-only-root"
)

// String formats the finding the way compilers do, so editors can jump to it.
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", f.File, f.Line, f.Rule, f.Message)
}

// SortFindings orders findings that widen privileges first, then by file,
// line, rule and message, and drops exact duplicates (two rules can see
// one disagreement from both sides), which keeps printed output and
// goldens deterministic.
func SortFindings(fs []Finding) []Finding {
	widens := func(f Finding) int {
		if f.Rule == RuleWidens {
			return 0
		}
		return 1
	}
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(widens(a), widens(b)), cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Message, b.Message))
	})
	return slices.Compact(fs)
}

// at formats a location for use inside a message ("compose.yaml:12").
func at(file string, line int) string {
	return fmt.Sprintf("%s:%d", file, line)
}
