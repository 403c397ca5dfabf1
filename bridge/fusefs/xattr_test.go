package fusefs

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
)

// lockedBuf collects go-fuse's debug log of every request.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The view has no extended attributes, and says so in a way the kernel
// remembers for the whole mount: getxattr and listxattr answer
// EOPNOTSUPP for every file, and the bridge is asked at most once each
// (it used to answer ENODATA, and ls -l asked twice more per file).
func TestXattrsNotSupportedAndNotAskedAgain(t *testing.T) {
	requireFUSE(t)
	p, w := newProject(t, shadow.Options{})
	var paths []string
	for _, n := range []string{"a", "b", "c", "d/e", "d/f"} {
		w.put("src/"+n, "x")
		paths = append(paths, "current/src/"+n, "history/1/src/a")
	}
	paths = append(paths, "current", "current/src", "history", "events")
	log := &lockedBuf{}
	m, err := Mount(filepath.Join(t.TempDir(), "mnt"), p, Options{Debug: true,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount()
	buf := make([]byte, 256)
	for _, rel := range paths {
		path := filepath.Join(m.Dir(), rel)
		if _, err := syscall.Getxattr(path, "user.comment", buf); !errors.Is(err, syscall.EOPNOTSUPP) {
			t.Errorf("getxattr %s = %v, want EOPNOTSUPP", rel, err)
		}
		if _, err := syscall.Getxattr(path, "security.selinux", buf); !errors.Is(err, syscall.EOPNOTSUPP) {
			t.Errorf("getxattr security.selinux %s = %v, want EOPNOTSUPP", rel, err)
		}
		if _, err := syscall.Listxattr(path, buf); !errors.Is(err, syscall.EOPNOTSUPP) {
			t.Errorf("listxattr %s = %v, want EOPNOTSUPP", rel, err)
		}
	}
	if got := run(t, filepath.Join(m.Dir(), "current/src"), "ls", "-l"); !strings.Contains(got, "-r--r--r-- 1") {
		t.Errorf("ls -l = %q", got)
	}
	for _, op := range []string{"GETXATTR", "LISTXATTR"} {
		n := strings.Count(log.String(), ": "+op+" ")
		t.Logf("%s requests: %d", op, n)
		if n > 1 {
			t.Errorf("%s reached the bridge %d times, want at most once", op, n)
		}
	}
	if !strings.Contains(log.String(), ": LOOKUP ") {
		t.Fatal("the debug log shows no requests at all: the count above proves nothing")
	}
}
