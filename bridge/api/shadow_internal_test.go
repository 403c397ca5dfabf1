package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
)

// While the contents of PUTs in progress fill the upload budget, another
// PUT waits, then gets 503 with Retry-After, before reading its body and
// storing nothing; once room is back it is stored. A body announced over
// the file limit is 413 without taking room.
func TestShadowUploadBudget(t *testing.T) {
	e := newEnv(t)
	p := shadow.New(shadow.Options{Blobs: e.store, MaxFileBytes: 50})
	if err := e.store.Attach(e.store.LastSequence(), p); err != nil {
		t.Fatal(err)
	}
	h := &shadowRoutes{s: e.srv, p: p, uploads: semaphore.NewWeighted(100), wait: 50 * time.Millisecond}
	put := func(body string, announce int64) *httptest.ResponseRecorder {
		req := httptest.NewRequest("PUT", "/shadow/a.txt", strings.NewReader(body))
		req.ContentLength = announce
		req.SetPathValue("path", "a.txt")
		req = req.WithContext(auth.NewContext(req.Context(), auth.Identity{AgentID: "builder"}))
		w := httptest.NewRecorder()
		h.put(w, req)
		return w
	}
	if err := h.uploads.Acquire(context.Background(), 100); err != nil { // uploads in progress
		t.Fatal(err)
	}
	last := e.store.LastSequence()
	w := put("hello", 5)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), "too many shadow uploads") {
		t.Fatalf("PUT with the budget full: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if w := put(strings.Repeat("x", 51), 51); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("PUT over the file limit with the budget full: %d %s", w.Code, w.Body)
	}
	if e.store.LastSequence() != last {
		t.Fatal("a refused PUT stored an event")
	}
	h.uploads.Release(100)
	if w := put("hello", 5); w.Code != http.StatusOK {
		t.Fatalf("PUT with room: %d %s", w.Code, w.Body)
	}
	if w := put("hello again", -1); w.Code != http.StatusOK { // unknown length: reserves the file limit
		t.Fatalf("PUT of unknown length: %d %s", w.Code, w.Body)
	}
	if !h.uploads.TryAcquire(100) {
		t.Fatal("the budget was not given back")
	}
}
