package regular

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within fails the test when fn does not return within 20 seconds: what
// this package prevents is a read that never returns.
func within(t *testing.T, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the read did not return within 20 s")
		return nil
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	if err := os.WriteFile(p("ok"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("big"), make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		syscall.Mkfifo(p("fifo"), 0o644),
		os.Symlink(p("fifo"), p("link-to-fifo")),
		os.Symlink("/dev/zero", p("zero")),
		os.Symlink(p("nowhere"), p("dangling")),
		os.Mkdir(p("dir"), 0o755),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("unix", p("sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, c := range []struct{ name, want string }{
		{"ok", ""},
		{"fifo", "is a named pipe (FIFO), not a regular file"},
		{"link-to-fifo", "is a symbolic link to " + p("fifo") + ", which is a named pipe (FIFO), not a regular file"},
		{"zero", "is a symbolic link to /dev/zero, which is a character device, not a regular file"},
		{"dir", "is a folder, not a regular file"},
		{"sock", "is a socket, not a regular file"},
		{"big", "is larger than 1 MiB"},
	} {
		var b []byte
		err := within(t, func() (err error) { b, err = ReadFile(p(c.name), 1<<20); return err })
		switch {
		case c.want == "" && (err != nil || string(b) != "data"):
			t.Errorf("%s: %q, %v", c.name, b, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// A missing file (or a link to one) is fs.ErrNotExist: callers treat
	// a missing artifact as missing.
	for _, n := range []string{"missing", "dangling"} {
		if _, err := ReadFile(p(n), 1<<20); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want fs.ErrNotExist", n, err)
		}
	}
}
