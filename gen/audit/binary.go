package audit

import (
	"debug/buildinfo"
	"fmt"
	"slices"
	"strings"

	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/regular"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// Binary reads the module list a Go binary carries (debug/buildinfo, what
// `go version -m` prints) and reports every module the spec's
// image.forbid.goModules lists, by path or path prefix. A module replaced
// by another counts under both paths. file names the binary in findings.
// A file that is not a Go binary is an error, not a pass.
func Binary(s *spec.Service, file, cwd string) ([]check.Finding, error) {
	f, err := regular.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := buildinfo.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read its Go build information: %w", file, err)
	}
	mods := []struct{ path, version string }{{info.Main.Path, info.Main.Version}}
	for _, d := range info.Deps {
		mods = append(mods, struct{ path, version string }{d.Path, d.Version})
		if d.Replace != nil {
			mods = append(mods, struct{ path, version string }{d.Replace.Path, d.Replace.Version})
		}
	}
	var fs []check.Finding
	for _, m := range mods {
		if i := slices.IndexFunc(s.Image.Forbid.GoModules, func(f string) bool {
			return m.path == f || strings.HasPrefix(m.path, f+"/")
		}); i >= 0 {
			fs = append(fs, check.Finding{File: file, Line: 0, Rule: RuleForbidden, Message: fmt.Sprintf(
				"links Go module %s %s, which the spec forbids (spec: %s)", m.path, m.version,
				s.Where(fmt.Sprintf("image.forbid.goModules[%d]", i), cwd))})
		}
	}
	return check.SortFindings(fs), nil
}
