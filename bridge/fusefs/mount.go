package fusefs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
)

// Options configure Mount. The zero value is the production setting.
type Options struct {
	// Name is the file-system type suffix shown in the mount table
	// ("fuse.<Name>"); default "lighthouse".
	Name string
	// Logger receives mount, stale-mount and unmount messages; default
	// slog.Default().
	Logger *slog.Logger
	// Debug logs every FUSE request (very verbose).
	Debug bool
	// HealthTimeout bounds the stat Healthy performs; default 2s.
	HealthTimeout time.Duration
	// InvalidateWait bounds how long a change of current/ waits for the
	// kernel to drop what it caches of it before the change's writer is
	// answered; default DefaultInvalidateWait. Past it the change is
	// answered anyway and the invalidation finishes later.
	InvalidateWait time.Duration
	// invalidateQueue is the invalidation queue's length (tests); 0
	// means invalidateQueue.
	invalidateQueue int
	// ShowEvent says which event types events/ shows. The view has no
	// agent identity (every local user reads it), so the Bridge shows the
	// types every agent may read (api.Server.PublicEventType). nil shows
	// none: default deny.
	ShowEvent func(eventType string) bool
}

// OpCounts are cumulative operation counters, for the server's metrics.
type OpCounts struct {
	Lookup, Getattr, Readdir, Open, Read atomic.Uint64
	ReadBytes                            atomic.Uint64
	Denied                               atomic.Uint64 // opens for writing refused with EROFS
}

// FS is a mounted FUSE view of a projection.
type FS struct {
	dir     string
	proj    *shadow.Projection
	server  *fuse.Server
	log     *slog.Logger
	timeout time.Duration
	show    func(string) bool
	uid     uint32
	gid     uint32
	started time.Time
	ops     OpCounts

	conn string // the connection's name in /sys/fs/fuse/connections

	unmountOnce sync.Once
	unmountErr  error

	top       *root        // the mount's root node
	stopWatch func()       // ends the invalidations (shadow.Projection.Watch)
	inv       *invalidator // runs them
	// testHookLookup, if set, runs in every lookup under a view after it
	// has read the projection; tests use it to hold a lookup in flight.
	testHookLookup atomic.Pointer[func(path string)]

	nodes    atomic.Int64 // nodes of current/ and history/ the kernel holds
	maxNodes atomic.Int64 // their bound; 0 means DefaultMaxNodes
	pruning  atomic.Bool  // a prune is running
}

// shows applies Options.ShowEvent to one entry of events/.
func (m *FS) shows(re shadow.RecentEvent) bool {
	return m.show != nil && re.Type != "" && m.show(re.Type)
}

// ErrBusy is returned by Mount when the mount point already carries a live
// FUSE mount, most likely another bridge: it is never taken over.
var ErrBusy = errors.New("mount point already has a live FUSE mount")

// Mount serves proj read-only at dir, creating dir if needed. A stale mount
// left at dir by a killed process is detached first (see ClearStale).
// go-fuse mounts with mount(2) directly (no fusermount needed when root)
// and falls back to fusermount when that fails. The file system is
// mounted with allow_other, so every user can read it.
func Mount(dir string, proj *shadow.Projection, opts Options) (*FS, error) {
	if opts.Name == "" {
		opts.Name = "lighthouse"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HealthTimeout == 0 {
		opts.HealthTimeout = 2 * time.Second
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fuse mount point %q: %w", dir, err)
	}
	if cleared, err := ClearStale(abs); err != nil {
		return nil, err
	} else if cleared {
		opts.Logger.Warn("cleared a stale FUSE mount left by a dead process", "mount_point", abs)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("fuse mount point: %w", err)
	}
	m := &FS{
		dir: abs, proj: proj, log: opts.Logger, timeout: opts.HealthTimeout, show: opts.ShowEvent,
		uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), started: time.Now().UTC(),
	}
	fsOpts := &fs.Options{
		MountOptions: fuse.MountOptions{
			Name:             opts.Name,
			FsName:           "lighthouse",
			AllowOther:       true,
			DirectMount:      true,
			DirectMountFlags: syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_RDONLY,
			MaxWrite:         1 << 20, // also the kernel's max_read: 1 MiB reads
			MaxReadAhead:     1 << 20,
			// READDIRPLUS: a listing brings every entry's attributes,
			// which the kernel caches (see cacheTimeout), so ls -l needs
			// no round trip per entry. READDIRPLUS_AUTO lets the kernel
			// ask for them only while the lister also looks entries up
			// (ls -l, find with tests): a plain ls or readdir of 10,000
			// entries took 150 ms with attributes, 16 ms without.
			DisableReadDirPlus: false,
			// current/ files are read around the page cache
			// (FOPEN_DIRECT_IO); DIRECT_IO_ALLOW_MMAP keeps
			// mmap(MAP_SHARED) of them working (through the page cache)
			// on kernels that offer it.
			ExtraCapabilities: fuse.CAP_READDIRPLUS_AUTO | fuse.CAP_DIRECT_IO_ALLOW_MMAP,
			Debug:             opts.Debug,
			Logger:            log.New(slogWriter{opts.Logger}, "", 0),
		},
		// No global timeouts: every node sets its own (cacheTimeout).
		UID: m.uid, GID: m.gid,
		RootStableAttr: &fs.StableAttr{Ino: 1},
	}
	m.top = &root{m: m}
	server, err := fs.Mount(abs, m.top, fsOpts)
	if err != nil {
		return nil, fmt.Errorf("mount FUSE view at %s: %w", abs, err)
	}
	m.server = server
	m.conn = connName(abs)
	if opts.invalidateQueue <= 0 {
		opts.invalidateQueue = invalidateQueue
	}
	m.stopWatch = m.startInvalidator(proj, opts.InvalidateWait, opts.invalidateQueue)
	opts.Logger.Info("FUSE view mounted", "mount_point", abs)
	return m, nil
}

// Dir is the absolute mount point.
func (m *FS) Dir() string { return m.dir }

// Ops returns the live operation counters.
func (m *FS) Ops() *OpCounts { return &m.ops }

func (m *FS) count(c *atomic.Uint64) { c.Add(1) }

// viewTime is the time shown for a view's top directory: that of its last
// event, or the mount time for an empty projection.
func (m *FS) viewTime(v shadow.View) time.Time {
	if e, ok := v.Stat(""); ok && e.Seq != 0 {
		return e.ModTime
	}
	return m.started
}

// Healthy checks that the view answers: it stats current/ through the
// kernel with a timeout, so a hung or detached mount is reported instead
// of blocking /status.
func (m *FS) Healthy() error {
	done := make(chan error, 1)
	go func() {
		fi, err := os.Stat(filepath.Join(m.dir, "current"))
		if err == nil && !fi.IsDir() {
			err = errors.New("current is not a directory")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("FUSE view at %s does not answer: %w", m.dir, err)
		}
		return nil
	case <-time.After(m.timeout):
		return fmt.Errorf("FUSE view at %s did not answer within %s", m.dir, m.timeout)
	}
}

// DefaultUnmountWait bounds how long Unmount waits for the FUSE server's
// loops to end once the view is detached.
const DefaultUnmountWait = 2 * time.Second

// Unmount is UnmountContext bounded by DefaultUnmountWait.
func (m *FS) Unmount() error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultUnmountWait)
	defer cancel()
	return m.UnmountContext(ctx)
}

// UnmountContext detaches the view and waits, until ctx ends, for the
// server loop to end. It never hangs on a user: when a process holds its
// working directory or an open file in the view, a plain unmount fails
// with EBUSY, so the connection is aborted (umount2 MNT_FORCE, or the
// fusectl abort file) and the mount detached lazily (MNT_DETACH, or
// fusermount -u -z for a mount made by fusermount). The holders then get
// ENOTCONN, the mount point is free for the next bridge at once, and the
// kernel drops the old mount when they let go. Calling it again returns
// the first result.
func (m *FS) UnmountContext(ctx context.Context) error {
	m.unmountOnce.Do(func() {
		// The cache invalidations end first: one in flight waits for
		// the kernel's directory locks, whose holders may wait for this
		// server to answer.
		m.stopWatch()
		m.unmountErr = m.unmount(ctx)
	})
	return m.unmountErr
}

func (m *FS) unmount(ctx context.Context) error {
	err := syscall.Unmount(m.dir, 0)
	if errors.Is(err, syscall.EPERM) {
		// Not root: the mount was made by fusermount, which also unmounts.
		err = fusermount(ctx, "-u", m.dir)
	}
	if err != nil && !errors.Is(err, syscall.EINVAL) {
		// Busy (or failing): abort the connection, then detach lazily.
		// MNT_FORCE aborts a FUSE connection even when the unmount itself
		// fails with EBUSY; the fusectl abort file does the same where it
		// is mounted.
		aborted := syscall.Unmount(m.dir, syscall.MNT_FORCE) == nil || m.abort() == nil
		derr := syscall.Unmount(m.dir, syscall.MNT_DETACH)
		if errors.Is(derr, syscall.EPERM) {
			derr = fusermount(ctx, "-u", "-z", m.dir)
		}
		if derr != nil && !errors.Is(derr, syscall.EINVAL) {
			return fmt.Errorf("unmount FUSE view at %s: %w (lazy detach: %v)", m.dir, err, derr)
		}
		m.log.Warn("FUSE view was busy: connection aborted and mount detached lazily", "mount_point", m.dir,
			"busy", err.Error(), "aborted", aborted)
	}
	done := make(chan struct{})
	go func() {
		m.server.Wait()
		close(done)
	}()
	select {
	case <-done:
		m.log.Info("FUSE view unmounted", "mount_point", m.dir)
		return nil
	case <-ctx.Done():
		// The kernel still holds the connection open (no abort was
		// possible): the server's reads end when this process exits.
		return fmt.Errorf("FUSE view at %s detached, but its server did not stop: %w", m.dir, ctx.Err())
	}
}

// abort aborts the view's FUSE connection through the fusectl file
// system, when it is mounted at /sys/fs/fuse/connections.
func (m *FS) abort() error {
	if m.conn == "" {
		return errors.New("connection unknown")
	}
	return os.WriteFile(filepath.Join("/sys/fs/fuse/connections", m.conn, "abort"), []byte("1"), 0)
}

// fusermount runs fusermount3 (or fusermount) with args, within ctx.
func fusermount(ctx context.Context, args ...string) error {
	bin, err := exec.LookPath("fusermount3")
	if err != nil {
		if bin, err = exec.LookPath("fusermount"); err != nil {
			return fmt.Errorf("no fusermount: %w", err)
		}
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// connName is the name of a mount's directory under
// /sys/fs/fuse/connections: the kernel's device number of the file
// system mounted at dir (major<<20 | minor), "" if unknown.
func connName(dir string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return ""
	}
	return strconv.FormatUint(uint64(unix.Major(st.Dev))<<20|uint64(unix.Minor(st.Dev)), 10)
}

// ClearStale prepares dir for mounting. If a FUSE mount whose server has
// died is still attached there (stat answers ENOTCONN, "transport endpoint
// is not connected"), it is detached with MNT_DETACH and cleared is true.
// A live FUSE mount is left alone and reported as ErrBusy.
func ClearStale(dir string) (cleared bool, err error) {
	errc := make(chan error, 1)
	go func() {
		var st syscall.Stat_t
		errc <- syscall.Stat(dir, &st)
	}()
	select {
	case err = <-errc:
	case <-time.After(5 * time.Second):
		err = syscall.ENOTCONN // a hung server is as good as dead for us
	}
	switch {
	case err == nil:
		if fstype, mounted := mountedFS(dir); mounted && strings.HasPrefix(fstype, "fuse") {
			return false, fmt.Errorf("%w at %s (%s); stop the other process or choose another LIGHTHOUSE_MOUNT_POINT", ErrBusy, dir, fstype)
		}
		return false, nil
	case errors.Is(err, syscall.ENOENT):
		return false, nil
	case errors.Is(err, syscall.ENOTCONN), errors.Is(err, syscall.ECONNABORTED):
		if uerr := syscall.Unmount(dir, syscall.MNT_DETACH); uerr != nil {
			return false, fmt.Errorf("stale FUSE mount at %s could not be detached: %w", dir, uerr)
		}
		return true, nil
	default:
		return false, fmt.Errorf("fuse mount point %s: %w", dir, err)
	}
}

// mountedFS reports the file-system type mounted exactly at dir, from
// /proc/self/mountinfo (last mount wins when several are stacked).
func mountedFS(dir string) (fstype string, ok bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		left, right, found := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(left)
		if !found || len(fields) < 5 {
			continue
		}
		if unescapeMountinfo(fields[4]) == dir {
			fstype, _, _ = strings.Cut(right, " ")
			ok = true
		}
	}
	return fstype, ok
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// slogWriter routes go-fuse's log.Logger output into slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimRight(string(p), "\n"), "component", "go-fuse")
	return len(p), nil
}
