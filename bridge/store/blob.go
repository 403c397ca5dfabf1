package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// Content-addressed blobs: large payloads (shadow file contents) that an
// event references by SHA-256 instead of carrying. A blob is written in
// the same transaction as the first event that carries it, so it is
// exactly as durable as that event; identical contents are stored once.
// Blobs are never deleted: the history of the log refers to them (see
// the shadow package for what that means for retention).
//
// Layout: blob_index maps the SHA-256 to the blob's number, length and
// chunk size; blob_chunks holds the content in chunks under (number,
// chunk index), both big-endian. Numbers only grow, so new chunks always
// go to the end of blob_chunks, whose pages are filled completely and
// never rewritten: storing a blob costs its own pages, never a copy of
// another blob (one large value per key under random hashes made bbolt
// copy a neighbouring blob, and read it through the map, on every insert).
var (
	bucketBlobIndex  = []byte("blob_index")
	bucketBlobChunks = []byte("blob_chunks")
	bucketMeta       = []byte("meta") // store-wide counters
	keyBlobSize      = []byte("blob_bytes")
	keyBlobNext      = []byte("blob_next")
)

// blobChunk is the size of a chunk: two chunks, their keys and headers
// fill one 4 KiB page exactly (16 + 2 * (16 + 16 + 2008) = 4096).
const blobChunk = 2008

// blobRef is a blob_index value: number, length and chunk size.
type blobRef struct {
	id, size uint64
	chunk    uint32
}

func (r blobRef) encode() []byte {
	v := make([]byte, 20)
	binary.BigEndian.PutUint64(v, r.id)
	binary.BigEndian.PutUint64(v[8:], r.size)
	binary.BigEndian.PutUint32(v[16:], r.chunk)
	return v
}

func decodeBlobRef(sum [32]byte, v []byte) (blobRef, error) {
	if len(v) != 20 {
		return blobRef{}, fmt.Errorf("blob %x: index entry of %d bytes, want 20", sum[:8], len(v))
	}
	r := blobRef{id: binary.BigEndian.Uint64(v), size: binary.BigEndian.Uint64(v[8:]), chunk: binary.BigEndian.Uint32(v[16:])}
	if r.chunk == 0 && r.size > 0 {
		return blobRef{}, fmt.Errorf("blob %x: chunk size 0", sum[:8])
	}
	return r, nil
}

// chunks is the number of chunks of the blob.
func (r blobRef) chunks() uint64 {
	if r.chunk == 0 {
		return 0
	}
	return (r.size + uint64(r.chunk) - 1) / uint64(r.chunk)
}

func chunkKey(k []byte, id uint64, i uint64) []byte {
	binary.BigEndian.PutUint64(k, id)
	binary.BigEndian.PutUint64(k[8:], i)
	return k[:16]
}

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
	err := s.view(func(tx *bolt.Tx) error {
		r, err := s.lookupBlob(tx, sum)
		n = int64(r.size)
		return err
	})
	return n, err
}

func lookupBlob(tx *bolt.Tx, sum [32]byte) (blobRef, error) {
	v := tx.Bucket(bucketBlobIndex).Get(sum[:])
	if v == nil {
		return blobRef{}, blobNotFound(sum)
	}
	return decodeBlobRef(sum, v)
}

// lookupBlob is lookupBlob with an index entry that does not decode
// reported as damage (ErrDamaged).
func (s *Store) lookupBlob(tx *bolt.Tx, sum [32]byte) (blobRef, error) {
	r, err := lookupBlob(tx, sum)
	if err != nil && !errors.Is(err, ErrBlobNotFound) {
		return blobRef{}, damaged(s.path, err, "%v", err)
	}
	return r, err
}

// ReadBlobAt copies the blob's bytes from offset off into p, as
// io.ReaderAt does: n < len(p) only at the end of the blob, with io.EOF.
// Each call is one short read transaction that copies out of bbolt's
// memory map, so a reader that holds p for long (a slow HTTP client)
// never holds a transaction that would delay the writer.
func (s *Store) ReadBlobAt(sum [32]byte, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read blob %x: negative offset %d", sum[:8], off)
	}
	var n int
	err := s.view(func(tx *bolt.Tx) error {
		r, err := s.lookupBlob(tx, sum)
		if err != nil {
			return err
		}
		if uint64(off) >= r.size {
			return io.EOF
		}
		want := int(min(uint64(len(p)), r.size-uint64(off)))
		i := uint64(off) / uint64(r.chunk)
		skip := uint64(off) % uint64(r.chunk)
		var kb [16]byte
		var anchor []byte
		c := tx.Bucket(bucketBlobChunks).Cursor()
		for k, v := c.Seek(chunkKey(kb[:], r.id, i)); n < want; k, v = c.Next() {
			if len(k) != 16 || binary.BigEndian.Uint64(k) != r.id || binary.BigEndian.Uint64(k[8:]) != i || uint64(len(v)) <= skip {
				return damaged(s.path, nil, "blob %x: chunk %d missing", sum[:8], i)
			}
			n += copy(p[n:want], v[skip:])
			skip = 0
			i++
			anchor = v
		}
		s.mapped(tx, n, anchor)
		if n < len(p) {
			return io.EOF
		}
		return nil
	})
	return n, err
}

// sweepEvery is how many bytes may be read out of bbolt's map between two
// sweeps (see mapped).
const sweepEvery = 64 << 20

// mapped counts n bytes read out of bbolt's map in tx, and every
// sweepEvery bytes gives the map's pages back to the kernel (madvise
// MADV_DONTNEED over the store's data, while tx keeps the map from
// moving; anchor, a slice tx returned, locates it, and must lie in it:
// bbolt hands out heap copies too, those of a small bucket stored inline
// at an unaligned offset, and the heap must never be given back). A page of a file mapping once touched stays in the process's
// resident memory: without the sweeps, reading the whole history would
// make the bridge's RSS as large as the store. The pages stay in the page
// cache; a later read maps them again. One madvise per 64 MiB read, not
// one per read: each costs a flush of every CPU's TLB.
func (s *Store) mapped(tx *bolt.Tx, n int, anchor []byte) {
	every := int64(sweepEvery)
	if s.sweepAt > 0 {
		every = s.sweepAt
	}
	if s.mapRead.Add(int64(n)) < every || len(anchor) == 0 || !s.sweeping.CompareAndSwap(false, true) {
		return
	}
	defer s.sweeping.Store(false)
	s.mapRead.Store(0)
	base, size := s.db.Info().Data, uintptr(tx.Size())
	a := unsafe.Pointer(unsafe.SliceData(anchor))
	// The map starts on a page and tx.Size() is whole pages.
	if uintptr(a) < base || uintptr(a)-base+uintptr(len(anchor)) > size || size%pageSize != 0 || base%pageSize != 0 {
		return // not in the map
	}
	start := unsafe.Add(a, -int(uintptr(a)-base))
	syscall.Madvise(unsafe.Slice((*byte)(start), size), syscall.MADV_DONTNEED)
}

var pageSize = uintptr(os.Getpagesize())

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

// blobWriter writes the blobs of one transaction.
type blobWriter struct {
	index, chunks, meta *bolt.Bucket
	first, next         uint64 // number of the next new blob, at the start and now
}

func newBlobWriter(tx *bolt.Tx) *blobWriter {
	w := &blobWriter{index: tx.Bucket(bucketBlobIndex), chunks: tx.Bucket(bucketBlobChunks), meta: tx.Bucket(bucketMeta)}
	// Chunk keys only grow: fill their pages completely.
	w.chunks.FillPercent = 1.0
	if v := w.meta.Get(keyBlobNext); len(v) == 8 {
		w.next = binary.BigEndian.Uint64(v)
	}
	w.first = w.next
	return w
}

// put writes r's new blobs and returns how many bytes they add, or a
// *BlobSpaceError (writing nothing) when they would pass limit (0: no
// limit) on top of used. A blob already stored (earlier, or by an
// earlier request of the same transaction) adds nothing.
func (w *blobWriter) put(r *request, used, limit int64) (int64, error) {
	var added int64
	fresh := r.blobs[:0:0]
	for _, bl := range r.blobs {
		if w.index.Get(bl.sum[:]) != nil || containsSum(fresh, bl.sum) {
			continue
		}
		fresh = append(fresh, bl)
		added += int64(len(bl.data))
	}
	if limit > 0 && !r.unlimited && used+added > limit {
		return 0, &BlobSpaceError{Used: used, Adding: added, Limit: limit}
	}
	for _, bl := range fresh {
		ref := blobRef{id: w.next, size: uint64(len(bl.data)), chunk: blobChunk}
		w.next++
		// bbolt keeps keys and values until commit: the keys are their
		// own (one array per blob), the values slices of the content.
		n := (len(bl.data) + blobChunk - 1) / blobChunk
		keys := make([]byte, 16*n)
		for i := range n {
			chunk := bl.data[i*blobChunk : min((i+1)*blobChunk, len(bl.data))]
			if err := w.chunks.Put(chunkKey(keys[16*i:], ref.id, uint64(i)), chunk); err != nil {
				return 0, fmt.Errorf("store blob %x: %w", bl.sum[:8], err)
			}
		}
		key := bl.sum
		if err := w.index.Put(key[:], ref.encode()); err != nil {
			return 0, fmt.Errorf("store blob %x: %w", bl.sum[:8], err)
		}
	}
	return added, nil
}

// finish records the counters if this transaction stored blobs.
func (w *blobWriter) finish(used, before int64) error {
	if w.next == w.first {
		return nil
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(w.next))
	if err := w.meta.Put(keyBlobNext, v[:]); err != nil {
		return err
	}
	return setBlobBytes(w.meta, used)
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
// once from the index and the counter written.
func openBlobs(tx *bolt.Tx) (int64, error) {
	index, err := tx.CreateBucketIfNotExists(bucketBlobIndex)
	if err != nil {
		return 0, err
	}
	if _, err := tx.CreateBucketIfNotExists(bucketBlobChunks); err != nil {
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
	err = index.ForEach(func(k, v []byte) error {
		var sum [32]byte
		copy(sum[:], k)
		r, err := decodeBlobRef(sum, v)
		n += int64(r.size)
		return err
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
