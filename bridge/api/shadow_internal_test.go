package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/store"
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

// TestListIsWrittenInParts: the listing written part by part is the
// ShadowList WriteJSON would write, byte for byte, for the whole project
// and under a prefix, across more than one part.
func TestListIsWrittenInParts(t *testing.T) {
	p := shadow.New(shadow.Options{})
	seq := uint64(0)
	for i := range 2*listPart + 7 {
		fp := fmt.Sprintf("d%d/f%04d.txt", i%3, i)
		if i%5 == 0 {
			fp = fmt.Sprintf("top-%d.txt", i)
		}
		fm, _, err := shadow.NewFileModified(fp, []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(fm)
		seq++
		if err := p.Apply(store.Event{Sequence: seq, Type: shadow.TypeFileModified, AgentID: "w", Timestamp: time.Unix(int64(seq), 0), Data: raw}); err != nil {
			t.Fatal(err)
		}
	}
	for _, prefix := range []string{"", "d1/"} {
		want := ShadowList{Sequence: p.LastSeq(), Prefix: prefix, Files: []ShadowFile{}}
		p.Current().Walk(func(f shadow.File) {
			if strings.HasPrefix(f.Path, prefix) {
				want.Files = append(want.Files, ShadowFile{Path: f.Path, Size: f.Size, SHA256: hex.EncodeToString(f.SHA256[:]), Sequence: f.Seq, Modified: f.ModTime.UTC()})
			}
		})
		a, b := httptest.NewRecorder(), httptest.NewRecorder()
		WriteJSON(a, http.StatusOK, want)
		writeList(b, p, p.Current(), prefix)
		if a.Body.String() != b.Body.String() {
			t.Fatalf("prefix %q: parts differ from WriteJSON (%d and %d bytes)", prefix, b.Body.Len(), a.Body.Len())
		}
	}
}
