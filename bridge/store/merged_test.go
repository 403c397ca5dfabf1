package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// An append refused for blob space takes no sequence, so it must not move
// the log's ends either: the high-water mark written at Close names the
// last stored event, and the store opens again (it was refused as
// "replaced by another event log" when the mark took the refused event's
// ID). PutBlobs, which carries no event, leaves them alone too.
func TestRefusedBlobAppendLeavesTheHighWaterMark(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet, MaxBlobBytes: 1000, HighWaterInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Append(context.Background(), blobEvent(bytes.Repeat([]byte("a"), 600)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), blobEvent(bytes.Repeat([]byte("b"), 600))); !errors.Is(err, ErrBlobSpace) {
		t.Fatalf("append over the limit: %v", err)
	}
	if err := s.PutBlobs(NewBlob([]byte("c"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	hw, ok, err := ReadHighWater(dir)
	if err != nil || !ok || hw.Sequence != 1 || hw.EventID != stored[0].ID {
		t.Fatalf("high-water mark %+v %v %v, want sequence 1, %s", hw, ok, err, stored[0].ID)
	}
	s, err = Open(dir, Options{Logger: quiet})
	if err != nil {
		t.Fatalf("reopen after a refused append: %v", err)
	}
	s.Close()
}

// Keep and Admit are the caller's callbacks: a panic in them is the
// caller's panic on every query path (the scan and the indexed one), not
// damage that would turn the store unhealthy and refuse appends.
func TestQueryCallbackPanicIsNotDamage(t *testing.T) {
	s := open(t, t.TempDir())
	if _, err := s.Append(context.Background(), ev("a", "x"), ev("b", "y")); err != nil {
		t.Fatal(err)
	}
	boom := func(*Event) bool { panic("boom") }
	for _, f := range []Filter{{Keep: boom}, {AgentID: "x", Keep: boom}, {Type: "a", Admit: func(int) bool { panic("boom") }}} {
		func() {
			defer func() {
				if p := recover(); p != "boom" {
					t.Errorf("query %+v: recovered %v, want the callback's panic", f, p)
				}
			}()
			s.Query(f)
		}()
	}
	if err := s.Healthy(); err != nil {
		t.Fatalf("a callback's panic marked the store: %v", err)
	}
	if _, err := s.Append(context.Background(), ev("c", "x")); err != nil {
		t.Fatalf("append after a callback's panic: %v", err)
	}
}

// shaRefs is a CheckOptions.BlobRefs for blobEvent's events: the content
// named by "sha256", inline when the event says so.
func shaRefs(e *Event) ([]BlobRef, error) {
	if e.Type != "file_modified" {
		return nil, nil
	}
	var d struct {
		SHA256 string `json:"sha256"`
		Inline bool   `json:"inline"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return nil, err
	}
	var ref BlobRef
	if n, err := hex.Decode(ref.Sum[:], []byte(d.SHA256)); err != nil || n != 32 {
		return nil, fmt.Errorf("sha256 %q", d.SHA256)
	}
	ref.Inline = d.Inline
	return []BlobRef{ref}, nil
}

// Check covers the blobs: every index entry with all its chunks of the
// right sizes, no stray chunk, the counters, and every content an event
// refers to stored (an old event's inline content not yet a blob is a
// warning). Each damage is found, named, and is Damaged.
func TestCheckCoversBlobs(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789"), 3*blobChunk/10+7) // 4 chunks
	build := func(t *testing.T) (string, [32]byte) {
		dir := t.TempDir()
		s, err := Open(dir, Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(context.Background(), blobEvent(content), blobEvent(nil), blobEvent([]byte("small")), ev("other", "x")); err != nil {
			t.Fatal(err)
		}
		s.Close()
		return dir, NewBlob(content).Sum()
	}
	edit := func(t *testing.T, dir string, f func(tx *bolt.Tx, ref blobRef) error, sum [32]byte) {
		t.Helper()
		db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			ref, err := lookupBlob(tx, sum)
			if err != nil {
				return err
			}
			return f(tx, ref)
		}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(t *testing.T, dir string) *Report {
		t.Helper()
		r, err := Check(dir, CheckOptions{BlobRefs: shaRefs})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	dir, _ := build(t)
	if r := check(t, dir); len(r.Findings) != 0 || r.Blobs != 3 || r.BlobBytes != int64(len(content)+5) {
		t.Fatalf("healthy store: %d blobs, %d bytes, findings %v", r.Blobs, r.BlobBytes, r.Findings)
	}
	var k [16]byte
	cases := []struct {
		name string
		f    func(tx *bolt.Tx, ref blobRef) error
		want string
	}{
		{"a chunk deleted", func(tx *bolt.Tx, ref blobRef) error {
			return tx.Bucket(bucketBlobChunks).Delete(chunkKey(k[:], ref.id, 2))
		}, "chunk 2 is missing"},
		{"the last chunk deleted", func(tx *bolt.Tx, ref blobRef) error {
			return tx.Bucket(bucketBlobChunks).Delete(chunkKey(k[:], ref.id, 3))
		}, "chunk 3 is missing"},
		{"a chunk cut short", func(tx *bolt.Tx, ref blobRef) error {
			return tx.Bucket(bucketBlobChunks).Put(chunkKey(k[:], ref.id, 1), []byte("short"))
		}, "chunk 1 is 5 bytes"},
		{"a chunk past the end", func(tx *bolt.Tx, ref blobRef) error {
			return tx.Bucket(bucketBlobChunks).Put(chunkKey(k[:], ref.id, 9), []byte("x"))
		}, "chunk 9 lies past"},
		{"an index entry deleted", func(tx *bolt.Tx, ref blobRef) error {
			sum := NewBlob(content).Sum()
			return tx.Bucket(bucketBlobIndex).Delete(sum[:])
		}, "which the store does not hold"},
		{"an index entry garbled", func(tx *bolt.Tx, ref blobRef) error {
			sum := NewBlob(content).Sum()
			return tx.Bucket(bucketBlobIndex).Put(sum[:], []byte("garbage"))
		}, "index entry of 7 bytes"},
		{"the byte count wrong", func(tx *bolt.Tx, ref blobRef) error {
			var v [8]byte
			binary.BigEndian.PutUint64(v[:], 1)
			return tx.Bucket(bucketMeta).Put(keyBlobSize, v[:])
		}, "stored count of blob bytes"},
		{"the next number reused", func(tx *bolt.Tx, ref blobRef) error {
			var v [8]byte
			return tx.Bucket(bucketMeta).Put(keyBlobNext, v[:])
		}, "would overwrite one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, sum := build(t)
			edit(t, dir, c.f, sum)
			r := check(t, dir)
			found := false
			for _, f := range r.Findings {
				found = found || f.Severity == Damaged && strings.Contains(f.Message, c.want)
			}
			if !found || r.Worst() != Damaged {
				t.Errorf("findings %v, want one Damaged saying %q", r.Findings, c.want)
			}
		})
	}
	t.Run("refers to content never stored", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(dir, Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		missing, inline := NewBlob([]byte("gone")).Sum(), NewBlob([]byte("old")).Sum()
		if _, err := s.Append(context.Background(),
			Event{Type: "file_modified", Data: json.RawMessage(fmt.Sprintf(`{"sha256":"%x"}`, missing))},
			Event{Type: "file_modified", Data: json.RawMessage(fmt.Sprintf(`{"sha256":"%x","inline":true}`, inline))},
			Event{Type: "file_modified", Data: json.RawMessage(`{"sha256":"nonsense"}`)}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		r := check(t, dir)
		var damagedMsg, warnings []string
		for _, f := range r.Findings {
			if f.Severity == Damaged {
				damagedMsg = append(damagedMsg, f.Message)
			} else {
				warnings = append(warnings, f.Message)
			}
		}
		if len(damagedMsg) != 1 || !strings.Contains(damagedMsg[0], fmt.Sprintf("event 1 (file_modified) refers to content sha256 %x", missing)) {
			t.Errorf("damage %q, want event 1's missing content", damagedMsg)
		}
		if len(warnings) != 2 || !strings.Contains(strings.Join(warnings, "\n"), "1 events of an older version carry their content inline") ||
			!strings.Contains(strings.Join(warnings, "\n"), "event 3 (file_modified) names no readable content") {
			t.Errorf("warnings %q, want event 3's payload and the inline content to move", warnings)
		}
	})
}
