package shadow

import (
	"errors"
	"fmt"
	"slices"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// migrateBatchBytes bounds the content MigrateInline holds in memory
// before writing it: one transaction's worth.
const migrateBatchBytes = 32 << 20

// MigrateInline is the upgrade step for a log written before contents
// moved to blobs: its file_modified events carry the content inline. Apply
// records which versions came from such events; MigrateInline then makes
// sure st holds each of their contents as a blob, reading the events back
// one at a time and writing the contents in transactions of at most
// 32 MiB, so memory stays bounded whatever the size of the history. The
// old events themselves are left as they are (the log is append-only, and
// a backup of it restores as before). It is idempotent: contents already
// stored are skipped, so a restart after an interrupted upgrade simply
// continues. The server calls it after the replay, before serving; it
// returns how many contents and bytes it wrote.
func (p *Projection) MigrateInline(st *store.Store) (n int, bytes int64, err error) {
	type todo struct {
		seq  uint64
		blob uint32
		sum  [32]byte
	}
	p.mu.RLock()
	work := make([]todo, 0, len(p.inline))
	for bi, seq := range p.inline {
		work = append(work, todo{seq: seq, blob: bi, sum: p.blobHash[bi]})
	}
	p.mu.RUnlock()
	slices.SortFunc(work, func(a, b todo) int { return cmpU64(a.seq, b.seq) })

	var batch []store.Blob
	var batchBytes int64
	flush := func() error {
		if err := st.PutBlobs(batch...); err != nil {
			return fmt.Errorf("moving shadow contents of old events into the store: %w", err)
		}
		batch, batchBytes = nil, 0
		return nil
	}
	for _, w := range work {
		if _, err := st.BlobSize(w.sum); err == nil {
			continue
		} else if !errors.Is(err, store.ErrBlobNotFound) {
			return n, bytes, err
		}
		content, err := inlineContent(st, w.seq, w.sum)
		if err != nil {
			return n, bytes, err
		}
		batch = append(batch, store.NewBlob(content))
		batchBytes += int64(len(content))
		n++
		bytes += int64(len(content))
		if batchBytes >= migrateBatchBytes {
			if err := flush(); err != nil {
				return n, bytes, err
			}
		}
	}
	if err := flush(); err != nil {
		return n, bytes, err
	}
	p.mu.Lock()
	for _, w := range work {
		delete(p.inline, w.blob)
	}
	p.mu.Unlock()
	return n, bytes, nil
}

// inlineContent reads the content an old file_modified event at seq
// carries, checked against sum.
func inlineContent(st *store.Store, seq uint64, sum [32]byte) ([]byte, error) {
	var content []byte
	found := false
	err := st.ReadFrom(seq-1, func(e store.Event) error {
		if e.Sequence != seq {
			return store.ErrStop
		}
		found = true
		_, s, inline, err := decodeModified(e.Data)
		switch {
		case err != nil:
			return err
		case inline == nil || s != sum:
			return fmt.Errorf("no inline content with sha256 %x", sum)
		}
		content = inline
		return store.ErrStop
	})
	if err == nil && !found {
		err = errors.New("no such event")
	}
	if err != nil {
		return nil, fmt.Errorf("reading the content of old event %d: %w", seq, err)
	}
	return content, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
