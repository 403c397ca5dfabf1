package check

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/lighthouse-project/lighthouse/gen/emit"
)

// The four artifact file names the conventions fix; gen/emit owns them.
const (
	FileDockerfile = emit.Dockerfile
	FileScript     = emit.Script
	FileCompose    = emit.Compose
	FileKube       = emit.Kubernetes
)

// Files lists the artifacts in the order findings about missing files are reported.
var Files = emit.Names

// Options tune a check run. The zero value checks the artifacts alone.
type Options struct {
	// Dir is the folder the artifacts live in; compose resolves build contexts
	// against it. Empty means the current directory.
	Dir string
	// Env is the operator environment for compose interpolation; variables the
	// file interpolates and Env lacks get a placeholder.
	Env map[string]string
	// SpecDigest, when set, is the current spec's digest: a header recording
	// another one is reported stale.
	SpecDigest string
	// Shellcheck runs shellcheck on the start script; a missing shellcheck is
	// then an error, not a pass.
	Shellcheck bool
	// HandWritten accepts files without a generated header (an audit of
	// artifacts people wrote); a header that is present is still held to its
	// digests. Missing files are then findings, not an error, and the
	// cross-artifact invariants run only when all four are present.
	HandWritten bool
}

// RuleMissing names a finding about an artifact that is not there at all.
const RuleMissing = "missing"

// Parsed holds every artifact as its consumer's parser read it. Later checks
// (the spec-side invariants, audit) build on these.
type Parsed struct {
	Dockerfile *Dockerfile
	Script     *Script
	Compose    *Compose
	Kube       *Kube
}

// Artifacts parses the four artifacts and checks them against each other with
// default options. files maps file names (FileDockerfile, ...) to contents.
// The error is for input that cannot be checked at all (a missing file);
// everything wrong inside the files is a Finding.
func Artifacts(files map[string][]byte) ([]Finding, error) {
	return Check(context.Background(), files, Options{})
}

// Check is Artifacts with options. Findings are sorted and deduplicated.
func Check(ctx context.Context, files map[string][]byte, opts Options) ([]Finding, error) {
	fs, _, err := check(ctx, files, opts)
	return fs, err
}

// CheckParsed is Check that also returns the parsed artifacts, for checks
// that build on them (the spec-side invariants). A file that is missing or
// does not parse has a nil field.
func CheckParsed(ctx context.Context, files map[string][]byte, opts Options) ([]Finding, *Parsed, error) {
	return check(ctx, files, opts)
}

func check(ctx context.Context, files map[string][]byte, opts Options) ([]Finding, *Parsed, error) {
	var fs []Finding
	complete := true
	for _, f := range Files {
		if _, ok := files[f]; !ok {
			if !opts.HandWritten {
				return nil, nil, fmt.Errorf("missing artifact %s", f)
			}
			complete = false
			fs = append(fs, Finding{File: f, Line: 0, Rule: RuleMissing, Message: "no " + f + ": it is not checked, nor held against the other artifacts"})
		}
	}
	for _, f := range Files {
		data, ok := files[f]
		if !ok {
			continue
		}
		hf := headerFindings(f, data, opts.SpecDigest)
		if opts.HandWritten && FreshnessOf(data, opts.SpecDigest) == NoHeader {
			hf = nil
		}
		fs = append(fs, hf...)
		fs = append(fs, secretScan(f, data)...)
	}
	p, parseFindings := Parse(ctx, files, opts)
	fs = append(fs, parseFindings...)
	if _, ok := files[FileScript]; ok && opts.Shellcheck {
		sc, err := Shellcheck(ctx, FileScript, files[FileScript])
		if err != nil {
			return nil, nil, err
		}
		fs = append(fs, sc...)
	}
	if complete && len(parseFindings) == 0 {
		fs = append(fs, p.Invariants()...)
	}
	return SortFindings(fs), p, nil
}

// lineRE pulls "file:line:" or ":line:col" positions out of parser errors.
var lineRE = regexp.MustCompile(`(?:line |:)(\d+)(?::\d+)?:`)

// PosError is a parse error located in a file; parsers' own errors are
// wrapped in it when their position is known.
type PosError struct {
	File string
	Line int
	Msg  string
}

func (e *PosError) Error() string { return at(e.File, e.Line) + ": " + e.Msg }

// parseFinding turns a parser's error into a finding at the line it names.
func parseFinding(file string, err error) Finding {
	if pe, ok := err.(*PosError); ok {
		return Finding{File: pe.File, Line: pe.Line, Rule: RuleParse, Message: pe.Msg}
	}
	msg := err.Error()
	line := 1
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	// The finding carries the position; drop the parser's own "file:line:col: ".
	msg = regexp.MustCompile(`^`+regexp.QuoteMeta(file)+`(:\d+)*: `).ReplaceAllString(msg, "")
	return Finding{File: file, Line: line, Rule: RuleParse, Message: msg}
}

// Parse parses each artifact with its consumer's parser. A file that does not
// parse yields a RuleParse finding and a nil field; Dockerfile lint warnings are
// findings too. The four parsers share nothing, so they run side by side (a
// build is short and has two cores to fill); findings come back in the order
// of Files whatever finishes first.
func Parse(ctx context.Context, files map[string][]byte, opts Options) (*Parsed, []Finding) {
	p := &Parsed{}
	var found [4][]Finding
	var wg sync.WaitGroup
	parse := func(i int, file string, fn func(data []byte) error) {
		if data, ok := files[file]; ok {
			if err := fn(data); err != nil {
				found[i] = append(found[i], parseFinding(file, err))
			}
		}
	}
	run := func(i int, file string, fn func(data []byte) error) {
		wg.Go(func() { parse(i, file, fn) })
	}
	run(0, FileDockerfile, func(data []byte) (err error) {
		if p.Dockerfile, err = ParseDockerfile(FileDockerfile, data); err == nil {
			found[0] = p.Dockerfile.Lint
		}
		return err
	})
	run(1, FileScript, func(data []byte) (err error) {
		p.Script, err = ParseScript(FileScript, data)
		return err
	})
	run(3, FileKube, func(data []byte) (err error) {
		p.Kube, err = ParseKubernetes(FileKube, data)
		return err
	})
	// Compose's loader is the slowest of the four (and may wait for its
	// schema): it runs here, at once, not queued behind the others.
	parse(2, FileCompose, func(data []byte) (err error) {
		dir := opts.Dir
		if dir == "" {
			dir = "."
		}
		p.Compose, err = ParseCompose(ctx, FileCompose, dir, data, opts.Env)
		return err
	})
	wg.Wait()
	return p, slices.Concat(found[:]...)
}

// headerFindings reports a missing, hand-edited or stale generated header.
func headerFindings(file string, data []byte, specDigest string) []Finding {
	line := 1
	if strings.HasPrefix(string(data), "#!") {
		line = 2
	}
	switch st := FreshnessOf(data, specDigest); st {
	case NoHeader:
		return []Finding{{File: file, Line: line, Rule: RuleHeader, Message: "no lighthouse-gen header: written by hand, or its header was edited"}}
	case HandEdited, Stale:
		return []Finding{{File: file, Line: line + 1, Rule: RuleHeader, Message: st.String()}}
	}
	return nil
}

// Tree returns the model of one artifact as parsed (Dockerfile.Tree and
// the others), nil when it is missing or did not parse.
func (p *Parsed) Tree(file string) *Node {
	switch {
	case file == FileDockerfile && p.Dockerfile != nil:
		return p.Dockerfile.Tree()
	case file == FileScript && p.Script != nil:
		return p.Script.Tree()
	case file == FileCompose && p.Compose != nil:
		return p.Compose.Tree()
	case file == FileKube && p.Kube != nil:
		return p.Kube.Tree()
	}
	return nil
}

// Facts returns what one artifact as parsed says about the service (see
// Fields), nil when it is missing, did not parse or has no service.
func (p *Parsed) Facts(file string) *Facts {
	switch {
	case file == FileDockerfile && p.Dockerfile != nil:
		return p.Dockerfile.Facts()
	case file == FileScript && p.Script != nil:
		return p.Script.Facts()
	case file == FileCompose && p.Compose != nil:
		return p.Compose.Facts()
	case file == FileKube && p.Kube != nil:
		return p.Kube.Facts()
	}
	return nil
}
