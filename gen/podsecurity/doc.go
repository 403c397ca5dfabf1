// Package podsecurity tells which Pod Security Standards level (restricted,
// baseline or privileged) a generated pod needs, and why the stricter levels
// refuse it, so a user learns it from the generator instead of from the
// admission webhook of the namespace they apply to.
//
// The verdict is the upstream policy library's, not a copy of its rules:
// k8s.io/pod-security-admission's policy.NewEvaluator with its default checks,
// evaluated at PolicyVersion (the release matching k8s.io/api in go.mod), and
// the reasons are the library's own forbidden reasons and details, as the
// API server would print them in an admission warning.
//
// Only the policy and api packages of that module are linked: its admission
// package would bring client-go and the metrics stack along. The library runs
// small init functions (one per check, registering a constructor); building
// the checks themselves happens in New, which the commands that say a level
// call, so the others pay only the library's package init.
package podsecurity
