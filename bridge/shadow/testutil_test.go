package shadow

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// memBlobs is an in-memory Blobs for the projection's own tests; the
// server's tests use the event store.
type memBlobs struct {
	mu sync.Mutex
	m  map[[32]byte][]byte
}

var testBlobs = &memBlobs{m: map[[32]byte][]byte{}}

func (b *memBlobs) put(content []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[store.NewBlob(content).Sum()] = append([]byte(nil), content...)
}

func (b *memBlobs) ReadBlobAt(sum [32]byte, p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[sum]
	if !ok {
		return 0, fmt.Errorf("%w: %x", store.ErrBlobNotFound, sum)
	}
	if off >= int64(len(v)) {
		return 0, io.EOF
	}
	n := copy(p, v[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (b *memBlobs) BlobSize(sum [32]byte) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[sum]
	if !ok {
		return 0, fmt.Errorf("%w: %x", store.ErrBlobNotFound, sum)
	}
	return int64(len(v)), nil
}

// newP is New with the test blob store.
func newP(opts Options) *Projection {
	opts.Blobs = testBlobs
	return New(opts)
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// log builds events with consecutive sequences and one second between them.
type log struct {
	t      testing.TB
	events []store.Event
}

func (l *log) add(typ string, data any) store.Event {
	l.t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		l.t.Fatal(err)
	}
	seq := uint64(len(l.events) + 1)
	ev := store.Event{Sequence: seq, ID: "ev", Type: typ, AgentID: "builder", Timestamp: t0.Add(time.Duration(seq) * time.Second), Data: raw}
	l.events = append(l.events, ev)
	return ev
}

func (l *log) put(p, content string) store.Event {
	l.t.Helper()
	fm, _, err := NewFileModified(p, []byte(content))
	if err != nil {
		l.t.Fatal(err)
	}
	testBlobs.put([]byte(content))
	return l.add(TypeFileModified, fm)
}

func (l *log) del(p string) store.Event {
	l.t.Helper()
	fd, err := NewFileDeleted(p)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.add(TypeFileDeleted, fd)
}

func replay(t testing.TB, p *Projection, evs []store.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := p.Apply(ev); err != nil {
			t.Fatalf("apply %d: %v", ev.Sequence, err)
		}
	}
}

// tree renders a view as path -> content, the projection's observable state.
func tree(v View) map[string]string {
	out := map[string]string{}
	v.Walk(func(f File) {
		b, err := io.ReadAll(io.NewSectionReader(f, 0, f.Size))
		if err != nil {
			panic(err)
		}
		out[f.Path] = string(b)
	})
	return out
}

// legacyModified is the file_modified payload of versions before blobs:
// the content inline.
type legacyModified struct {
	Path    string `json:"path"`
	Content []byte `json:"content"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

func legacyPayload(p, content string) legacyModified {
	return legacyModified{Path: p, Content: []byte(content), SHA256: fmt.Sprintf("%x", store.NewBlob([]byte(content)).Sum()), Size: int64(len(content))}
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
