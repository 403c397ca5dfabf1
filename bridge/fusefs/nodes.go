package fusefs

import (
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"io"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
)

// cacheTimeout is how long the kernel may cache entries and attributes.
// Those of history/ and events/ never change. Those of current/ change
// with every shadow write, and FS.invalidate tells the kernel to drop
// them before the write is answered, so it may keep them until then.
const cacheTimeout = time.Hour

const (
	modeFile = syscall.S_IFREG | 0o444
	modeDir  = syscall.S_IFDIR | 0o555
)

// ino derives a stable inode number from what a node shows, so repeated
// lookups find the same kernel inode and a path that turns from file into
// directory gets a new one.
func ino(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64() | 1<<63 // never 0 or 1 (the root)
}

// readOnly answers EROFS to every operation that would change the tree.
// Every node embeds it; the kernel answers first on a MS_RDONLY mount, but
// a fusermount fallback mount is not read-only by itself.
type readOnly struct{}

func (readOnly) Setattr(context.Context, fs.FileHandle, *fuse.SetAttrIn, *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}
func (readOnly) Setxattr(context.Context, string, []byte, uint32) syscall.Errno { return syscall.EROFS }
func (readOnly) Removexattr(context.Context, string) syscall.Errno              { return syscall.EROFS }

// Getxattr and Listxattr answer ENOSYS: the view has no extended
// attributes, and the kernel, told so once, marks the whole mount as
// without them and answers EOPNOTSUPP itself from then on. ENODATA (no
// such attribute) made it ask again for every file: ls -l cost three
// round trips per entry instead of one.
func (readOnly) Getxattr(context.Context, string, []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}
func (readOnly) Listxattr(context.Context, []byte) (uint32, syscall.Errno) { return 0, syscall.ENOSYS }
func (readOnly) Mkdir(context.Context, string, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnly) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnly) Link(context.Context, fs.InodeEmbedder, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnly) Symlink(context.Context, string, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnly) Create(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}
func (readOnly) Unlink(context.Context, string) syscall.Errno { return syscall.EROFS }
func (readOnly) Rmdir(context.Context, string) syscall.Errno  { return syscall.EROFS }
func (readOnly) Rename(context.Context, string, fs.InodeEmbedder, string, uint32) syscall.Errno {
	return syscall.EROFS
}

// setAttr fills the kernel attributes for an entry of the projection.
func (m *FS) setAttr(a *fuse.Attr, e shadow.Entry, ino uint64) {
	a.Ino = ino
	if e.Kind == shadow.KindDir {
		a.Mode = modeDir
		a.Nlink = 2
	} else {
		a.Mode = modeFile
		a.Nlink = 1
		a.Size = uint64(e.Size)
		a.Blocks = (a.Size + 511) / 512
	}
	a.Blksize = 4096
	a.Uid, a.Gid = m.uid, m.gid
	t := e.ModTime
	a.SetTimes(&t, &t, &t)
}

// root is the mount's top directory with its three fixed children.
type root struct {
	fs.Inode
	readOnly
	m *FS
}

var rootNames = []string{"current", "events", "history"}

// rootChildIno keeps current/ on the same inode number its own Getattr
// reports.
func rootChildIno(name string) uint64 {
	if name == "current" {
		return ino("c", "d", "")
	}
	return ino("root", name)
}

func (r *root) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	r.m.count(&r.m.ops.Getattr)
	r.m.setAttr(&out.Attr, shadow.Entry{Kind: shadow.KindDir, ModTime: r.m.started}, 1)
	return 0
}

func (r *root) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	r.m.count(&r.m.ops.Readdir)
	list := make([]fuse.DirEntry, len(rootNames))
	for i, n := range rootNames {
		list[i] = fuse.DirEntry{Name: n, Mode: modeDir, Ino: rootChildIno(n)}
	}
	return fs.NewListDirStream(list), 0
}

func (r *root) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	r.m.count(&r.m.ops.Lookup)
	var node fs.InodeEmbedder
	switch name {
	case "current":
		node = &dir{m: r.m, view: r.m.proj.Current()}
	case "history":
		node = &historyDir{m: r.m}
	case "events":
		node = &eventsDir{m: r.m}
	default:
		return nil, syscall.ENOENT
	}
	id := rootChildIno(name)
	r.m.setAttr(&out.Attr, shadow.Entry{Kind: shadow.KindDir, ModTime: r.m.started}, id)
	out.SetEntryTimeout(cacheTimeout)
	if name == "current" {
		e, _ := r.m.proj.Current().Stat("")
		r.m.setAttr(&out.Attr, shadow.Entry{Kind: shadow.KindDir, ModTime: r.m.viewTime(r.m.proj.Current()), Seq: e.Seq}, id)
		out.SetAttrTimeout(cacheTimeout) // invalidated with every change of the tree
	} else {
		out.SetAttrTimeout(0) // listing grows; mtime is not cached
	}
	if ch := r.GetChild(name); ch != nil && ch.StableAttr().Ino == id {
		return ch, 0
	}
	if name == "current" {
		r.m.nodeAdded() // a dir, counted like those below it
	}
	return r.NewInode(ctx, node, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: id}), 0
}

// dir is a directory of a projection view: current/... or history/<seq>/...
type dir struct {
	fs.Inode
	readOnly
	m    *FS
	view shadow.View
	path string // project-relative, "" for the view's root
}

func (d *dir) tag() string {
	if d.view.Live() {
		return "c"
	}
	return "h" + strconv.FormatUint(d.view.Seq(), 10)
}

func (d *dir) child(name string) string {
	if d.path == "" {
		return name
	}
	return d.path + "/" + name
}

func (d *dir) timeouts(out interface {
	SetEntryTimeout(time.Duration)
	SetAttrTimeout(time.Duration)
}) {
	out.SetEntryTimeout(cacheTimeout)
	out.SetAttrTimeout(cacheTimeout)
}

func (d *dir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.m.count(&d.m.ops.Getattr)
	e, ok := d.view.Stat(d.path)
	if !ok || e.Kind != shadow.KindDir {
		return syscall.ENOENT
	}
	if d.path == "" {
		e.ModTime = d.m.viewTime(d.view)
	}
	d.m.setAttr(&out.Attr, e, ino(d.tag(), "d", d.path))
	out.SetTimeout(cacheTimeout)
	return 0
}

// OpendirHandle opens the directory for listing. The kernel may keep
// the listing (FOPEN_CACHE_DIR): listing it again costs no request. A
// directory of history/ never changes; one of current/ is dropped from
// the cache when an entry comes or goes (FS.invalidate).
func (d *dir) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{d: d}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

// dirChunk is how many entries an open directory holds at a time.
const dirChunk = 256

// dirHandle is an open directory of a view. It reads the listing in
// chunks of dirChunk entries, each with its entries' attributes, so an
// open directory holds little memory however large it is, and the
// lookups READDIRPLUS makes for each entry (Lookup below) need no second
// visit to the projection.
type dirHandle struct {
	d     *dir
	after string         // the last name read from the projection
	buf   []shadow.Entry // read, not yet returned
	done  bool           // the listing is exhausted
	last  shadow.Entry   // the entry returned last
	off   uint64         // its offset: entries returned so far
}

// Readdirent returns the next entry; its offset is its position from
// one, which Seekdir takes back.
func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if len(h.buf) == 0 && !h.done {
		if h.off == 0 && h.after == "" {
			h.d.m.count(&h.d.m.ops.Readdir)
		}
		chunk, ok := h.d.view.ReadDirAfter(h.d.path, h.after, dirChunk)
		if !ok && h.off == 0 {
			return nil, syscall.ENOENT
		}
		h.buf, h.done = chunk, len(chunk) == 0
		if len(chunk) > 0 {
			h.after = chunk[len(chunk)-1].Name
		}
	}
	if len(h.buf) == 0 {
		return nil, 0
	}
	h.last, h.buf = h.buf[0], h.buf[1:]
	h.off++
	kind, mode := "f", uint32(modeFile)
	if h.last.Kind == shadow.KindDir {
		kind, mode = "d", modeDir
	}
	return &fuse.DirEntry{Name: h.last.Name, Mode: mode, Ino: ino(h.d.tag(), kind, h.d.child(h.last.Name)), Off: h.off}, 0
}

// Seekdir restarts the listing and skips to offset off (a rewinddir, or
// a seekdir to an offset readdir gave).
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.after, h.buf, h.done, h.off = "", nil, false, 0
	for h.off < off {
		de, errno := h.Readdirent(ctx)
		if errno != 0 {
			return errno
		}
		if de == nil {
			break
		}
	}
	return 0
}

func (h *dirHandle) Releasedir(ctx context.Context, flags uint32) {}

// Lookup answers READDIRPLUS's lookup of the entry just listed from the
// listing itself; any other name goes to the directory.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if h.off > 0 && h.last.Name == name {
		h.d.m.count(&h.d.m.ops.Lookup)
		return h.d.entryNode(ctx, name, h.last, out), 0
	}
	return h.d.Lookup(ctx, name, out)
}

func (d *dir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d.m.count(&d.m.ops.Lookup)
	e, ok := d.view.Stat(d.child(name))
	if hook := d.m.testHookLookup.Load(); hook != nil {
		(*hook)(d.child(name))
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	return d.entryNode(ctx, name, e, out), 0
}

// entryNode fills out for the child name described by e and returns its
// node: the one the kernel already has, or a new one.
func (d *dir) entryNode(ctx context.Context, name string, e shadow.Entry, out *fuse.EntryOut) *fs.Inode {
	p := d.child(name)
	tag := d.tag()
	d.timeouts(out)
	kind, mode := "f", uint32(syscall.S_IFREG)
	if e.Kind == shadow.KindDir {
		kind, mode = "d", syscall.S_IFDIR
	}
	id := ino(tag, kind, p)
	d.m.setAttr(&out.Attr, e, id)
	// The kernel asks again for a node it already has (READDIRPLUS lists
	// every entry with its attributes): reuse it rather than build one
	// for go-fuse to throw away.
	if ch := d.GetChild(name); ch != nil && ch.StableAttr().Ino == id {
		return ch
	}
	d.m.nodeAdded()
	if kind == "d" {
		return d.NewInode(ctx, &dir{m: d.m, view: d.view, path: p}, fs.StableAttr{Mode: mode, Ino: id})
	}
	return d.NewInode(ctx, &file{m: d.m, view: d.view, path: p}, fs.StableAttr{Mode: mode, Ino: id})
}

// OnForget: the kernel dropped the node.
func (d *dir) OnForget() { d.m.nodes.Add(-1) }

// OnForget: the kernel dropped the node.
func (f *file) OnForget() { f.m.nodes.Add(-1) }

// DefaultMaxNodes bounds the nodes of current/ and history/ the view keeps
// for the kernel: about 450 bytes of the bridge's memory each, so 200,000
// are about 90 MiB. Every node the kernel has looked up or listed stays
// until the kernel forgets it, which it does only under its own memory
// pressure, not the bridge's: past the bound the view asks it to drop
// what it caches of history/, then of current/ (prune).
const DefaultMaxNodes = 200_000

func (m *FS) nodeLimit() int64 {
	if n := m.maxNodes.Load(); n > 0 {
		return n
	}
	return DefaultMaxNodes
}

// nodeAdded counts a new node and starts a prune when there are too many.
func (m *FS) nodeAdded() {
	if m.nodes.Add(1) > m.nodeLimit() && m.pruning.CompareAndSwap(false, true) {
		go m.prune()
	}
}

// prune asks the kernel to drop its entries under history/<seq>/, and if
// that is not enough those under current/: it forgets the nodes below
// them (OnForget) as it evicts them. Only cached entries go; anything in
// use (an open file, a working directory) stays. It runs on its own
// goroutine, one at a time, once a second while the nodes are over three
// quarters of the bound, for at most ten rounds (a later node starts it
// again); it invalidates entries the way invalidate does, holding nothing
// a request needs.
func (m *FS) prune() {
	defer m.pruning.Store(false)
	low := func() bool { return m.nodes.Load() <= m.nodeLimit()*3/4 }
	for round := 0; round < 10 && !low(); round++ {
		before := m.nodes.Load()
		for _, top := range []string{"history", "current"} {
			if low() {
				break
			}
			n := m.top.GetChild(top)
			if n == nil {
				continue
			}
			for name := range n.Children() {
				n.NotifyEntry(name)
			}
		}
		m.log.Warn("FUSE view: the kernel held too many of the view's entries; asked it to drop them",
			"nodes_before", before, "nodes_after", m.nodes.Load(), "limit", m.nodeLimit())
		if !low() {
			time.Sleep(time.Second)
		}
	}
}

// file is one shadow file of a view. In current/ the same node shows
// whatever the latest version is at each call.
type file struct {
	fs.Inode
	readOnly
	m    *FS
	view shadow.View
	path string
}

func (f *file) id() uint64 {
	if f.view.Live() {
		return ino("c", "f", f.path)
	}
	return ino("h"+strconv.FormatUint(f.view.Seq(), 10), "f", f.path)
}

func (f *file) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.m.count(&f.m.ops.Getattr)
	// fh is ignored: the kernel passes none for stat or fstat, and the
	// one go-fuse then substitutes is any open handle of the file, whose
	// version may be older than the path's.
	e, ok := f.view.Stat(f.path)
	if !ok || e.Kind != shadow.KindFile {
		return syscall.ENOENT
	}
	f.m.setAttr(&out.Attr, e, f.id())
	out.SetTimeout(cacheTimeout)
	return 0
}

const writeFlags = syscall.O_WRONLY | syscall.O_RDWR | syscall.O_TRUNC | syscall.O_APPEND | syscall.O_CREAT

func (f *file) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	f.m.count(&f.m.ops.Open)
	if flags&writeFlags != 0 {
		f.m.count(&f.m.ops.Denied)
		return nil, 0, syscall.EROFS
	}
	sf, err := f.view.Open(f.path)
	switch {
	case errors.Is(err, shadow.ErrNotFound):
		return nil, 0, syscall.ENOENT
	case err != nil:
		f.m.log.Error("FUSE open: shadow content unreadable", "path", f.path, "error", err)
		return nil, 0, syscall.EIO
	}
	// A history version never changes: let the page cache keep it. In
	// current/ each open reads the version current at open time to its
	// end, whatever comes later, so reads bypass the page cache (whose
	// file size is the inode's, shared with later opens and with stat).
	fuseFlags := uint32(fuse.FOPEN_KEEP_CACHE)
	if f.view.Live() {
		fuseFlags = fuse.FOPEN_DIRECT_IO
	}
	return &handle{m: f.m, e: sf.Entry, r: sf}, fuseFlags, 0
}

// handle is an open file: the version current at open time, so one read
// of a file never mixes two versions. Reads go to the store (a shadow
// file) or to the event's bytes (events/), into go-fuse's buffer: no copy
// of the whole file is ever made.
type handle struct {
	m *FS
	e shadow.Entry
	r io.ReaderAt
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.m.count(&h.m.ops.Read)
	if off < 0 || off >= h.e.Size {
		return fuse.ReadResultData(nil), 0
	}
	dest = dest[:min(int64(len(dest)), h.e.Size-off)]
	n, err := h.r.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		h.m.log.Error("FUSE read: shadow content unreadable", "error", err)
		return nil, syscall.EIO
	}
	h.m.ops.ReadBytes.Add(uint64(n))
	return fuse.ReadResultData(dest[:n]), 0
}

// Flush answers ENOSYS: there is nothing to flush in a read-only view, and
// the kernel then stops sending FLUSH at all, saving a round trip on every
// close.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return syscall.ENOSYS }

// historyDir lists one directory per shadow change and resolves any
// applied sequence, listed or not.
type historyDir struct {
	fs.Inode
	readOnly
	m *FS
}

func (h *historyDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	h.m.count(&h.m.ops.Getattr)
	h.m.setAttr(&out.Attr, shadow.Entry{Kind: shadow.KindDir, ModTime: h.m.viewTime(h.m.proj.Current())}, ino("root", "history"))
	return 0
}

func (h *historyDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	h.m.count(&h.m.ops.Readdir)
	seqs := h.m.proj.Changes()
	list := make([]fuse.DirEntry, len(seqs))
	for i, s := range seqs {
		list[i] = fuse.DirEntry{Name: strconv.FormatUint(s, 10), Mode: modeDir, Ino: ino("h"+strconv.FormatUint(s, 10), "d", "")}
	}
	return fs.NewListDirStream(list), 0
}

func (h *historyDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	h.m.count(&h.m.ops.Lookup)
	seq, err := strconv.ParseUint(name, 10, 64)
	if err != nil || strconv.FormatUint(seq, 10) != name {
		return nil, syscall.ENOENT
	}
	v, err := h.m.proj.At(seq)
	if err != nil {
		return nil, syscall.ENOENT // not yet: do not cache the miss
	}
	id := ino("h"+name, "d", "")
	h.m.setAttr(&out.Attr, shadow.Entry{Kind: shadow.KindDir, ModTime: h.m.viewTime(v)}, id)
	out.SetEntryTimeout(cacheTimeout)
	out.SetAttrTimeout(cacheTimeout)
	if ch := h.GetChild(name); ch != nil && ch.StableAttr().Ino == id {
		return ch, 0
	}
	h.m.nodeAdded()
	return h.NewInode(ctx, &dir{m: h.m, view: v}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: id}), 0
}

// eventsDir shows the projection's ring of recent events, those whose
// type every agent may read (Options.ShowEvent).
type eventsDir struct {
	fs.Inode
	readOnly
	m *FS
}

func (e *eventsDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e.m.count(&e.m.ops.Getattr)
	e.m.setAttr(&out.Attr, shadow.Entry{Kind: shadow.KindDir, ModTime: e.m.viewTime(e.m.proj.Current())}, ino("root", "events"))
	return 0
}

func (e *eventsDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	e.m.count(&e.m.ops.Readdir)
	rec := e.m.proj.Recent()
	list := make([]fuse.DirEntry, 0, len(rec))
	for _, r := range rec {
		if e.m.shows(r) {
			list = append(list, fuse.DirEntry{Name: strconv.FormatUint(r.Seq, 10) + ".json", Mode: modeFile, Ino: ino("e", strconv.FormatUint(r.Seq, 10))})
		}
	}
	return fs.NewListDirStream(list), 0
}

func (e *eventsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	e.m.count(&e.m.ops.Lookup)
	num, ok := strings.CutSuffix(name, ".json")
	seq, err := strconv.ParseUint(num, 10, 64)
	if !ok || err != nil || strconv.FormatUint(seq, 10) != num {
		return nil, syscall.ENOENT
	}
	re, found := e.m.proj.RecentEvent(seq)
	if !found || !e.m.shows(re) {
		return nil, syscall.ENOENT
	}
	id := ino("e", num)
	f := eventFile{m: e.m, e: shadow.Entry{Name: name, Kind: shadow.KindFile, Size: int64(len(re.JSON)), ModTime: re.Time, Seq: re.Seq}, json: re.JSON, id: id}
	e.m.setAttr(&out.Attr, f.e, id)
	out.SetEntryTimeout(0) // the event may leave the ring
	out.SetAttrTimeout(cacheTimeout)
	return e.NewInode(ctx, &f, fs.StableAttr{Mode: syscall.S_IFREG, Ino: id}), 0
}

// eventFile is one event of the ring; its bytes never change.
type eventFile struct {
	fs.Inode
	readOnly
	m    *FS
	e    shadow.Entry
	json []byte
	id   uint64
}

func (e *eventFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e.m.count(&e.m.ops.Getattr)
	e.m.setAttr(&out.Attr, e.e, e.id)
	out.SetTimeout(cacheTimeout)
	return 0
}

func (e *eventFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	e.m.count(&e.m.ops.Open)
	if flags&writeFlags != 0 {
		e.m.count(&e.m.ops.Denied)
		return nil, 0, syscall.EROFS
	}
	return &handle{m: e.m, e: e.e, r: bytes.NewReader(e.json)}, fuse.FOPEN_KEEP_CACHE, 0
}

// barrierName is a name no entry can have (one byte longer than
// shadow.MaxNameLen). Invalidating it in a directory changes nothing, but
// the kernel takes the directory's lock to do it, so it returns only once
// the lookups and listings in flight there have finished.
var barrierName = strings.Repeat("~", shadow.MaxNameLen+1)

// invalidate drops what the kernel caches of current/ for one change,
// normally before the change's writer is answered (the invalidator runs
// it for each change the projection's Watch reports, and the writer
// waits for it a bounded time): the file's attributes and
// pages; on a change of the tree, the times of its directories, the
// listings (FOPEN_CACHE_DIR) of the directories that gained or lost an
// entry, and the entries of what vanished.
//
// It walks down the path through the nodes the kernel knows (go-fuse's
// tree mirrors them). At each level it first waits for the requests in
// flight in the directory (see barrierName; invalidating a real entry
// waits the same way): one of them may have read the projection before
// the change, and what it brings to the kernel must be dropped after it
// arrives, not before.
//
// The kernel waits here for requests under current/, whose handlers read
// only the projection and the store's blobs, never anything the
// goroutine applying events holds: this cannot deadlock; and a request
// that never ends delays only the invalidator, not the appends.
func (m *FS) invalidate(c shadow.Change) {
	parent := m.top.GetChild("current")
	if parent == nil {
		return
	}
	// The state of the change itself: later changes may have been
	// applied by now, and come in their own turn.
	cur, err := m.proj.At(c.Seq)
	if err != nil {
		cur = m.proj.Current()
	}
	before, _ := m.proj.At(c.Seq - 1)
	if c.Tree {
		parent.NotifyContent(-1, 0) // current/'s own time
	}
	elems := strings.Split(c.Path, "/")
	p := ""
	for i, name := range elems {
		last := i == len(elems)-1
		if p == "" {
			p = name
		} else {
			p += "/" + name
		}
		if !last && !c.Tree {
			// A new version of a file: its directories did not change.
			if parent = parent.GetChild(name); parent == nil {
				return
			}
			continue
		}
		if c.Tree && (last || existed(before, p) != existed(cur, p)) {
			parent.NotifyEntry(name)   // waits, then drops the entry
			parent.NotifyContent(0, 0) // the listing and the times
		} else {
			parent.NotifyEntry(barrierName)
		}
		child := parent.GetChild(name)
		if child == nil {
			return
		}
		if last {
			child.NotifyContent(0, 0) // attributes and pages
			return
		}
		child.NotifyContent(-1, 0) // its time
		parent = child
	}
}

// existed reports whether p is a directory in v.
func existed(v shadow.View, p string) bool {
	e, ok := v.Stat(p)
	return ok && e.Kind == shadow.KindDir
}

var (
	_ fs.NodeLookuper       = (*root)(nil)
	_ fs.NodeOpendirHandler = (*dir)(nil)
	_ fs.NodeOnForgetter    = (*dir)(nil)
	_ fs.NodeOnForgetter    = (*file)(nil)
	_ fs.FileReaddirenter   = (*dirHandle)(nil)
	_ fs.FileSeekdirer      = (*dirHandle)(nil)
	_ fs.FileLookuper       = (*dirHandle)(nil)
	_ fs.FileReleasedirer   = (*dirHandle)(nil)
	_ fs.NodeOpener         = (*file)(nil)
	_ fs.NodeSetattrer      = (*file)(nil)
	_ fs.NodeCreater        = (*dir)(nil)
	_ fs.NodeRenamer        = (*dir)(nil)
	_ fs.NodeUnlinker       = (*dir)(nil)
	_ fs.FileReader         = (*handle)(nil)
	_ fs.FileFlusher        = (*handle)(nil)
	_ fs.NodeOpener         = (*eventFile)(nil)
	_ fs.NodeGetattrer      = (*historyDir)(nil)
	_ fs.NodeGetxattrer     = (*file)(nil)
	_ fs.NodeListxattrer    = (*dir)(nil)
)
