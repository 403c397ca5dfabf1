// Package shadow is the projection of shadow files: the state of every
// project file that builders record with PUT/DELETE /shadow/{path}, rebuilt
// from file_modified and file_deleted events.
//
// It keeps every version, so the project can be seen exactly as of any
// sequence (GET /shadow/{path}?at=SEQ and the FUSE view's history/), while
// memory stays proportional to the number of changes: each path has a list
// of versions searched by sequence, each directory a list of "live entry
// count" changes, and identical contents are stored once, keyed by SHA-256.
//
// Readers (HTTP handlers, the FUSE view) run concurrently with Apply. The
// projection serialises itself for snapshots (MarshalSnapshot,
// RestoreSnapshot), so a restart replays only the tail of the log.
package shadow
