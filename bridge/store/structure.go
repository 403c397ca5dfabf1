package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The structure check below reads bbolt's page graph with plain reads,
// before bbolt walks it. bbolt trusts its file: it follows a branch
// page's child pointers recursively and checks only that the page it
// lands on carries that page's number. A pointer damaged into one of its
// own ancestors passes that check and sends every cursor into an endless
// descent, which grows the stack or the cursor's path until the process
// dies; no recover catches that. bbolt offers no safe reader (its own
// Tx.Check walks the same way, on a goroutine of its own), so this one
// knows exactly as much of the format as it needs: the meta pages and the
// branch and leaf page layout of bbolt's file format version 2, which
// bbolt has kept since 2014. Every read is bounded by the file's size.

const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	elementSize      = 16 // branch and leaf page elements alike
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)
	maxTreeDepth     = 64
	maxBucketNesting = 16
)

// boltMeta is the part of a meta page the check uses.
type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// parseMeta decodes and validates the meta page in b (at least 80 bytes).
func parseMeta(b []byte) (boltMeta, bool) {
	if len(b) < 80 {
		return boltMeta{}, false
	}
	le := binary.LittleEndian
	m := b[pageHeaderSize:]
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]),
		pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, true
}

// checkFileStructure is checkStructure on the file at path.
func checkFileStructure(path string, full bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return checkStructure(f, full)
}

// checkStructure checks the page graph of the bbolt file f: the meta bbolt
// uses fits the file, and every tree reachable from it (the root bucket
// and every bucket in it) is a tree: no page referenced twice, none out of
// range, none of the wrong kind, no deeper than maxTreeDepth. It reads the
// branch pages, the first data leaf's header under each of them and the
// leaves of the root bucket, not the data leaves: a few reads per
// hundred pages. (Left unseen: a data-leaf pointer damaged into a freed
// branch page; walking into it ends at its own leaves unless that page's
// children were reused as an ancestor, two coincidences on top of the
// damage.)
// A file whose meta pages are both invalid is left to bbolt to refuse.
// full (the offline check) also reads every leaf and the freelist and
// checks that every key and value lies inside its page: enough for
// bbolt's own Tx.Check to read the file without faulting.
func checkStructure(f *os.File, full bool) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	meta, ok := chooseMeta(f, size)
	if !ok {
		return nil
	}
	ps := int64(meta.pageSize)
	if ps < 512 || ps > 1<<24 || ps&(ps-1) != 0 {
		return fmt.Errorf("page size %d is not a power of two between 512 and 16 MiB", ps)
	}
	if meta.pgid < 3 || meta.pgid > uint64(size/ps) {
		return fmt.Errorf("the file is %d bytes, but its meta page counts %d pages of %d bytes (%d bytes): truncated",
			size, meta.pgid, ps, meta.pgid*uint64(ps))
	}
	if meta.freelist != noFreelist && (meta.freelist < 2 || meta.freelist >= meta.pgid) {
		return fmt.Errorf("freelist page %d is out of range [2, %d)", meta.freelist, meta.pgid)
	}
	w := &walker{f: f, ps: ps, high: meta.pgid, seen: make([]uint64, (meta.pgid+63)/64), full: full}
	var free []uint64
	if meta.freelist != noFreelist {
		if free, err = w.freelist(meta.freelist); err != nil {
			return err
		}
	}
	if err := w.tree(meta.root, true, 0); err != nil {
		return err
	}
	// A page both in a tree and on the freelist would be handed out again
	// by the next commit, which then overwrites live data (and can make
	// the tree loop).
	for _, id := range free {
		if !w.mark(id) {
			return fmt.Errorf("page %d is on the freelist but in use", id)
		}
	}
	return nil
}

// chooseMeta picks the meta page bbolt would use: the valid one with the
// higher transaction ID. The page size comes from the first valid meta.
func chooseMeta(f *os.File, size int64) (boltMeta, bool) {
	buf := make([]byte, 80)
	read := func(off int64) (boltMeta, bool) {
		if off+80 > size {
			return boltMeta{}, false
		}
		if _, err := f.ReadAt(buf, off); err != nil {
			return boltMeta{}, false
		}
		return parseMeta(buf)
	}
	m0, ok0 := read(0)
	ps := int64(m0.pageSize)
	if !ok0 {
		// As bbolt does: look for the second meta at every page size.
		for i := range 15 {
			if m, ok := read(1024 << i); ok {
				ps = int64(m.pageSize)
				break
			}
		}
	}
	if ps <= 0 {
		return boltMeta{}, false
	}
	m1, ok1 := read(ps)
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		return m1, true
	case ok0:
		return m0, true
	}
	return boltMeta{}, false
}

// walker walks bbolt trees, marking every page it meets in seen.
type walker struct {
	f    *os.File
	ps   int64
	high uint64   // pages below this exist
	seen []uint64 // bitmap of referenced pages
	full bool     // read every page (the offline check)
}

// freelistPageFlag marks bbolt's freelist page.
const freelistPageFlag = 0x10

// freelist reads the freelist page id (marking it and its overflow as
// referenced) and returns the free page ids it lists, checked: in range
// and strictly increasing, as bbolt writes them.
func (w *walker) freelist(id uint64) ([]uint64, error) {
	flags, count, overflow, err := w.header(id)
	if err != nil {
		return nil, err
	}
	if flags != freelistPageFlag {
		return nil, fmt.Errorf("freelist page %d has flags %#x", id, flags)
	}
	for i := uint64(0); i <= uint64(overflow); i++ {
		w.mark(id + i)
	}
	b, err := w.page(id, overflow)
	if err != nil {
		return nil, err
	}
	n, off := uint64(count), uint64(pageHeaderSize)
	if count == 0xFFFF { // the real count is the first element
		if len(b) < pageHeaderSize+8 {
			return nil, fmt.Errorf("freelist page %d is cut short", id)
		}
		n, off = binary.LittleEndian.Uint64(b[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > (uint64(len(b))-off)/8 {
		return nil, fmt.Errorf("freelist page %d lists %d pages, more than fit in it", id, n)
	}
	free := make([]uint64, n)
	for i := range free {
		free[i] = binary.LittleEndian.Uint64(b[off+uint64(i)*8:])
		if free[i] < 2 || free[i] >= w.high {
			return nil, fmt.Errorf("freelist page %d lists page %d, out of range [2, %d)", id, free[i], w.high)
		}
		if i > 0 && free[i] <= free[i-1] {
			return nil, fmt.Errorf("freelist page %d is out of order at page %d", id, free[i])
		}
	}
	return free, nil
}

// mark records page id as referenced and reports whether it was new.
func (w *walker) mark(id uint64) bool {
	word, bit := id/64, uint64(1)<<(id%64)
	if w.seen[word]&bit != 0 {
		return false
	}
	w.seen[word] |= bit
	return true
}

// header reads the page header at id: its flags, element count and
// overflow (extra pages it spans).
func (w *walker) header(id uint64) (flags uint16, count uint16, overflow uint32, err error) {
	var h [pageHeaderSize]byte
	if _, err := w.f.ReadAt(h[:], int64(id)*w.ps); err != nil {
		return 0, 0, 0, fmt.Errorf("page %d: %w", id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(h[0:]); got != id {
		return 0, 0, 0, fmt.Errorf("page %d says it is page %d", id, got)
	}
	flags, count, overflow = le.Uint16(h[8:]), le.Uint16(h[10:]), le.Uint32(h[12:])
	if uint64(overflow) >= w.high-id {
		return 0, 0, 0, fmt.Errorf("page %d overflows %d pages past the end (%d pages)", id, overflow, w.high)
	}
	return flags, count, overflow, nil
}

// maxReadPage bounds the pages the check reads whole (branch pages and
// the root bucket's leaves): far above any real one.
const maxReadPage = 16 << 20

// page reads the whole page id (with its overflow).
func (w *walker) page(id uint64, overflow uint32) ([]byte, error) {
	n := int64(overflow+1) * w.ps
	if n > maxReadPage {
		return nil, fmt.Errorf("page %d spans %d bytes, more than a branch page can", id, n)
	}
	b := make([]byte, n)
	if _, err := w.f.ReadAt(b, int64(id)*w.ps); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return b, nil
}

// tree checks the tree rooted at page root. leaves says whether its leaf
// pages are read for nested buckets (the root bucket's always are; a
// bucket's own data leaves are not, which keeps the check to the branch
// pages and page headers). nesting counts buckets within buckets.
func (w *walker) tree(root uint64, leaves bool, nesting int) error {
	leaves = leaves || w.full
	if nesting > maxBucketNesting {
		return fmt.Errorf("buckets nested more than %d deep", maxBucketNesting)
	}
	type visit struct {
		id    uint64
		depth int
	}
	if root < 2 || root >= w.high {
		return fmt.Errorf("bucket root page %d is out of range [2, %d)", root, w.high)
	}
	if !w.mark(root) {
		return fmt.Errorf("page %d is referenced twice", root)
	}
	stack := []visit{{root, 0}}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		flags, count, overflow, err := w.header(v.id)
		if err != nil {
			return err
		}
		switch flags {
		case branchPageFlag:
			if v.depth >= maxTreeDepth {
				return fmt.Errorf("page %d: tree deeper than %d levels", v.id, maxTreeDepth)
			}
			b, err := w.page(v.id, overflow)
			if err != nil {
				return err
			}
			if pageHeaderSize+int(count)*elementSize > len(b) {
				return fmt.Errorf("branch page %d: %d elements do not fit", v.id, count)
			}
			// bbolt's trees are balanced: when the first child is a data
			// leaf, so are its siblings, and they are only counted (a
			// pointer among them damaged into a page of the tree is a
			// second reference). Reading every leaf's header would cost a
			// read per page at every start.
			siblingsAreLeaves := false
			if !leaves && !w.full && count > 0 {
				first := binary.LittleEndian.Uint64(b[pageHeaderSize+8:])
				if first >= 2 && first < w.high {
					if f, _, _, err := w.header(first); err == nil && f == leafPageFlag {
						siblingsAreLeaves = true
					}
				}
			}
			for i := range int(count) {
				off := pageHeaderSize + i*elementSize
				if w.full {
					pos, ksize := binary.LittleEndian.Uint32(b[off:]), binary.LittleEndian.Uint32(b[off+4:])
					if uint64(off)+uint64(pos)+uint64(ksize) > uint64(len(b)) {
						return fmt.Errorf("branch page %d: key %d runs past the page", v.id, i)
					}
				}
				child := binary.LittleEndian.Uint64(b[off+8:])
				if child < 2 || child >= w.high {
					return fmt.Errorf("branch page %d points at page %d, out of range [2, %d)", v.id, child, w.high)
				}
				if !w.mark(child) {
					return fmt.Errorf("page %d is referenced twice (again from branch page %d)", child, v.id)
				}
				if !siblingsAreLeaves || i == 0 {
					stack = append(stack, visit{child, v.depth + 1})
				}
			}
		case leafPageFlag:
			if !leaves {
				continue
			}
			b, err := w.page(v.id, overflow)
			if err != nil {
				return err
			}
			if err := w.leaf(v.id, b, count, nesting); err != nil {
				return err
			}
		default:
			return fmt.Errorf("page %d has flags %#x, neither a branch nor a leaf", v.id, flags)
		}
	}
	return nil
}

// leaf checks the bucket entries of the leaf page (or inline page) b:
// each nested bucket's tree, or its inline page.
func (w *walker) leaf(id uint64, b []byte, count uint16, nesting int) error {
	le := binary.LittleEndian
	if pageHeaderSize+int(count)*elementSize > len(b) {
		return fmt.Errorf("leaf page %d: %d elements do not fit", id, count)
	}
	for i := range int(count) {
		off := pageHeaderSize + i*elementSize
		flags, pos, ksize, vsize := le.Uint32(b[off:]), le.Uint32(b[off+4:]), le.Uint32(b[off+8:]), le.Uint32(b[off+12:])
		start := uint64(off) + uint64(pos) + uint64(ksize)
		end := start + uint64(vsize)
		if end > uint64(len(b)) {
			return fmt.Errorf("leaf page %d: element %d runs past the page", id, i)
		}
		if flags&bucketLeafFlag == 0 {
			continue
		}
		v := b[start:end]
		if len(v) < 16 {
			return fmt.Errorf("leaf page %d: bucket entry %d is %d bytes", id, i, len(v))
		}
		if root := le.Uint64(v); root != 0 {
			// The root bucket's buckets are walked down to their leaves'
			// headers; buckets nested in them are not looked for.
			if err := w.tree(root, false, nesting+1); err != nil {
				return err
			}
			continue
		}
		// An inline bucket: a leaf page inside the value.
		in := v[16:]
		if len(in) < pageHeaderSize || le.Uint16(in[8:]) != leafPageFlag {
			return fmt.Errorf("leaf page %d: inline bucket %d is not a leaf page", id, i)
		}
		if nesting+1 > maxBucketNesting {
			return fmt.Errorf("buckets nested more than %d deep", maxBucketNesting)
		}
		if err := w.leaf(id, in, le.Uint16(in[10:]), nesting+1); err != nil {
			return err
		}
	}
	return nil
}
