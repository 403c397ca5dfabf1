package check

import (
	"bytes"
	"cmp"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Dockerfile is the final stage of a Dockerfile as BuildKit reads it, reduced to
// what the invariants compare, each value with its line.
type Dockerfile struct {
	File   string
	Stages []instructions.Stage // every stage, as BuildKit's instructions package parsed it
	// MetaArgs are the ARGs before the first FROM; Directives the parser
	// directives (syntax, escape, check) at the top of the file.
	MetaArgs   []instructions.ArgCommand
	Directives []*parser.Directive
	escape     rune

	Entrypoint     []string // exec-form ENTRYPOINT of the final stage; nil if absent
	EntrypointLine int
	EntrypointExec bool // false when shell form (then Entrypoint is the shell line)
	CmdLine        int  // line of a CMD in the final stage, 0 if none
	User           string
	UserLine       int
	Workdir        string // the final WORKDIR, resolved
	WorkdirLine    int
	Expose         []PortLine // EXPOSE ports as "8765/tcp"
	Health         *HealthCheck
	Copies         []CopyLine // COPY/ADD in the final stage
	Env            []KeyValueLine
	Args           []KeyValueLine
	Labels         []KeyValueLine // LABEL key/value pairs of the final stage
	Runs           []WordLine     // RUN commands of the final stage, as written
	Lint           []Finding      // BuildKit parser warnings and lint rule violations
}

// PortLine is a "port/proto" string with where it was declared.
type PortLine struct {
	Port string
	Line int
}

// CopyLine is one COPY or ADD of the final stage.
type CopyLine struct {
	From    string // --from stage, "" for the build context
	Sources []string
	Dest    string
	Line    int
}

// KeyValueLine is one ENV or ARG with its line.
type KeyValueLine struct {
	Key, Value string
	Line       int
}

// HealthCheck is a container health check in Docker's terms; compose and the
// Dockerfile both produce one so they can be compared field by field.
type HealthCheck struct {
	Test        []string // e.g. ["CMD", "/usr/local/bin/x", "healthcheck"]
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
	Line        int
}

// ParseDockerfile parses a Dockerfile with BuildKit's parser and instructions
// package, running its lint rules; warnings become RuleDockerLint findings.
// A Dockerfile BuildKit cannot parse is an error.
func ParseDockerfile(file string, data []byte) (*Dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	d := &Dockerfile{File: file}
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil {
			line = w.Location.Start.Line
		}
		d.Lint = append(d.Lint, Finding{File: file, Line: line, Rule: RuleDockerLint, Message: w.Short})
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		d.Lint = append(d.Lint, Finding{File: file, Line: line, Rule: RuleDockerLint, Message: rule + ": " + msg})
	}})
	stages, meta, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM: not a Dockerfile", file)
	}
	d.Stages, d.MetaArgs, d.escape = stages, meta, res.EscapeToken
	var dp parser.DirectiveParser
	if d.Directives, err = dp.ParseAll(data); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	lex := shell.NewLex(res.EscapeToken)
	for _, c := range stages[len(stages)-1].Commands {
		line := lineOf(c)
		switch c := c.(type) {
		case *instructions.EntrypointCommand:
			d.Entrypoint, d.EntrypointLine, d.EntrypointExec = c.CmdLine, line, !c.PrependShell
		case *instructions.CmdCommand:
			d.CmdLine = line
		case *instructions.UserCommand:
			d.User, d.UserLine = c.User, line
		case *instructions.WorkdirCommand:
			d.Workdir, d.WorkdirLine = path.Join(d.Workdir, c.Path), line
			if path.IsAbs(c.Path) {
				d.Workdir = path.Clean(c.Path)
			}
		case *instructions.ExposeCommand:
			for _, p := range c.Ports {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				d.Expose = append(d.Expose, PortLine{strings.ToLower(p), line})
			}
		case *instructions.HealthCheckCommand:
			// An option left at zero takes the engine's default.
			h := c.Health
			d.Health = &HealthCheck{Test: h.Test, Interval: cmp.Or(h.Interval, defaultHealthInterval),
				Timeout: cmp.Or(h.Timeout, defaultHealthTimeout), StartPeriod: h.StartPeriod,
				Retries: cmp.Or(h.Retries, defaultHealthRetries), Line: line}
		case *instructions.CopyCommand:
			d.Copies = append(d.Copies, CopyLine{c.From, c.SourcePaths, c.DestPath, line})
		case *instructions.AddCommand:
			d.Copies = append(d.Copies, CopyLine{"", c.SourcePaths, c.DestPath, line})
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				d.Env = append(d.Env, KeyValueLine{kv.Key, envValue(lex, kv.Value), line})
			}
		case *instructions.LabelCommand:
			for _, kv := range c.Labels {
				d.Labels = append(d.Labels, KeyValueLine{unquote(kv.Key), unquote(kv.Value), line})
			}
		case *instructions.RunCommand:
			d.Runs = append(d.Runs, WordLine{strings.Join(c.CmdLine, " "), line})
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				v := ""
				if a.Value != nil {
					v = *a.Value
				}
				d.Args = append(d.Args, KeyValueLine{a.Key, v, line})
			}
		}
	}
	return d, nil
}

// lineOf is the first line of a parsed instruction.
func lineOf(c instructions.Command) int {
	if l, ok := c.(interface{ Location() []parser.Range }); ok && len(l.Location()) > 0 {
		return l.Location()[0].Start.Line
	}
	return 0
}

// CopiedTo returns the COPY/ADD of the final stage whose destination is path.
func (d *Dockerfile) CopiedTo(path string) (CopyLine, bool) {
	for _, c := range d.Copies {
		if c.Dest == path {
			return c, true
		}
	}
	return CopyLine{}, false
}

// LabelFUSEMount is the image label in which the generated Dockerfile records
// the FUSE mount point; a FUSE mount covers that path, so it is writable
// even on a read-only root.
const LabelFUSEMount = "io.lighthouse.fuse.mount-point"

// Label returns the value of an image label of the final stage.
func (d *Dockerfile) Label(key string) (KeyValueLine, bool) {
	for _, l := range d.Labels {
		if l.Key == key {
			return l, true
		}
	}
	return KeyValueLine{}, false
}

// unquote removes the double quotes BuildKit leaves on LABEL keys and values
// until the build expands them.
// envValue is an ENV value as the build sets it: quotes and escapes
// processed by BuildKit's own word lexer (no earlier variable is known, so
// a reference expands to ""); the raw text when the lexer rejects it.
func envValue(lex *shell.Lex, raw string) string {
	v, _, err := lex.ProcessWord(raw, shell.EnvsFromSlice(nil))
	if err != nil {
		return raw
	}
	return v
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil && strings.HasPrefix(s, `"`) {
		return u
	}
	return s
}
