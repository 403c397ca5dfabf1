package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Content-addressed blobs: large payloads (shadow file contents) that an
// event references by SHA-256 instead of carrying. A blob is written in
// the same transaction as the first event that carries it, so it is
// exactly as durable as that event; identical contents are stored once.
// Blobs are never deleted: the history of the log refers to them (see
// the shadow package for what that means for retention).
var (
	bucketBlobs = []byte("blobs") // SHA-256 -> content
	bucketMeta  = []byte("meta")  // store-wide counters
	keyBlobSize = []byte("blob_bytes")
)

// MaxBlobLen is the largest blob the store accepts: bbolt's largest value.
const MaxBlobLen = bolt.MaxValueSize

// Errors about blobs.
var (
	// ErrBlobNotFound: no blob with that hash is stored.
	ErrBlobNotFound = errors.New("blob not found in the event store")
	// ErrBlobSpace is wrapped by *BlobSpaceError.
	ErrBlobSpace = errors.New("blob space of the event store is full")
)

// BlobSpaceError is the refusal of an append whose new blobs would take
// the distinct blob bytes over Options.MaxBlobBytes. Nothing of that
// append is stored.
type BlobSpaceError struct {
	Used, Adding, Limit int64
}

func (e *BlobSpaceError) Error() string {
	return fmt.Sprintf("%v: %d bytes of distinct content stored, %d more would pass the limit of %d", ErrBlobSpace, e.Used, e.Adding, e.Limit)
}

// Is makes errors.Is(err, ErrBlobSpace) hold.
func (e *BlobSpaceError) Is(target error) bool { return target == ErrBlobSpace }

// Blob is content to store under its SHA-256. Build it with NewBlob, so
// the key always is the hash of the content.
type Blob struct {
	sum  [32]byte
	data []byte
}

// NewBlob hashes data. The store keeps a reference to data until the
// append that carries the blob returns: the caller must not change it
// before then.
func NewBlob(data []byte) Blob { return Blob{sum: sha256.Sum256(data), data: data} }

// Sum is the blob's key, the SHA-256 of its content.
func (b Blob) Sum() [32]byte { return b.sum }

// Len is the content's length.
func (b Blob) Len() int { return len(b.data) }

// BlobBytes is the number of bytes of distinct blob content stored.
func (s *Store) BlobBytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.blobBytes
}

// MaxBlobBytes is the limit Options.MaxBlobBytes set (0: none).
func (s *Store) MaxBlobBytes() int64 { return s.maxBlob }

// BlobSize returns the length of the stored blob sum, or an error
// wrapping ErrBlobNotFound.
func (s *Store) BlobSize(sum [32]byte) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBlobs).Get(sum[:])
		if v == nil {
			return blobNotFound(sum)
		}
		n = int64(len(v))
		return nil
	})
	return n, err
}

// ReadBlobAt copies the blob's bytes from offset off into p, as
// io.ReaderAt does: n < len(p) only at the end of the blob, with io.EOF.
// Each call is one short read transaction that copies straight from the
// file's memory map, so a reader that holds p for long (a slow HTTP
// client) never holds a transaction that would delay the writer.
func (s *Store) ReadBlobAt(sum [32]byte, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read blob %x: negative offset %d", sum[:8], off)
	}
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBlobs).Get(sum[:])
		if v == nil {
			return blobNotFound(sum)
		}
		if off >= int64(len(v)) {
			return io.EOF
		}
		n = copy(p, v[off:])
		if n < len(p) {
			return io.EOF
		}
		return nil
	})
	return n, err
}

func blobNotFound(sum [32]byte) error {
	return fmt.Errorf("%w: sha256 %s", ErrBlobNotFound, hex.EncodeToString(sum[:]))
}

// PutBlobs stores blobs that no new event carries (an upgrade moving
// content out of old events). It does not count against MaxBlobBytes:
// the log already holds that content. Blobs already stored are skipped.
func (s *Store) PutBlobs(blobs ...Blob) error {
	if len(blobs) == 0 {
		return nil
	}
	r := &request{blobs: blobs, unlimited: true, done: make(chan struct{})}
	s.sendMu.RLock()
	if s.sendClosed {
		s.sendMu.RUnlock()
		return ErrClosed
	}
	s.queue <- r
	s.sendMu.RUnlock()
	<-r.done
	return r.err
}

// putBlobs writes r's new blobs into b and returns how many bytes they
// add, or a *BlobSpaceError (writing nothing) when they would pass limit
// (0: no limit) on top of used. A blob already in b (stored earlier, or
// by an earlier request of the same transaction) adds nothing.
func putBlobs(b *bolt.Bucket, r *request, used, limit int64) (int64, error) {
	var added int64
	fresh := r.blobs[:0:0]
	for _, bl := range r.blobs {
		if b.Get(bl.sum[:]) != nil || containsSum(fresh, bl.sum) {
			continue
		}
		fresh = append(fresh, bl)
		added += int64(len(bl.data))
	}
	if limit > 0 && !r.unlimited && used+added > limit {
		return 0, &BlobSpaceError{Used: used, Adding: added, Limit: limit}
	}
	for _, bl := range fresh {
		// bbolt keeps keys and values until commit: the key is its own.
		key := bl.sum
		if err := b.Put(key[:], bl.data); err != nil {
			return 0, fmt.Errorf("store blob %x: %w", bl.sum[:8], err)
		}
	}
	return added, nil
}

func containsSum(bs []Blob, sum [32]byte) bool {
	for _, b := range bs {
		if b.sum == sum {
			return true
		}
	}
	return false
}

// openBlobs creates the blob buckets if needed and returns the number of
// distinct blob bytes stored. A store written before blobs existed has
// none; a store whose counter is missing (never expected) is counted
// once and the counter written.
func openBlobs(tx *bolt.Tx) (int64, error) {
	blobs, err := tx.CreateBucketIfNotExists(bucketBlobs)
	if err != nil {
		return 0, err
	}
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return 0, err
	}
	if v := meta.Get(keyBlobSize); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v)), nil
	}
	var n int64
	err = blobs.ForEach(func(_, v []byte) error {
		n += int64(len(v))
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, setBlobBytes(meta, n)
}

func setBlobBytes(meta *bolt.Bucket, n int64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	return meta.Put(keyBlobSize, v[:])
}
