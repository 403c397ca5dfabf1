package fusefs

import (
	"context"
	"hash/fnv"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
)

// immutableTimeout is how long the kernel may cache entries and attributes
// that can never change (history and events). current/ uses zero.
const immutableTimeout = time.Hour

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
	if name != "current" {
		out.SetEntryTimeout(immutableTimeout)
		out.SetAttrTimeout(0) // listing grows; mtime is not cached
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
	if !d.view.Live() {
		out.SetEntryTimeout(immutableTimeout)
		out.SetAttrTimeout(immutableTimeout)
	}
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
	if !d.view.Live() {
		out.SetTimeout(immutableTimeout)
	}
	return 0
}

func (d *dir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	d.m.count(&d.m.ops.Readdir)
	entries, ok := d.view.ReadDir(d.path)
	if !ok {
		return nil, syscall.ENOENT
	}
	tag := d.tag()
	list := make([]fuse.DirEntry, len(entries))
	for i, e := range entries {
		if e.Kind == shadow.KindDir {
			list[i] = fuse.DirEntry{Name: e.Name, Mode: modeDir, Ino: ino(tag, "d", d.child(e.Name))}
		} else {
			list[i] = fuse.DirEntry{Name: e.Name, Mode: modeFile, Ino: ino(tag, "f", d.child(e.Name))}
		}
	}
	return fs.NewListDirStream(list), 0
}

func (d *dir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d.m.count(&d.m.ops.Lookup)
	p := d.child(name)
	e, ok := d.view.Stat(p)
	if !ok {
		return nil, syscall.ENOENT
	}
	tag := d.tag()
	d.timeouts(out)
	if e.Kind == shadow.KindDir {
		id := ino(tag, "d", p)
		d.m.setAttr(&out.Attr, e, id)
		return d.NewInode(ctx, &dir{m: d.m, view: d.view, path: p}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: id}), 0
	}
	id := ino(tag, "f", p)
	d.m.setAttr(&out.Attr, e, id)
	return d.NewInode(ctx, &file{m: d.m, view: d.view, path: p}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: id}), 0
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
	if h, ok := fh.(*handle); ok {
		// fstat on an open file describes what that descriptor reads.
		f.m.setAttr(&out.Attr, h.f.Entry, f.id())
		return 0
	}
	e, ok := f.view.Stat(f.path)
	if !ok || e.Kind != shadow.KindFile {
		return syscall.ENOENT
	}
	f.m.setAttr(&out.Attr, e, f.id())
	if !f.view.Live() {
		out.SetTimeout(immutableTimeout)
	}
	return 0
}

const writeFlags = syscall.O_WRONLY | syscall.O_RDWR | syscall.O_TRUNC | syscall.O_APPEND | syscall.O_CREAT

func (f *file) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	f.m.count(&f.m.ops.Open)
	if flags&writeFlags != 0 {
		f.m.count(&f.m.ops.Denied)
		return nil, 0, syscall.EROFS
	}
	sf, ok := f.view.Read(f.path)
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	var fuseFlags uint32
	if !f.view.Live() {
		// A history version never changes: let the page cache keep it.
		fuseFlags = fuse.FOPEN_KEEP_CACHE
	}
	return &handle{m: f.m, f: sf}, fuseFlags, 0
}

// handle is an open file: the version current at open time, so one read
// of a file never mixes two versions.
type handle struct {
	m *FS
	f shadow.File
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.m.count(&h.m.ops.Read)
	c := h.f.Content
	if off >= int64(len(c)) {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), int64(len(c)))
	h.m.ops.ReadBytes.Add(uint64(end - off))
	return fuse.ReadResultData(c[off:end]), 0
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
	out.SetEntryTimeout(immutableTimeout)
	out.SetAttrTimeout(immutableTimeout)
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
	f := shadow.File{Entry: shadow.Entry{Name: name, Kind: shadow.KindFile, Size: int64(len(re.JSON)), ModTime: re.Time, Seq: re.Seq}, Content: re.JSON}
	e.m.setAttr(&out.Attr, f.Entry, id)
	out.SetEntryTimeout(0) // the event may leave the ring
	out.SetAttrTimeout(immutableTimeout)
	return e.NewInode(ctx, &eventFile{m: e.m, f: f, id: id}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: id}), 0
}

// eventFile is one event of the ring; its bytes never change.
type eventFile struct {
	fs.Inode
	readOnly
	m  *FS
	f  shadow.File
	id uint64
}

func (e *eventFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e.m.count(&e.m.ops.Getattr)
	e.m.setAttr(&out.Attr, e.f.Entry, e.id)
	out.SetTimeout(immutableTimeout)
	return 0
}

func (e *eventFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	e.m.count(&e.m.ops.Open)
	if flags&writeFlags != 0 {
		e.m.count(&e.m.ops.Denied)
		return nil, 0, syscall.EROFS
	}
	return &handle{m: e.m, f: e.f}, fuse.FOPEN_KEEP_CACHE, 0
}

var (
	_ fs.NodeLookuper  = (*root)(nil)
	_ fs.NodeReaddirer = (*dir)(nil)
	_ fs.NodeOpener    = (*file)(nil)
	_ fs.NodeSetattrer = (*file)(nil)
	_ fs.NodeCreater   = (*dir)(nil)
	_ fs.NodeRenamer   = (*dir)(nil)
	_ fs.NodeUnlinker  = (*dir)(nil)
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileFlusher   = (*handle)(nil)
	_ fs.NodeOpener    = (*eventFile)(nil)
	_ fs.NodeGetattrer = (*historyDir)(nil)
)
