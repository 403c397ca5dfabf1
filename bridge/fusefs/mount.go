package fusefs

import (
	"bufio"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

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

	unmountOnce sync.Once
	unmountErr  error
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
			// Plain READDIR: current/ entries may not be cached anyway, and
			// READDIRPLUS made a 10,000-entry listing 6x slower.
			DisableReadDirPlus: true,
			Debug:              opts.Debug,
			Logger:             log.New(slogWriter{opts.Logger}, "", 0),
		},
		// No global timeouts: every node sets its own, zero for current/.
		UID: m.uid, GID: m.gid,
		RootStableAttr: &fs.StableAttr{Ino: 1},
	}
	server, err := fs.Mount(abs, &root{m: m}, fsOpts)
	if err != nil {
		return nil, fmt.Errorf("mount FUSE view at %s: %w", abs, err)
	}
	m.server = server
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

// Unmount detaches the view and waits for the server loop to end. If the
// mount is busy (a shell sits in it) it is detached lazily, so shutdown
// never hangs on a user. Calling Unmount again returns the first result.
func (m *FS) Unmount() error {
	m.unmountOnce.Do(func() {
		if err := m.server.Unmount(); err != nil {
			m.log.Warn("FUSE unmount failed, detaching lazily", "mount_point", m.dir, "err", err)
			if err := syscall.Unmount(m.dir, syscall.MNT_DETACH); err != nil {
				m.unmountErr = fmt.Errorf("unmount FUSE view at %s: %w", m.dir, err)
				return
			}
		}
		m.server.Wait()
		m.log.Info("FUSE view unmounted", "mount_point", m.dir)
	})
	return m.unmountErr
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
