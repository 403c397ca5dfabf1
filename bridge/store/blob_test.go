package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func blobEvent(content []byte) Event {
	b := NewBlob(content)
	sum := b.Sum()
	return Event{Type: "file_modified", Data: json.RawMessage(fmt.Sprintf(`{"sha256":"%x"}`, sum[:])), Blobs: []Blob{b}}
}

func readBlob(t *testing.T, s *Store, sum [32]byte) []byte {
	t.Helper()
	n, err := s.BlobSize(sum)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.NewSectionReader(blobReader{s, sum}, 0, n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type blobReader struct {
	s   *Store
	sum [32]byte
}

func (r blobReader) ReadAt(p []byte, off int64) (int, error) { return r.s.ReadBlobAt(r.sum, p, off) }

// A blob is stored with its event, deduplicated, read back at any offset,
// kept out of the event's JSON and of the projections' events, and
// counted once across reopens.
func TestBlobsStoredWithTheirEvent(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var seen []Event
	if err := s.Attach(0, projFunc(func(e Event) error { seen = append(seen, e); return nil })); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 70_000) // 1.1 MB: overflow pages
	small := []byte("small")
	evs, err := s.Append(context.Background(), blobEvent(big), blobEvent(small), blobEvent(big))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(evs, seen...) {
		if e.Blobs != nil {
			t.Fatalf("event %d still carries its blobs", e.Sequence)
		}
	}
	if got, want := s.BlobBytes(), int64(len(big)+len(small)); got != want {
		t.Errorf("BlobBytes = %d, want %d (each content once)", got, want)
	}
	sum := NewBlob(big).Sum()
	if !bytes.Equal(readBlob(t, s, sum), big) {
		t.Fatal("big blob read back differs")
	}
	p := make([]byte, 10)
	if n, err := s.ReadBlobAt(sum, p, int64(len(big))-4); n != 4 || err != io.EOF || string(p[:4]) != "cdef" {
		t.Errorf("read at the end: %d, %v, %q", n, err, p[:n])
	}
	if n, err := s.ReadBlobAt(sum, p, int64(len(big))); n != 0 || err != io.EOF {
		t.Errorf("read past the end: %d, %v", n, err)
	}
	if _, err := s.ReadBlobAt(sum, p, -1); err == nil {
		t.Error("negative offset accepted")
	}
	if _, err := s.ReadBlobAt(NewBlob([]byte("nope")).Sum(), p, 0); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("missing blob: %v", err)
	}
	if _, err := s.BlobSize(NewBlob([]byte("nope")).Sum()); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("missing blob size: %v", err)
	}
	stored, _ := s.Query(Filter{})
	for _, e := range stored {
		if bytes.Contains(e.Data, []byte("0123456789")) {
			t.Fatalf("event %d carries the content: %.80s", e.Sequence, e.Data)
		}
	}
	s.Close()

	s = open(t, dir)
	if got, want := s.BlobBytes(), int64(len(big)+len(small)); got != want {
		t.Errorf("BlobBytes after reopen = %d, want %d", got, want)
	}
	if string(readBlob(t, s, NewBlob(small).Sum())) != "small" {
		t.Error("small blob lost across reopen")
	}
}

type projFunc func(Event) error

func (f projFunc) Apply(e Event) error { return f(e) }

// Over MaxBlobBytes an append is refused whole, takes no sequence and
// stores nothing; content already stored is still accepted; PutBlobs (the
// upgrade path) is not limited.
func TestBlobSpaceLimit(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{MaxBlobBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := bytes.Repeat([]byte("a"), 600)
	b := bytes.Repeat([]byte("b"), 600)
	if _, err := s.Append(context.Background(), blobEvent(a)); err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(context.Background(), ev("other", "x"), blobEvent(b))
	var full *BlobSpaceError
	if !errors.As(err, &full) || !errors.Is(err, ErrBlobSpace) || full.Used != 600 || full.Adding != 600 || full.Limit != 1000 {
		t.Fatalf("append over the limit: %v", err)
	}
	if s.LastSequence() != 1 || s.BlobBytes() != 600 {
		t.Fatalf("refused append stored something: last %d, blob bytes %d", s.LastSequence(), s.BlobBytes())
	}
	if _, err := s.BlobSize(NewBlob(b).Sum()); !errors.Is(err, ErrBlobNotFound) {
		t.Fatalf("refused blob stored: %v", err)
	}
	// The same content again adds nothing: accepted.
	if evs, err := s.Append(context.Background(), blobEvent(a)); err != nil || evs[0].Sequence != 2 {
		t.Fatalf("duplicate content at the limit: %v", err)
	}
	if err := s.PutBlobs(NewBlob(b)); err != nil {
		t.Fatalf("PutBlobs over the limit: %v", err)
	}
	if s.BlobBytes() != 1200 {
		t.Fatalf("BlobBytes after PutBlobs = %d", s.BlobBytes())
	}
	if s.Healthy() != nil {
		t.Fatalf("a refused append made the store unhealthy: %v", s.Healthy())
	}
}

// Concurrent appends against the limit: the refusals are exact (the sum
// of what was accepted never passes it), sequences stay gap-free, and the
// accepted ones are all readable.
func TestBlobSpaceLimitUnderConcurrency(t *testing.T) {
	s := openWith(t, t.TempDir(), Options{MaxBlobBytes: 50 * 100})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted [][]byte
	refused := 0
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				c := bytes.Repeat([]byte{byte('A' + w)}, 100+i) // all distinct
				_, err := s.Append(context.Background(), blobEvent(c))
				mu.Lock()
				switch {
				case err == nil:
					accepted = append(accepted, c)
				case errors.Is(err, ErrBlobSpace):
					refused++
				default:
					t.Error(err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var sum int64
	for _, c := range accepted {
		sum += int64(len(c))
		if !bytes.Equal(readBlob(t, s, NewBlob(c).Sum()), c) {
			t.Fatal("accepted content unreadable")
		}
	}
	if sum > 5000 || sum != s.BlobBytes() || refused == 0 {
		t.Fatalf("accepted %d bytes (BlobBytes %d), %d refused", sum, s.BlobBytes(), refused)
	}
	if s.LastSequence() != uint64(len(accepted)) {
		t.Fatalf("last sequence %d for %d accepted appends", s.LastSequence(), len(accepted))
	}
}

func openWith(t *testing.T, dir string, o Options) *Store {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A backup carries the blobs: opening the copy reads them.
func TestBackupCarriesBlobs(t *testing.T) {
	s := open(t, t.TempDir())
	content := bytes.Repeat([]byte("backup me "), 10_000)
	if _, err := s.Append(context.Background(), blobEvent(content)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c := open(t, dir)
	if !bytes.Equal(readBlob(t, c, NewBlob(content).Sum()), content) || c.BlobBytes() != int64(len(content)) {
		t.Fatal("backup lost the blob")
	}
}

// Reads at every offset and length around chunk boundaries give exactly
// the content's bytes; a missing chunk is an error, not short content.
func TestBlobChunkedReads(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 3*blobChunk+5)
	for i := range content {
		content[i] = byte(i * 7)
	}
	empty := []byte{}
	if _, err := s.Append(context.Background(), blobEvent(content), blobEvent(empty)); err != nil {
		t.Fatal(err)
	}
	sum := NewBlob(content).Sum()
	for _, off := range []int{0, 1, blobChunk - 1, blobChunk, blobChunk + 1, 2*blobChunk + 3, len(content) - 1} {
		for _, n := range []int{1, 7, blobChunk - 1, blobChunk, blobChunk + 1, 2 * blobChunk, len(content)} {
			p := make([]byte, n)
			got, err := s.ReadBlobAt(sum, p, int64(off))
			want := min(n, len(content)-off)
			if got != want || !bytes.Equal(p[:got], content[off:off+want]) {
				t.Fatalf("ReadBlobAt(off %d, len %d) = %d bytes, want %d (equal %v)", off, n, got, want, bytes.Equal(p[:got], content[off:off+want]))
			}
			if (want < n) != (err == io.EOF) || err != nil && err != io.EOF {
				t.Fatalf("ReadBlobAt(off %d, len %d): err %v", off, n, err)
			}
		}
	}
	if n, err := s.BlobSize(NewBlob(empty).Sum()); n != 0 || err != nil {
		t.Fatalf("empty blob: %d %v", n, err)
	}
	if n, err := s.ReadBlobAt(NewBlob(empty).Sum(), make([]byte, 4), 0); n != 0 || err != io.EOF {
		t.Fatalf("read of the empty blob: %d %v", n, err)
	}
	// Damage: remove the second chunk.
	s.Close()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		r, err := lookupBlob(tx, sum)
		if err != nil {
			return err
		}
		var k [16]byte
		return tx.Bucket(bucketBlobChunks).Delete(chunkKey(k[:], r.id, 1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	if _, err := s.ReadBlobAt(sum, make([]byte, len(content)), 0); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("read over a missing chunk: %v", err)
	}
}

// Storing many large blobs writes each once: the pages the writes
// allocate add up to about the content, not twice it (one large value per
// random key made bbolt copy a neighbour on every insert).
func TestBlobsWrittenOnce(t *testing.T) {
	s := open(t, t.TempDir())
	const n, size = 32, 256 << 10
	st0 := s.db.Stats()
	before := st0.TxStats.GetPageAlloc()
	buf := make([]byte, size)
	for i := range n {
		for j := range buf {
			buf[j] = byte(i + j*31)
		}
		buf[0], buf[1] = byte(i), byte(i>>8)
		if _, err := s.Append(context.Background(), blobEvent(append([]byte(nil), buf...))); err != nil {
			t.Fatal(err)
		}
	}
	st1 := s.db.Stats()
	written := st1.TxStats.GetPageAlloc() - before
	t.Logf("%d KiB of pages written for %d KiB of blobs", written>>10, n*size>>10)
	if written > int64(n*size)*5/4 {
		t.Fatalf("%d KiB of pages written for %d KiB of blobs", written>>10, n*size>>10)
	}
}

// rssFileKiB is this process's resident file-backed memory.
func rssFileKiB(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// Reading blobs does not leave the store's pages in the process's
// resident memory for long: reading 96 distinct MiB of them grows it by
// at most sweepEvery (copying out of bbolt's map kept every page touched).
func TestBlobReadsDoNotStayResident(t *testing.T) {
	s := open(t, t.TempDir())
	var sums [][32]byte
	for i := range 96 {
		c := make([]byte, 1<<20)
		for j := range c {
			c[j] = byte(i*7 + j)
		}
		if _, err := s.Append(context.Background(), blobEvent(c)); err != nil {
			t.Fatal(err)
		}
		sums = append(sums, NewBlob(c).Sum())
	}
	p := make([]byte, 1<<20)
	s.ReadBlobAt(sums[0], p, 0) // the read path's own code and data
	before := rssFileKiB(t)
	var most int64
	for _, sum := range sums {
		if n, err := s.ReadBlobAt(sum, p, 0); n != len(p) || err != nil {
			t.Fatal(n, err)
		}
		most = max(most, rssFileKiB(t)-before)
	}
	t.Logf("resident file memory grew by at most %d KiB reading 96 MiB", most)
	if most > 72<<10 { // sweepEvery and some slack
		t.Fatalf("resident file memory grew by %d KiB reading 96 MiB of blobs", most)
	}
}

// Reading blobs gives back only pages of bbolt's map, never the heap:
// a small store keeps its chunks in a bucket stored inline, which bbolt
// copies to the heap when it sits at an unaligned offset, and giving
// those pages back zeroed the process's memory (its environment, here).
func TestBlobReadsLeaveMemoryAlone(t *testing.T) {
	s := open(t, t.TempDir())
	s.sweepAt = 1 // every read gives pages back
	c := []byte("small content\n")
	if _, err := s.Append(context.Background(), blobEvent(c)); err != nil {
		t.Fatal(err)
	}
	canary := bytes.Repeat([]byte{0xAA}, 4<<20)
	p := make([]byte, 4096)
	for i := range 5000 {
		if _, err := s.ReadBlobAt(NewBlob(c).Sum(), p, 0); err != io.EOF {
			t.Fatal(err)
		}
		for _, kv := range os.Environ() {
			if strings.ContainsRune(kv, 0) {
				t.Fatalf("after %d reads the environment holds zeros: %q", i, kv)
			}
		}
	}
	if bytes.Count(canary, []byte{0xAA}) != len(canary) {
		t.Fatal("reads changed memory they did not own")
	}
}
