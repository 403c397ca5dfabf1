package api

import (
	"fmt"
	"net/http"

	"github.com/lighthouse-project/lighthouse/bridge/config"
)

// diskGuard refuses a write (507) while the event store's volume has less
// than Limits.MinFreeBytes free, before the request's body is read:
// the log would otherwise grow until the disk is full, and then every
// commit fails, the Bridge's own included. Reads go on, and so does
// session creation (public, a few hundred bytes), which the reserve
// holds. Without Options.FreeSpace or with no bound it does nothing.
func (s *Server) diskGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.freeSpace == nil || s.limits.MinFreeBytes <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		free, err := s.freeSpace()
		if err == nil && free < s.limits.MinFreeBytes {
			s.metrics.Requests.WithLabelValues("store_volume_full", methodLabel(r.Method), "507").Inc()
			w.Header().Set("Connection", "close")
			WriteError(w, http.StatusInsufficientStorage, fmt.Sprintf(
				"the event store's volume has %d bytes free, less than the %d kept free (%s): nothing was stored. Reads still work; an operator must free space on the volume or grow it",
				free, s.limits.MinFreeBytes, config.EnvEventStoreMinFree))
			return
		}
		next.ServeHTTP(w, r)
	})
}
