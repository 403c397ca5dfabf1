// Package shadow is the projection of shadow files: the state of every
// project file that builders record with PUT/DELETE /shadow/{path}, rebuilt
// from file_modified and file_deleted events.
//
// It keeps every version, so the project can be seen exactly as of any
// sequence (GET /shadow/{path}?at=SEQ and the FUSE view's history/), while
// memory stays proportional to the number of changes, never to the size
// of the files: each path has a list of versions searched by sequence,
// each directory a list of "live entry count" changes, and each version
// refers to its content by SHA-256 and size only. The contents themselves
// are blobs of the event store (store.Blob), written in the same
// transaction as the file_modified event that first carries them,
// deduplicated, and read back on demand (File.ReadAt) by the HTTP routes
// and the FUSE view.
//
// Retention: every version stays readable as long as the log holds its
// event, that is for ever; deleting a file or overwriting it frees
// nothing. The total of distinct contents is bounded instead
// (LIGHTHOUSE_SHADOW_MAX_TOTAL_BYTES: a PUT of new content beyond it is
// refused with 507, content already stored is still accepted).
//
// Logs written before contents moved to blobs carry each content inline in
// its event; Apply still reads them and MigrateInline moves their contents
// into blobs once, after the replay.
//
// Readers (HTTP handlers, the FUSE view) run concurrently with Apply. The
// projection serialises itself for snapshots (MarshalSnapshot,
// RestoreSnapshot) without any content, so a restart replays only the tail
// of the log and a snapshot's size does not depend on the files' sizes.
package shadow
