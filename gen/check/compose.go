package check

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// Compose is a compose file loaded by compose-go, as `docker compose` loads it,
// with the source positions of its keys.
type Compose struct {
	File    string
	Project *types.Project
	pos     *positions
	doc     *yaml.Node
	dir     string // the project folder paths resolve against
}

// checkProject is the project name the checks load a compose file under
// when the file names none.
const checkProject = "lighthouse-check"

// Placeholder is what a required interpolated variable (${NAME:?...})
// resolves to while loading: the check needs the file to load, never a
// real secret. It names the variable, so a value taken from another
// variable differs, and reads as what the file says.
func Placeholder(name string) string { return "${" + name + "}" }

// ParseCompose loads a compose file with compose-go's loader, JSON-schema
// validation on. dir is the project working directory (build contexts resolve
// against it). env is the operator environment used for interpolation; every
// variable the file interpolates and env lacks resolves to a placeholder, so
// `${SECRET:?}` loads without a secret being present.
func ParseCompose(ctx context.Context, file, dir string, data []byte, env map[string]string) (*Compose, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	environment := types.Mapping{}
	for _, name := range requiredVars(data) {
		environment[name] = Placeholder(name)
	}
	maps.Copy(environment, env)
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: file, Content: data}},
		Environment: environment,
	}
	p, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SkipResolveEnvironment = true // env_file contents are not ours to read
		if _, ok := o.GetProjectName(); !ok {
			o.SetProjectName(checkProject, false)
		}
	})
	pos := indexYAML(&doc, 0)
	if err != nil {
		return nil, composeError(file, pos, err)
	}
	return &Compose{File: file, Project: p, pos: pos, doc: &doc, dir: dir}, nil
}

// requiredVars lists the variables a compose file interpolates in the
// required forms ${NAME:?...} or ${NAME?...}; $$ escapes are skipped. Only
// these get a placeholder: a ${NAME:-default} keeps its default.
func requiredVars(data []byte) []string {
	var names []string
	for i := 0; i+1 < len(data); i++ {
		if data[i] != '$' {
			continue
		}
		if data[i+1] == '$' {
			i++
			continue
		}
		if data[i+1] != '{' {
			continue
		}
		j := i + 2
		for j < len(data) && (data[j] == '_' || isAlnum(data[j])) {
			j++
		}
		rest := data[j:]
		if j > i+2 && (bytes.HasPrefix(rest, []byte(":?")) || bytes.HasPrefix(rest, []byte("?"))) {
			names = append(names, string(data[i+2:j]))
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Service returns the single service the conventions promise, with its name.
func (c *Compose) Service() (string, types.ServiceConfig, error) {
	names := slices.Sorted(maps.Keys(c.Project.Services))
	if len(names) != 1 {
		return "", types.ServiceConfig{}, fmt.Errorf("%s: want exactly one service, found %d (%s)", c.File, len(names), strings.Join(names, ", "))
	}
	return names[0], c.Project.Services[names[0]], nil
}

// Line returns the line of a dotted path in the file (or its nearest ancestor).
func (c *Compose) Line(path string) int { return c.pos.line(path) }

// Has reports whether a dotted path is written in the file.
func (c *Compose) Has(path string) bool { return c.pos.has(path) }

// RawEnv returns a service's environment value as written, before
// interpolation, and whether it is written at all.
func (c *Compose) RawEnv(service, name string) (string, bool) {
	v, ok := c.pos.raw["services."+service+".environment."+name]
	return v, ok
}

// rawVars are the variables a raw value interpolates, as compose-go's
// template reads it ($$ is a literal $, not an interpolation).
func rawVars(raw string) map[string]template.Variable {
	return template.ExtractVariables(map[string]any{"v": raw}, nil)
}

// isInterpolation reports whether a raw value takes its content from the
// operator's environment rather than carrying it literally.
func isInterpolation(raw string) bool {
	return len(rawVars(raw)) > 0
}

// hasLiteralDefault reports whether an interpolation carries a literal
// default (${NAME:-value}), which for a secret is a secret in the file.
func hasLiteralDefault(raw string) bool {
	for _, v := range rawVars(raw) {
		if v.DefaultValue != "" {
			return true
		}
	}
	return false
}

// composePath finds the dotted path a compose-go error talks about.
var composePath = regexp.MustCompile(`\b(services|volumes|networks|secrets|configs)(\.[A-Za-z0-9_.-]+)?`)

// composeError locates a loader error at the line of the path it names, and
// says in words what the JSON-schema jargon means.
func composeError(file string, pos *positions, err error) error {
	msg := strings.TrimPrefix(err.Error(), "validating "+file+": ")
	line := 1
	if m := composePath.FindString(msg); m != "" {
		line = pos.line(m)
	}
	if strings.HasSuffix(msg, " false schema") {
		msg = strings.TrimSuffix(msg, " false schema") + ": not allowed by the compose schema"
	}
	return &PosError{file, line, msg}
}

// WarmCompose compiles compose-go's JSON schema, which its loader does once
// per process on first use (about 10 ms). A short-lived compiler calls it
// in a goroutine while it loads the spec, so on a second core the cost
// overlaps work it has to do anyway; calling it is never required.
func WarmCompose() {
	_ = schema.Validate(map[string]any{})
}
