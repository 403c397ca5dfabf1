// Package fusefs serves the shadow projection as a read-only FUSE file
// system (go-fuse v2), so builders and operators can use ordinary tools —
// ls, cat, grep -r, find — on what the bridge knows:
//
//	current/            the latest content of every shadow file
//	history/<seq>/      the project exactly as of event <seq>
//	events/<seq>.json   one JSON file per recent event
//
// The view reads the projection only, never the HTTP layer. It is read-only
// twice over: mounted with MS_RDONLY, and every mutating operation answers
// EROFS should the mount fall back to fusermount. Immutable parts (history,
// events) are cached by the kernel; current/ is never cached, so a new
// shadow is visible the moment Apply returns.
package fusefs
