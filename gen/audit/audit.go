// Package audit holds artifacts against the spec they claim to implement.
//
// gen/check proves that the four artifacts agree with each other; this
// package proves that they are the spec's. It derives the artifacts the
// spec gives with the compiler's own emitters, parses both sides with the
// consumers' parsers into one tree per artifact (gen/check) and reports
// every semantic difference: a key, object, stage, instruction or command
// on one side only, or a value that differs, each as
// "file:line: rule: path: hand-written X, the spec gives Y (spec:
// file:line:col)". Only what the consumer itself treats as equal
// (formatting, comments, key order, quoting, equal spellings, defaults)
// is not a difference: the audit is default-deny. A difference that widens
// privileges (namespaces, capabilities, seccomp and AppArmor, privilege
// escalation, root, host paths and devices, network exposure, the image
// and what runs) is reported as such (RuleWidens), first.
//
// The compiler runs it on every build over the artifacts as emitted
// (which are the spec's by construction; there the artifacts' facts are
// held to the spec's, field by field, which proves the emitters), and
// `lighthouse-gen audit` runs it over artifacts people wrote by hand. Nothing
// the spec's image.forbid lists may appear either way, and audit --binary
// holds a built entry to the spec's package and forbidden modules.
package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/emit/compose"
	"github.com/lighthouse-project/lighthouse/gen/emit/dockerfile"
	"github.com/lighthouse-project/lighthouse/gen/emit/kube"
	"github.com/lighthouse-project/lighthouse/gen/emit/script"
	"github.com/lighthouse-project/lighthouse/gen/regular"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// RuleForbidden names findings about something the spec's image.forbid
// lists (a binary in the image, a Go module linked into the entry).
const RuleForbidden = "forbidden"

// Options tune an audit.
type Options struct {
	// Check is passed to gen/check (build context folder, shellcheck,
	// hand-written files).
	Check check.Options
	// Cwd is the folder spec positions are printed relative to.
	Cwd string
	// Emit places the artifacts the spec gives in their build context
	// (the Dockerfile's COPY of the start script, compose's build
	// context), as build does for the folder audited.
	Emit emit.Options
	// Expected are the artifacts the spec gives, when the caller has them
	// already (build, which audits what it emitted); nil means emitting
	// them with Emit.
	Expected map[string][]byte
}

// Emitters are the compiler's four emitters, by artifact.
var Emitters = map[string]func(*spec.Service, emit.Options) ([]byte, error){
	emit.Dockerfile: dockerfile.Emit,
	emit.Script:     script.Emit,
	emit.Compose:    compose.Emit,
	emit.Kubernetes: kube.Emit,
}

// Expected emits the four artifacts the spec gives.
func Expected(s *spec.Service, eo emit.Options) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, name := range emit.Names {
		data, err := Emitters[name](s, eo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = data
	}
	return out, nil
}

// auditor is one audit's state.
type auditor struct {
	s   *spec.Service
	cwd string
}

// Files checks artifacts (file name → contents; for hand-written folders
// some may be missing) against each other with gen/check, then against
// the spec: each artifact that is not the one the spec gives, byte for
// byte, is compared with it tree against tree. SpecDigest is set from
// the spec, so generated files from another spec are reported stale.
func Files(ctx context.Context, s *spec.Service, files map[string][]byte, o Options) ([]check.Finding, error) {
	o.Check.SpecDigest = "sha256:" + s.Digest
	fs, p, err := check.CheckParsed(ctx, files, o.Check)
	if err != nil {
		return nil, err
	}
	want := o.Expected
	if want == nil {
		if want, err = Expected(s, o.Emit); err != nil {
			return nil, err
		}
	}
	a := &auditor{s: s, cwd: o.Cwd}
	for _, name := range check.Files {
		got, ok := files[name]
		if !ok {
			continue
		}
		if bytes.Equal(body(got), body(want[name])) {
			f := p.Facts(name)
			if f != nil && name == check.FileDockerfile {
				// The compiler's Dockerfile states every value the spec
				// gives (a hand-written one need not: compose may).
				f.Partial[check.FieldEnvValues] = false
			}
			fs = append(fs, a.againstSpec(f)...)
			continue
		}
		gotTree := p.Tree(name)
		if gotTree == nil {
			continue // it did not parse: the parse finding says why
		}
		wp, wfs := check.Parse(ctx, map[string][]byte{name: want[name]}, o.Check)
		wantTree := wp.Tree(name)
		if wantTree == nil {
			return nil, fmt.Errorf("the %s the spec gives does not parse: %v", name, wfs)
		}
		fs = append(fs, a.differences(name, gotTree, wantTree)...)
	}
	fs = append(fs, a.forbidden(p)...)
	return check.SortFindings(fs), nil
}

// body is a file without its generated header, if it has one.
func body(file []byte) []byte {
	if _, b, _, err := emit.ParseHeader(file); err == nil {
		return b
	}
	return file
}

// MaxArtifactSize bounds an artifact audit reads (regular.MaxArtifactBytes:
// a generated one is a few KiB, one of a spec with 85,000 labels 10 MB).
const MaxArtifactSize = regular.MaxArtifactBytes

// ReadDir reads the artifacts with the four conventional names from dir;
// a missing one is simply absent from the map. One that is not a regular
// file (a FIFO would block the read forever, a device would never end)
// or is larger than MaxArtifactSize is an error naming it (gen/regular
// opens it without blocking and checks the open descriptor).
func ReadDir(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, name := range check.Files {
		b, err := regular.ReadFile(filepath.Join(dir, name), MaxArtifactSize)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, err
		}
		files[name] = b
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds none of %v: nothing to audit", dir, check.Files)
	}
	return files, nil
}

// Dir audits the artifacts in dir (written or edited by hand, so a missing
// header is fine but a present one must match) against the spec. Findings
// name the files as dir/<file>. Shellcheck runs when shellcheck is set;
// eo places the artifacts the spec gives in dir's build context.
func Dir(ctx context.Context, s *spec.Service, dir string, eo emit.Options, shellcheck bool, cwd string) ([]check.Finding, error) {
	files, err := ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fs, err := Files(ctx, s, files, Options{
		Check: check.Options{Dir: dir, Shellcheck: shellcheck, HandWritten: true},
		Cwd:   cwd,
		Emit:  eo,
	})
	if err != nil {
		return nil, err
	}
	for i := range fs {
		fs[i].File = filepath.ToSlash(filepath.Join(dir, fs[i].File))
	}
	return fs, nil
}
