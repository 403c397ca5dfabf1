// Package audit holds artifacts against the spec they claim to implement.
//
// gen/check proves that the four artifacts agree with each other; this
// package proves that they agree with the spec: the process is the spec's
// entry, the privileges are the spec's (each with its reason), every
// variable set is one the spec declares, the health checks probe the
// spec's port and paths, nothing the spec forbids is in the image. The
// compiler runs it on every build over the artifacts as emitted, and
// `lighthouse-gen audit` runs it over artifacts people wrote by hand.
//
// Findings about the spec name the spec line too ("spec: file:line:col").
package audit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/lighthouse-project/lighthouse/gen/check"
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
}

// Files checks artifacts (file name → contents; for hand-written folders
// some may be missing) against each other with gen/check, then against
// the spec. SpecDigest is set from the spec, so generated files from
// another spec are reported stale.
func Files(ctx context.Context, s *spec.Service, files map[string][]byte, o Options) ([]check.Finding, error) {
	o.Check.SpecDigest = "sha256:" + s.Digest
	fs, p, err := check.CheckParsed(ctx, files, o.Check)
	if err != nil {
		return nil, err
	}
	fs = append(fs, Against(s, p, o.Cwd)...)
	return check.SortFindings(fs), nil
}

// ReadDir reads the artifacts with the four conventional names from dir;
// a missing one is simply absent from the map.
func ReadDir(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, name := range check.Files {
		b, err := regular.ReadFile(filepath.Join(dir, name), regular.MaxArtifactBytes)
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
// name the files as dir/<file>. Shellcheck runs when shellcheck is set.
func Dir(ctx context.Context, s *spec.Service, dir string, shellcheck bool, cwd string) ([]check.Finding, error) {
	files, err := ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fs, err := Files(ctx, s, files, Options{
		Check: check.Options{Dir: dir, Shellcheck: shellcheck, HandWritten: true},
		Cwd:   cwd,
	})
	if err != nil {
		return nil, err
	}
	for i := range fs {
		fs[i].File = filepath.ToSlash(filepath.Join(dir, fs[i].File))
	}
	return fs, nil
}
