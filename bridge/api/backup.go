package api

import (
	"fmt"
	"net/http"
	"time"
)

// handleBackup streams a consistent copy of the live event store (one bbolt
// read transaction, so appends go on meanwhile). Saving the body as
// events.db in an empty LIGHTHOUSE_EVENT_STORE_PATH restores a Bridge.
// A failure after the first byte can only cut the stream short; the copy
// then fails to open, so a truncated backup is never mistaken for a good
// one, and the error is logged.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	id, _ := Caller(r)
	name := fmt.Sprintf("lighthouse-events-%d-%s.db", s.store.LastSequence(), s.now().UTC().Format("20060102T150405Z"))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	w.Header().Set("Cache-Control", "no-store")
	start := time.Now()
	n, err := s.store.Backup(w)
	if err != nil {
		s.log.Error("backup failed", "error", err, "bytes", n, "agent_id", id.AgentID)
		if n == 0 {
			WriteError(w, http.StatusServiceUnavailable, "backup failed: "+err.Error())
		}
		return
	}
	s.log.Info("backup streamed", "bytes", n, "agent_id", id.AgentID, "took_ms", time.Since(start).Milliseconds())
}
