package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// template is a closed store of a few hundred events of several types,
// agents and aggregates: several leaf and branch pages in every bucket.
var template struct {
	once  sync.Once
	data  []byte
	hw    []byte
	last  uint64
	blobs [][32]byte // the contents its file_modified events carry
}

func templateStore(t testing.TB) ([]byte, []byte) {
	template.once.Do(func() {
		dir, err := os.MkdirTemp("", "lighthouse-store-template-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		s, err := Open(dir, Options{Logger: quiet})
		if err != nil {
			panic(err)
		}
		for i := range 20 {
			var evs []Event
			for j := range 15 {
				evs = append(evs, Event{Type: fmt.Sprint("type_", j%4), AgentID: fmt.Sprint("agent-", i%3),
					AggregateID: fmt.Sprint("agg-", (i*15+j)%7), Data: json.RawMessage(fmt.Sprintf(`{"i":%d,"pad":%q}`, i*15+j, strings.Repeat("x", 200)))})
			}
			if _, err := s.Append(context.Background(), evs...); err != nil {
				panic(err)
			}
			if i%5 == 0 { // blobs: the chunks of one of several pages, and small ones
				content := []byte(strings.Repeat(fmt.Sprint("blob ", i, " "), 1+i*300))
				if _, err := s.Append(context.Background(), blobEvent(content)); err != nil {
					panic(err)
				}
				template.blobs = append(template.blobs, NewBlob(content).Sum())
			}
		}
		template.last = s.LastSequence()
		if err := s.Close(); err != nil {
			panic(err)
		}
		template.data, _ = os.ReadFile(filepath.Join(dir, FileName))
		template.hw, _ = os.ReadFile(filepath.Join(dir, HighWaterFile))
	})
	if template.data == nil || template.hw == nil {
		t.Fatal("template store not built")
	}
	return template.data, template.hw
}

// storeDir writes data as the bbolt file of a new store directory, and
// the high-water mark hw if not nil.
func storeDir(t testing.TB, data, hw []byte) string {
	t.Helper()
	dir := memDir(t)
	if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if hw != nil {
		if err := os.WriteFile(filepath.Join(dir, HighWaterFile), hw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// memDir is a temporary directory in memory (/dev/shm) where there is
// one, so the hundreds of small stores these tests open do not wait on a
// disk's fsync; t.TempDir elsewhere.
func memDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "lighthouse-store-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// exercise opens the store in dir and, if it opens, uses every read and
// write path once. Errors are fine; a panic or a fault is not (it kills
// the test binary). An Open error must say damaged or lost and name the
// file.
func exercise(t testing.TB, dir string) error {
	s, err := Open(dir, Options{Logger: quiet, LockTimeout: 50 * time.Millisecond})
	if err != nil {
		if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrLost) {
			t.Errorf("Open: %v, want an error wrapping ErrDamaged or ErrLost", err)
		}
		if !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
			t.Errorf("Open error does not name the file: %v", err)
		}
		return err
	}
	defer s.Close()
	var errs []error
	errs = append(errs, s.ReadFrom(0, func(Event) error { return nil }))
	for _, f := range []Filter{{Type: "type_1"}, {AgentID: "agent-2"}, {AggregateID: "agg-3"}, {Since: 100}} {
		_, err := s.Query(f)
		errs = append(errs, err)
	}
	for _, sum := range template.blobs {
		n, err := s.BlobSize(sum)
		errs = append(errs, err)
		if err == nil && n >= 0 && n <= 1<<20 {
			_, err = s.ReadBlobAt(sum, make([]byte, n), 0)
			if err == io.EOF {
				err = nil
			}
			errs = append(errs, err)
		}
	}
	_, err = s.Append(context.Background(), ev("after", "x"))
	errs = append(errs, err)
	_, err = s.Backup(io.Discard)
	errs = append(errs, err, s.Healthy())
	s.Size()
	return errors.Join(errs...)
}

// exerciseBounded is exercise, failing the test with what was damaged
// when it has not returned after 30 seconds (a hang is a failure too).
func exerciseBounded(t testing.TB, dir, what string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- exercise(t, dir) }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: the damaged store hangs the bridge", what)
		return nil
	}
}

func TestTruncatedStoreIsDamagedNotAPanic(t *testing.T) {
	data, hw := templateStore(t)
	newest, _ := metaOffsets(data)
	ps := int(binary.LittleEndian.Uint32(data[16+8:]))
	used := int(binary.LittleEndian.Uint64(data[newest+16+40:])) * ps // pages in use
	for _, n := range []int{used / 2, used - 100, used - ps, 4096 + 100, 2 * 4096, 100} {
		dir := storeDir(t, data[:n], hw)
		err := exercise(t, dir)
		if !errors.Is(err, ErrDamaged) {
			t.Errorf("truncated to %d of %d bytes: %v, want ErrDamaged", n, len(data), err)
		}
	}
}

func TestEmptiedStoreIsRefusedByItsHighWaterMark(t *testing.T) {
	_, hw := templateStore(t)
	// A 0-byte events.db next to the mark of a log that reached 600.
	dir := storeDir(t, nil, hw)
	_, err := Open(dir, Options{Logger: quiet})
	var lost *LostError
	if !errors.As(err, &lost) || lost.Last != 0 || lost.Mark.Sequence != template.last {
		t.Fatalf("0-byte events.db with a high-water mark: %v, want a LostError from %d to 0", err, template.last)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("ends at sequence 0, but it had reached %d", template.last)) {
		t.Errorf("unclear: %v", err)
	}
	// The same without a mark (a first start, or a restore into an empty
	// directory) is a new log, with a warning.
	var logb strings.Builder
	dir = storeDir(t, nil, nil)
	s, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(&logb, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !strings.Contains(logb.String(), "was empty (0 bytes)") {
		t.Errorf("no warning about the empty file: %s", logb.String())
	}
}

// metaOffsets are the two meta pages' offsets, the newest first.
func metaOffsets(data []byte) (newest, older int) {
	ps := int(binary.LittleEndian.Uint32(data[16+8:]))
	if binary.LittleEndian.Uint64(data[ps+16+48:]) > binary.LittleEndian.Uint64(data[16+48:]) {
		return ps, 0
	}
	return 0, ps
}

func TestZeroedMetaPageIsCaughtByTheHighWaterMark(t *testing.T) {
	data, hw := templateStore(t)
	newest, older := metaOffsets(data)
	ps := int(binary.LittleEndian.Uint32(data[16+8:]))
	zero := func(offs ...int) []byte {
		d := append([]byte(nil), data...)
		for _, o := range offs {
			clear(d[o : o+ps])
		}
		return d
	}
	// bbolt falls back to the older meta page: the last transaction is
	// gone, and the mark knows it.
	_, err := Open(storeDir(t, zero(newest), hw), Options{Logger: quiet})
	var lost *LostError
	if !errors.As(err, &lost) || lost.Last >= template.last {
		t.Fatalf("newest meta zeroed: %v, want a LostError", err)
	}
	t.Logf("newest meta zeroed: %v", err)
	// The older one zeroed loses nothing.
	s, err := Open(storeDir(t, zero(older), hw), Options{Logger: quiet})
	if err != nil {
		t.Fatalf("older meta zeroed: %v", err)
	}
	if s.LastSequence() != template.last {
		t.Errorf("older meta zeroed: last %d, want %d", s.LastSequence(), template.last)
	}
	s.Close()
	// Both zeroed: bbolt cannot open it at all.
	err = exercise(t, storeDir(t, zero(newest, older), hw))
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("both metas zeroed: %v, want ErrDamaged", err)
	}
}

func TestAnotherLogUnderTheHighWaterMarkIsRefused(t *testing.T) {
	_, hw := templateStore(t)
	// Another store that reaches the same sequence with other events.
	other := t.TempDir()
	s, err := Open(other, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for range template.last + 5 {
		if _, err := s.Append(context.Background(), ev("other", "x")); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	data, _ := os.ReadFile(filepath.Join(other, FileName))
	_, err = Open(storeDir(t, data, hw), Options{Logger: quiet})
	if !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "replaced by another event log") {
		t.Fatalf("another log under the mark: %v", err)
	}
}

func TestHighWaterMarkFollowsAppends(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet, HighWaterInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Append(context.Background(), ev("a", "x"), ev("b", "x"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		hw, ok, err := ReadHighWater(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ok && hw.Sequence == 2 && hw.EventID == got[1].ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("high-water mark %+v %v, want sequence 2 (%s) while the store is open", hw, ok, got[1].ID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.Origin() != got[0].ID {
		t.Errorf("Origin %q, want the first event's ID %q", s.Origin(), got[0].ID)
	}
}

// TestByteFlipsNeverPanic damages the template store one byte at a time:
// every page's header fields, the fields of its first elements, and
// random bytes. Opening and using each damaged store must give errors,
// never a panic, a fault or a hang.
func TestByteFlipsNeverPanic(t *testing.T) {
	data, hw := templateStore(t)
	newest, _ := metaOffsets(data)
	ps := int(binary.LittleEndian.Uint32(data[16+8:]))
	used := int(binary.LittleEndian.Uint64(data[newest+16+40:])) * ps
	// Per page in use: its id, flags, count and overflow, and the fields
	// of its first element (a branch's child pointer, a leaf's flags and
	// sizes); in the meta pages also the root, freelist, pgid and txid.
	type flip struct {
		off int
		x   byte
	}
	var flips []flip
	for p := 0; p < used; p += ps {
		offs := []int{0, 8, 10, 12, 16, 24}
		if p < 2*ps {
			offs = append(offs, 32, 48, 56, 64)
		}
		for i, o := range offs {
			flips = append(flips, flip{p + o, []byte{0x01, 0x80, 0xff, 0x04}[i%4]})
		}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	for range 80 {
		flips = append(flips, flip{rng.IntN(used), byte(1 << rng.IntN(8))})
	}
	if testing.Short() {
		rng.Shuffle(len(flips), func(i, j int) { flips[i], flips[j] = flips[j], flips[i] })
		flips = flips[:60]
	}
	damagedCount := 0
	for _, f := range flips {
		d := append([]byte(nil), data[:used]...)
		d[f.off] ^= f.x
		if err := exerciseBounded(t, storeDir(t, d, hw), fmt.Sprintf("byte %d ^ %#x", f.off, f.x)); errors.Is(err, ErrDamaged) || errors.Is(err, ErrLost) {
			damagedCount++
		}
	}
	offsets := flips
	t.Logf("%d flips, %d reported as damage or loss, none panicked", len(offsets), damagedCount)
}

// FuzzDamagedStore flips the bytes the fuzzer picks in the template store;
// opening and using it must never panic.
func FuzzDamagedStore(f *testing.F) {
	f.Add(uint32(4096+16+40), byte(1), uint32(0), byte(0))
	f.Add(uint32(2*4096+17), byte(0x80), uint32(3*4096+24), byte(2))
	f.Fuzz(func(t *testing.T, off1 uint32, x1 byte, off2 uint32, x2 byte) {
		data, hw := templateStore(t)
		d := append([]byte(nil), data...)
		d[int(off1)%len(d)] ^= x1
		d[int(off2)%len(d)] ^= x2
		exerciseBounded(t, storeDir(t, d, hw), fmt.Sprintf("bytes %d ^ %#x, %d ^ %#x", int(off1)%len(d), x1, int(off2)%len(d), x2))
	})
}

// TestCyclicPageIsDamagedNotAnEndlessDescent points a branch page's
// child at the branch page itself: bbolt's page check passes (the page is
// the one asked for), and every cursor that descends there would loop
// until the process runs out of memory or stack. Open must refuse it.
func TestCyclicPageIsDamagedNotAnEndlessDescent(t *testing.T) {
	data, hw := templateStore(t)
	newest, _ := metaOffsets(data)
	ps := int(binary.LittleEndian.Uint32(data[16+8:]))
	used := int(binary.LittleEndian.Uint64(data[newest+16+40:])) * ps
	// The branch pages in use (not free ones left by earlier commits).
	branches := map[int]bool{}
	db, err := bolt.Open(filepath.Join(storeDir(t, data, nil), FileName), 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		for id := 2; id*ps < used; id++ {
			if info, err := tx.Page(id); err == nil && info != nil && info.Type == "branch" {
				branches[id*ps] = true
			}
		}
		return nil
	})
	db.Close()
	cycles := 0
	for p := 2 * ps; p < used; p += ps {
		if !branches[p] {
			continue
		}
		count := int(binary.LittleEndian.Uint16(data[p+10:]))
		for _, i := range []int{0, count - 1} {
			d := append([]byte(nil), data[:used]...)
			binary.LittleEndian.PutUint64(d[p+pageHeaderSize+i*elementSize+8:], uint64(p/ps))
			err := exercise(t, storeDir(t, d, hw))
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "referenced twice") {
				t.Errorf("branch page %d pointing at itself (element %d): %v", p/ps, i, err)
			}
			cycles++
		}
	}
	if cycles == 0 {
		t.Fatal("the template store has no branch page")
	}
}

// TestAnotherBboltFileIsNotAnEventStore: a valid bbolt file with buckets
// but no event log (another program's database put in its place) is
// refused, not turned into an empty event log.
func TestAnotherBboltFileIsNotAnEventStore(t *testing.T) {
	dir := memDir(t)
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("settings"))
		return b.Put([]byte("k"), []byte("v"))
	})
	db.Close()
	_, err = Open(dir, Options{Logger: quiet})
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), `not an event store: no "events" bucket, only "settings"`) {
		t.Fatalf("Open of another program's bbolt file: %v", err)
	}
}

// TestLivePageOnTheFreelistIsDamage puts a page the events tree uses on
// the freelist (keeping the list sorted, as one flipped byte can): the
// next commit would hand it out and overwrite live events, and could make
// the tree loop. Open must refuse the file first.
func TestLivePageOnTheFreelistIsDamage(t *testing.T) {
	data, hw := templateStore(t)
	newest, _ := metaOffsets(data)
	ps := int(binary.LittleEndian.Uint32(data[16+8:]))
	freelist := int(binary.LittleEndian.Uint64(data[newest+16+32:]))
	db, err := bolt.Open(filepath.Join(storeDir(t, data, nil), FileName), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var live uint64
	db.View(func(tx *bolt.Tx) error { live = uint64(tx.Bucket(bucketEvents).Root()); return nil })
	db.Close()
	fl := data[freelist*ps:]
	count := int(binary.LittleEndian.Uint16(fl[10:]))
	if count == 0 || count == 0xFFFF {
		t.Fatalf("template freelist has %d entries", count)
	}
	ids := []uint64{live}
	for i := 1; i < count; i++ {
		ids = append(ids, binary.LittleEndian.Uint64(fl[pageHeaderSize+i*8:]))
	}
	slices.Sort(ids)
	d := append([]byte(nil), data...)
	for i, id := range ids {
		binary.LittleEndian.PutUint64(d[freelist*ps+pageHeaderSize+i*8:], id)
	}
	err = exercise(t, storeDir(t, d, hw))
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), fmt.Sprintf("page %d is on the freelist but in use", live)) {
		t.Fatalf("live page %d on the freelist: %v", live, err)
	}
}
