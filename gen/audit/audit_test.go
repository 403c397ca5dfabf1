package audit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

func load(t *testing.T, dir string) *spec.Service {
	t.Helper()
	s, err := spec.Load(spec.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// emitOptions place artifacts in deploy/ of a context, as the bridge's.
var emitOptions = emit.Options{Version: "test", ContextRoot: "..", ContextDir: "deploy"}

// TestBinaryNotGo: a file that is not a Go binary is an error, never a pass.
func TestBinaryNotGo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Binary(load(t, ""), p, "", ""); err == nil {
		t.Error("a shell script passed as a Go binary")
	}
}

// TestBinaryAnotherProgram: the test binary links no forbidden module (the
// bridge spec forbids MCP SDKs), but it is not the spec's entry package:
// a binary free of forbidden modules is not a pass by itself.
func TestBinaryAnotherProgram(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Binary(load(t, ""), exe, "", "github.com/lighthouse-project/lighthouse")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Rule != RuleBinary || !strings.Contains(fs[0].Message, "github.com/lighthouse-project/lighthouse/cmd/lighthouse-bridge") {
		t.Errorf("Binary(test binary) = %v, want one %s finding naming the entry package", fs, RuleBinary)
	}
}

// TestMainPackage: "./cmd/x" and "." in a module.
func TestMainPackage(t *testing.T) {
	for _, c := range []struct{ pkg, want string }{
		{"./cmd/x", "example.com/m/cmd/x"}, {".", "example.com/m"}, {"./", "example.com/m"}, {"./a/../b", "example.com/m/b"},
	} {
		if got := mainPackage("example.com/m", c.pkg); got != c.want {
			t.Errorf("mainPackage(%q) = %q, want %q", c.pkg, got, c.want)
		}
	}
}

// TestBuildHoldsEmittersToTheSpec: artifacts audited as the ones the spec
// gives (a build) are held to the spec's facts, field by field, so an
// emitter that got a field wrong in every artifact alike (which the
// artifacts' agreement cannot show) fails the build.
func TestBuildHoldsEmittersToTheSpec(t *testing.T) {
	for _, dir := range []string{"", "../../golden/notes/spec"} {
		s := load(t, dir)
		files, err := Expected(s, emitOptions)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := Files(context.Background(), s, files, Options{Check: check.Options{Dir: t.TempDir()}, Expected: files})
		if err != nil || len(fs) != 0 {
			t.Fatalf("%q: the emitted artifacts: %v %v", dir, fs, err)
		}
	}
	s := load(t, "")
	files, err := Expected(s, emitOptions)
	if err != nil {
		t.Fatal(err)
	}
	// A buggy emitter: every artifact says 9000 where the spec says 8765.
	for name, data := range files {
		files[name] = []byte(strings.NewReplacer("8765", "9000").Replace(string(data)))
	}
	fs, err := Files(context.Background(), s, files, Options{Check: check.Options{Dir: t.TempDir()}, Expected: files})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range fs {
		if f.Rule == check.RulePorts && strings.Contains(f.Message, "(spec: embedded:cue/bridge/bridge.cue:") {
			seen[f.File] = true
		}
	}
	for _, name := range []string{check.FileDockerfile, check.FileCompose, check.FileKube} {
		if !seen[name] {
			t.Errorf("%s: no ports finding naming the spec; got %v", name, fs)
		}
	}
	// A buggy Dockerfile emitter that leaves out a variable's ENV: the
	// image lacks a default the spec gives.
	files, err = Expected(s, emitOptions)
	if err != nil {
		t.Fatal(err)
	}
	files[check.FileDockerfile] = []byte(strings.Replace(string(files[check.FileDockerfile]), "ENV LIGHTHOUSE_LOG_LEVEL=\"info\"\n", "", 1))
	fs, err = Files(context.Background(), s, files, Options{Check: check.Options{Dir: t.TempDir()}, Expected: files})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fs {
		found = found || f.File == check.FileDockerfile && strings.Contains(f.Message, "lacks LIGHTHOUSE_LOG_LEVEL=info, which the spec's env has")
	}
	if !found {
		t.Errorf("a Dockerfile without the spec's ENV passed: %v", fs)
	}
}

// TestEveryDifferenceNamesTheSpec: the notes service's artifacts held to
// the bridge's spec differ everywhere; every difference names the path,
// both values and a spec position.
func TestEveryDifferenceNamesTheSpec(t *testing.T) {
	notes, err := Expected(load(t, "../../golden/notes/spec"), emitOptions)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Files(context.Background(), load(t, ""), notes, Options{Check: check.Options{Dir: t.TempDir(), HandWritten: true}, Emit: emitOptions})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, f := range fs {
		if f.Rule != RuleWidens && f.Rule != RuleDiffers {
			continue
		}
		files[f.File] = true
		if !strings.Contains(f.Message, ": hand-written ") || !strings.Contains(f.Message, ", the spec gives ") ||
			!strings.Contains(f.Message, "(spec: embedded:cue/bridge/bridge.cue:") {
			t.Errorf("finding does not say path, values and spec position: %s", f)
		}
	}
	if len(files) != 4 {
		t.Errorf("differences in %v, want all four artifacts", files)
	}
}

// TestSecretNotPrinted: a literal secret written by hand is reported, its
// value is not.
func TestSecretNotPrinted(t *testing.T) {
	s := load(t, "")
	files, err := Expected(s, emitOptions)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "hunter2-0123456789abcdef0123456789abcdef"
	c := string(files[check.FileCompose])
	i := strings.Index(c, "LIGHTHOUSE_AUTH_SECRET: '")
	j := strings.Index(c[i:], "}'") + i + 2
	files[check.FileCompose] = []byte(c[:i] + "LIGHTHOUSE_AUTH_SECRET: " + secret + c[j:])
	fs, err := Files(context.Background(), s, files, Options{Check: check.Options{Dir: t.TempDir(), HandWritten: true}, Emit: emitOptions})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fs {
		if strings.Contains(f.Message, secret[:10]) {
			t.Errorf("a finding prints the secret: %s", f)
		}
		found = found || strings.Contains(f.Message, "LIGHTHOUSE_AUTH_SECRET")
	}
	if !found {
		t.Errorf("the literal secret is not reported: %v", fs)
	}
}

// TestReadDirRefusesWhatIsNotAnArtifact: a FIFO (which would block the
// read forever), a folder and a file over MaxArtifactSize are errors
// naming the file, never a hang or an unbounded read.
func TestReadDirRefusesWhatIsNotAnArtifact(t *testing.T) {
	for _, c := range []struct {
		name string
		make func(p string) error
		want string
	}{
		{"fifo", func(p string) error { return syscallMkfifo(p) }, "not a regular file"},
		{"folder", func(p string) error { return os.Mkdir(p, 0o755) }, "not a regular file"},
		{"huge", func(p string) error {
			f, err := os.Create(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(MaxArtifactSize + 1)
		}, "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, check.FileCompose)
			if err := c.make(p); err != nil {
				t.Fatal(err)
			}
			_, err := ReadDir(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("ReadDir = %v, want an error naming %s (%s)", err, p, c.want)
			}
		})
	}
}
