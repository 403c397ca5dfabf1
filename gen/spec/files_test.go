package spec

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"cuelang.org/go/cue/errors"
)

// minimalSpec is a valid spec outside the CUE module.
const minimalSpec = `package x

name:        "web"
description: "a small web service"
entry: {package: "./cmd/web", binary: "web", args: ["serve"]}
image: {ref: "web:1", builder: "golang:1.26.8", runtime: "alpine:3.22"}
ports: http: number: 8080
health: {port: "http", liveness: "/healthz", readiness: "/readyz"}
resources: {
	cpu: {request: "100m", limit: "500m"}
	memory: {request: "64Mi", limit: "128Mi"}
}
workload: kind: "StatefulSet"
`

// loadWithin runs Load and fails the test if it does not return within
// 20 seconds: the bug these tests guard against is a load that never
// returns (a FIFO opened for reading waits for a writer forever).
func loadWithin(t *testing.T, o Options) (*Service, error) {
	t.Helper()
	type result struct {
		s   *Service
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := Load(o)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-time.After(20 * time.Second):
		t.Fatalf("Load(%+v) did not return within 20 s", o)
		return nil, nil
	}
}

// specDir writes the minimal spec into a new folder and returns it.
func specDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "spec")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "spec.cue"), []byte(minimalSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSpecFolderRefusesIrregularFiles puts one file that is not a regular
// file (or cannot be read) into a valid spec folder, under a name CUE
// reads, and expects an error naming it, never a hang or a success.
func TestSpecFolderRefusesIrregularFiles(t *testing.T) {
	fifo := func(p string) error { return syscall.Mkfifo(p, 0o644) }
	link := func(target string) func(string) error {
		return func(p string) error { return os.Symlink(target, p) }
	}
	outsideFIFO := filepath.Join(t.TempDir(), "pipe")
	if err := fifo(outsideFIFO); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, file string
		make       func(p string) error
		want       string // a regular expression
	}{
		{"fifo", "z.cue", fifo, `spec file \S+/z\.cue is a named pipe \(FIFO\), not a regular file`},
		{"hidden fifo", ".z.cue", fifo, `spec file \S+/\.z\.cue is a named pipe \(FIFO\)`},
		{"underscore fifo", "_z.cue", fifo, `spec file \S+/_z\.cue is a named pipe \(FIFO\)`},
		{"socket", "s.cue", func(p string) error {
			l, err := net.Listen("unix", p)
			if err == nil {
				t.Cleanup(func() { l.Close() })
			}
			return err
		}, `spec file \S+/s\.cue is a socket, not a regular file`},
		{"link to fifo", "z.cue", link(outsideFIFO), `spec file \S+/z\.cue is a symbolic link to \S+/pipe, which is a named pipe \(FIFO\), not a regular file`},
		{"link to /dev/zero", "z.cue", link("/dev/zero"), `spec file \S+/z\.cue is a symbolic link to /dev/zero, which is a character device, not a regular file`},
		{"link to /dev/null", "z.cue", link("/dev/null"), `is a symbolic link to /dev/null, which is a character device`},
		{"dangling link", "z.cue", link("/nonexistent/spec.cue"), `spec file \S+/z\.cue is a symbolic link to /nonexistent/spec\.cue, which does not exist`},
		{"link loop", "z.cue", func(p string) error { return os.Symlink(filepath.Base(p), p) }, `spec file \S+/z\.cue is a symbolic link that leads back to itself`},
		{"folder named x.cue", "x.cue", func(p string) error { return os.Mkdir(p, 0o755) }, `spec file \S+/x\.cue is a folder, not a regular file`},
		// A regular file that fails to read, even for root.
		{"unreadable", "z.cue", link("/proc/self/mem"), `spec file \S+/z\.cue cannot be read: input/output error`},
		{"too large", "big.cue", func(p string) error {
			return os.WriteFile(p, []byte("package x\n"+strings.Repeat(" ", MaxSpecBytes)), 0o644)
		}, `spec file \S+/big\.cue makes the spec larger than 4 MiB`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := specDir(t)
			if err := c.make(filepath.Join(dir, c.file)); err != nil {
				t.Fatal(err)
			}
			_, err := loadWithin(t, Options{Dir: dir})
			if err == nil {
				t.Fatal("the spec loaded")
			}
			got := Details(err, "")
			if !regexp.MustCompile(c.want).MatchString(got) {
				t.Errorf("error:\n%s\nwant it to match %s", got, c.want)
			}
		})
	}
}

// TestSpecFolderNamesEveryIrregularFile: two bad files, two errors.
func TestSpecFolderNamesEveryIrregularFile(t *testing.T) {
	dir := specDir(t)
	for _, n := range []string{"a.cue", "b.cue"} {
		if err := syscall.Mkfifo(filepath.Join(dir, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := loadWithin(t, Options{Dir: dir})
	if n := len(errors.Errors(err)); n != 2 {
		t.Errorf("%d errors, want one per FIFO:\n%s", n, Details(err, ""))
	}
}

// TestSpecFolderIgnoresOtherFiles: CUE reads only .cue names, so a FIFO
// under another name is no concern of the spec's.
func TestSpecFolderIgnoresOtherFiles(t *testing.T) {
	dir := specDir(t)
	if err := syscall.Mkfifo(filepath.Join(dir, "notes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadWithin(t, Options{Dir: dir}); err != nil {
		t.Fatal(Details(err, ""))
	}
}

// TestSpecFolderItself: --spec naming something that is not a folder.
func TestSpecFolderItself(t *testing.T) {
	root := t.TempDir()
	pipe := filepath.Join(root, "pipe")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(root, "dev")
	if err := os.Symlink("/dev/null", dev); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dir, want string }{
		{pipe, "spec folder " + pipe + " is a named pipe (FIFO), not a folder"},
		{dev, "spec folder " + dev + " is a character device, not a folder"},
	} {
		_, err := loadWithin(t, Options{Dir: c.dir})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%s) = %v, want %q", c.dir, err, c.want)
		}
	}
}

// TestFilesCUEReadsBesideTheFolder: inside a CUE module, CUE also reads
// cue.mod/module.cue and the files of the same package in parent
// folders; those go through the same guard.
func TestFilesCUEReadsBesideTheFolder(t *testing.T) {
	for _, c := range []struct{ name, file, want string }{
		{"parent folder", "z.cue", `spec file /\S+/z\.cue is a named pipe \(FIFO\)`},
		{"module file", "cue.mod/module.cue", `spec file /\S+/cue\.mod/module\.cue is a named pipe \(FIFO\)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "spec")
			if err := os.MkdirAll(filepath.Join(root, "cue.mod"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "cue.mod", "module.cue"), []byte("module: \"example.com/m@v0\"\nlanguage: version: \"v0.17.0\"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "spec.cue"), []byte(minimalSpec), 0o644); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(root, c.file)
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := loadWithin(t, Options{Dir: dir})
			if err == nil || !regexp.MustCompile(c.want).MatchString(Details(err, "")) {
				t.Errorf("Load = %v, want %s", err, c.want)
			}
		})
	}
}

// TestSpecFSChecksTheOpenFile: a file that was regular when stat'ed and
// is a FIFO when opened (swapped in between) is refused on the open
// descriptor, without blocking.
func TestSpecFSChecksTheOpenFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "a.cue")
	if err := os.WriteFile(regular, []byte("package x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(regular)
	if err != nil {
		t.Fatal(err)
	}
	pipe := filepath.Join(dir, "b.cue")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := newSpecFS(dir, dir).readFile(pipe, fi)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is a named pipe (FIFO)") {
			t.Errorf("readFile of a swapped-in FIFO = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("readFile blocked on a FIFO")
	}
}

// TestSpecFolderSizeCountsEachFileOnce: CUE reads a file more than once
// (its package clause, then all of it); a spec under MaxSpecBytes loads.
func TestSpecFolderSizeCountsEachFileOnce(t *testing.T) {
	dir := specDir(t)
	big := "package x\n\n" + strings.Repeat("// a comment line of sixty-four bytes, to make the file large.\n", MaxSpecBytes*3/4/64)
	if err := os.WriteFile(filepath.Join(dir, "big.cue"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadWithin(t, Options{Dir: dir}); err != nil {
		t.Fatal(Details(err, ""))
	}
}

// TestSpecFolderFileCount: more .cue files than MaxSpecFiles is refused
// before CUE opens any.
func TestSpecFolderFileCount(t *testing.T) {
	dir := specDir(t)
	for i := range MaxSpecFiles {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.cue", i)), []byte("package x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := loadWithin(t, Options{Dir: dir})
	if want := fmt.Sprintf("holds %d .cue files, more than the %d", MaxSpecFiles+1, MaxSpecFiles); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load = %v, want %q", err, want)
	}
}
