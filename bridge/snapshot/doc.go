// Package snapshot stores point-in-time copies of the bridge's projections
// (shadow files, sessions, coordination), so a restart loads the newest
// snapshot and replays only the events after it instead of the whole log.
//
// A snapshot file holds the sequence it covers, the ID of the event at
// that sequence (its log identity: a snapshot is used only with the log it
// was taken from, or a backup copy of it) and named sections, one per
// component. Files are written atomically (temporary file in the same
// directory, fsync, rename, fsync of the directory) and carry a SHA-256
// over header and payload; a corrupt, truncated or half-written file is
// never trusted: Latest skips it with a warning and falls back to an older
// snapshot, or to a full replay.
package snapshot
