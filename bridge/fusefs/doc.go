// Package fusefs serves the shadow projection as a read-only FUSE file
// system (go-fuse v2), so builders and operators can use ordinary tools —
// ls, cat, grep -r, find — on what the bridge knows:
//
//	current/            the latest content of every shadow file
//	history/<seq>/      the project exactly as of event <seq>
//	events/<seq>.json   one JSON file per recent event
//
// The view reads the projection only, never the HTTP layer; file contents
// come from the event store's blobs in small reads. It is read-only twice
// over: mounted with MS_RDONLY, and every mutating operation answers EROFS
// should the mount fall back to fusermount.
//
// The kernel caches what it can, so most operations cost no round trip:
// listings come with every entry's attributes (READDIRPLUS) and are kept
// (FOPEN_CACHE_DIR), entries and attributes are kept for an hour, and the
// view has no extended attributes (answered ENOSYS once, which the kernel
// remembers for the whole mount). history/ and events/ never change. In
// current/, every change is pushed to the kernel before the write that made
// it is answered (FS.invalidate, run for each shadow.Watch change by the
// invalidator's goroutine; the writer waits for it at most
// Options.InvalidateWait), so a new shadow is visible the moment it is
// acknowledged. The push waits for the kernel's directory locks: a process
// stuck in a directory delays appends by that wait at most, and the view
// catches up (whole, if changes piled up) once the kernel answers. Files in current/ are read
// around the page cache (FOPEN_DIRECT_IO), so an open file reads the
// version of its open to the end whatever comes later. The view bounds the
// nodes it keeps for the kernel (DefaultMaxNodes) by asking the kernel to
// drop cached entries.
package fusefs
