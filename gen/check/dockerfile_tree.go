package check

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// FinalStage is the key of the last stage, the image, in a Dockerfile's
// tree: whatever it is named, it is compared with the other's last stage.
const FinalStage = "final"

// Tree is the Dockerfile as BuildKit builds it: parser directives, the
// ARGs before the first FROM, and each stage (keyed by its place, "#0",
// "#1", ..., the last one by FinalStage) with its base, its build steps in order (RUN, COPY and
// ADD, each with the user, working directory and variables it runs with)
// and the image configuration the stage ends with (env, labels, exposed
// ports, user, working directory, entrypoint, command, health check, stop
// signal, volumes, shell, ONBUILD). Variables are expanded and defaults
// filled in as BuildKit and the engine do, so ENV A=b and ENV A="b",
// EXPOSE 80 and EXPOSE 80/tcp, a shell-form ENTRYPOINT and its exec form,
// and a HEALTHCHECK without --retries and one with --retries=3 are equal.
// A stage's name is a label inside the Dockerfile, not part of the image:
// a reference to a stage (FROM, COPY --from, RUN --mount from=), by name
// or by index, is written as the stage's key, so a stage renamed along
// with its references is the same stage, and --from=0 is --from=build.
func (d *Dockerfile) Tree() *Node {
	root := NewMap(1)
	dirs := NewMap(1)
	for _, dir := range d.Directives {
		line := 1
		if len(dir.Location) > 0 {
			line = dir.Location[0].Start.Line
		}
		dirs.Set(dir.Name, Str(dir.Value, line))
	}
	root.Set("directives", nonEmpty(dirs))
	lex := shell.NewLex(d.escape)
	meta := newDockerEnv()
	args := NewMap(1)
	for _, a := range d.MetaArgs {
		line := lineOf(&a)
		for _, kv := range a.Args {
			v := ""
			if kv.Value != nil {
				v = meta.expand(lex, *kv.Value)
			}
			meta.set(kv.Key, v)
			args.Set(kv.Key, Str(v, line))
		}
	}
	root.Set("args", nonEmpty(args))
	keys := make([]string, len(d.Stages))
	for i := range d.Stages {
		keys[i] = "#" + strconv.Itoa(i)
		if i == len(d.Stages)-1 {
			keys[i] = FinalStage
		}
	}
	stages := NewSet(1)
	for i, st := range d.Stages {
		stages.Set(keys[i], stageTree(lex, meta, st, d.stageRef(keys, i)))
	}
	root.Set("stages", stages)
	return root
}

// stageRef resolves a reference made in stage i to an earlier stage, as
// BuildKit does (by name, case aside, or by index; index is false for a
// FROM, which names stages only): "stage " and the stage's key ("stage
// #0": no image reference holds a space, so a hand-written --from=#0, an
// image BuildKit cannot pull, is not taken for the stage), else ok is
// false and the reference is an image.
func (d *Dockerfile) stageRef(keys []string, i int) func(v string, index bool) (string, bool) {
	return func(v string, index bool) (string, bool) {
		lv := strings.ToLower(v)
		for j := i - 1; j >= 0 && lv != ""; j-- {
			if strings.ToLower(d.Stages[j].Name) == lv {
				return "stage " + keys[j], true
			}
		}
		if n, err := strconv.Atoi(v); index && err == nil && n >= 0 && n < i {
			return "stage " + keys[n], true
		}
		return v, false
	}
}

func nonEmpty(n *Node) *Node {
	if n.Empty() {
		return nil
	}
	return n
}

// dockerEnv is the build-time environment of a stage: ARGs and ENVs in
// the order they were set, as BuildKit's lexer expands them.
type dockerEnv struct {
	keys []string
	vals map[string]string
}

func newDockerEnv() *dockerEnv { return &dockerEnv{vals: map[string]string{}} }

func (e *dockerEnv) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

func (e *dockerEnv) clone() *dockerEnv {
	c := newDockerEnv()
	for _, k := range e.keys {
		c.set(k, e.vals[k])
	}
	return c
}

func (e *dockerEnv) slice() []string {
	out := make([]string, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

// expand processes a word as BuildKit does (quotes, escapes, $VAR); the
// raw text when its lexer rejects the word.
func (e *dockerEnv) expand(lex *shell.Lex, w string) string {
	v, _, err := lex.ProcessWord(w, shell.EnvsFromSlice(e.slice()))
	if err != nil {
		return w
	}
	return v
}

// node is the environment as a map, for a build step's context.
func (e *dockerEnv) node(line int) *Node {
	m := NewMap(line)
	for _, k := range e.keys {
		m.Set(k, Str(e.vals[k], line))
	}
	return nonEmpty(m)
}

// stageState is what earlier instructions of a stage set for later ones,
// and the stage's tree as it is built.
type stageState struct {
	lex     *shell.Lex
	meta    *dockerEnv
	stage   func(v string, index bool) (string, bool) // see stageRef
	env     *dockerEnv
	user    string
	workdir string
	shell   []string

	m, steps, envNode, labels, args, expose, volumes, onbuild *Node
}

// The engine's health check defaults, which a HEALTHCHECK option left at
// zero inherits.
const (
	defaultHealthInterval      = 30 * time.Second
	defaultHealthTimeout       = 30 * time.Second
	defaultHealthStartInterval = 5 * time.Second
	defaultHealthRetries       = 3
)

func stageTree(lex *shell.Lex, meta *dockerEnv, st instructions.Stage, stage func(string, bool) (string, bool)) *Node {
	fromLine := 1
	if len(st.Location) > 0 {
		fromLine = st.Location[0].Start.Line
	}
	s := &stageState{lex: lex, meta: meta, stage: stage, env: newDockerEnv(), workdir: "/", shell: []string{"/bin/sh", "-c"},
		m: NewMap(fromLine), steps: NewList(fromLine), envNode: NewMap(fromLine), labels: NewMap(fromLine),
		args: NewMap(fromLine), expose: NewSet(fromLine), volumes: NewSet(fromLine), onbuild: NewList(fromLine)}
	m := s.m
	base := meta.expand(lex, st.BaseName)
	if ref, ok := stage(base, false); ok {
		base = ref
	}
	m.Set("from", Str(base, fromLine))
	if st.Platform != "" {
		m.Set("platform", Str(meta.expand(lex, st.Platform), fromLine))
	}
	for _, c := range st.Commands {
		if !s.configure(c) {
			s.build(c)
		}
	}
	m.Set("args", nonEmpty(s.args))
	m.Set("env", nonEmpty(s.envNode))
	m.Set("labels", nonEmpty(s.labels))
	m.Set("expose", nonEmpty(s.expose))
	m.Set("volumes", nonEmpty(s.volumes))
	m.Set("onbuild", nonEmpty(s.onbuild))
	m.Set("steps", nonEmpty(s.steps))
	return m
}

// x expands a word with the stage's variables so far.
func (s *stageState) x(w string) string { return s.env.expand(s.lex, w) }

// configure applies an instruction that sets the image's configuration
// (or the context of later steps); false for a build step.
func (s *stageState) configure(c instructions.Command) bool {
	line := lineOf(c)
	switch c := c.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			v := s.x(kv.Value)
			s.env.set(kv.Key, v)
			s.envNode.Set(kv.Key, Str(v, line))
		}
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			v, declared := "", false
			if kv.Value != nil {
				v, declared = s.x(*kv.Value), true
			} else if mv, ok := s.meta.vals[kv.Key]; ok {
				v, declared = mv, true // an ARG without a value takes the global one
			}
			if declared {
				s.env.set(kv.Key, v)
			}
			s.args.Set(kv.Key, Str(v, line))
		}
	case *instructions.LabelCommand:
		for _, kv := range c.Labels {
			s.labels.Set(s.x(kv.Key), Str(s.x(kv.Value), line))
		}
	case *instructions.ExposeCommand:
		for _, p := range c.Ports {
			p = strings.ToLower(s.x(p))
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			s.expose.Set(p, Str(p, line))
		}
	case *instructions.UserCommand:
		s.user = s.x(c.User)
		s.m.Set("user", Str(s.user, line))
	case *instructions.WorkdirCommand:
		s.workdir = path.Join(s.workdir, s.x(c.Path))
		if path.IsAbs(s.x(c.Path)) {
			s.workdir = path.Clean(s.x(c.Path))
		}
		s.m.Set("workdir", Str(s.workdir, line))
	case *instructions.ShellCommand:
		s.shell = slices.Clone(c.Shell)
		s.m.Set("shell", strList(c.Shell, line))
	case *instructions.EntrypointCommand:
		s.m.Set("entrypoint", cmdLine(c.ShellDependantCmdLine, s.shell, line))
	case *instructions.CmdCommand:
		s.m.Set("cmd", cmdLine(c.ShellDependantCmdLine, s.shell, line))
	case *instructions.HealthCheckCommand:
		s.m.Set("healthcheck", healthTree(c, line))
	case *instructions.StopSignalCommand:
		s.m.Set("stopsignal", Str(s.x(c.Signal), line))
	case *instructions.VolumeCommand:
		for _, v := range c.Volumes {
			v = path.Clean(s.x(v))
			s.volumes.Set(v, Str(v, line))
		}
	case *instructions.OnbuildCommand:
		s.onbuild.Add(Str(c.Expression, line))
	case *instructions.MaintainerCommand:
		s.m.Set("maintainer", Str(c.Maintainer, line))
	default:
		return false
	}
	return true
}

// build adds a build step (RUN, COPY, ADD, or an instruction this model
// does not know, whose whole parsed form is compared: it is never passed
// over).
func (s *stageState) build(c instructions.Command) {
	line := lineOf(c)
	var n *Node
	switch c := c.(type) {
	case *instructions.RunCommand:
		n = runStep(c, s, line)
	case *instructions.CopyCommand:
		n = copyStep(c, s.x, s, line)
	case *instructions.AddCommand:
		n = addStep(c, s.x, s, line)
	default:
		raw, _ := json.Marshal(c)
		n = stepNode(strings.ToUpper(c.Name()), string(raw), line)
	}
	s.steps.Add(s.step(n, line))
}

// step adds the context a build step runs in: its user, working
// directory and variables.
func (s *stageState) step(n *Node, line int) *Node {
	if s.user != "" {
		n.Set("user", Str(s.user, line))
	}
	n.Set("workdir", Str(s.workdir, line))
	n.Set("env", s.env.node(line))
	return n
}

// stepNode starts a build step: its instruction and, as its text, the
// canonical command it runs.
func stepNode(instr, text string, line int) *Node {
	n := NewMap(line)
	n.Text = instr + " " + text
	n.Align = n.Text
	n.Set("instruction", Str(instr, line))
	return n
}

// jsonNode is a parsed flag (a RUN mount, a device) as a tree of its
// fields, all at line.
func jsonNode(v any, line int) *Node {
	raw, err := json.Marshal(v)
	if err != nil {
		return Str(err.Error(), line)
	}
	dv, err := decodeJSON(raw)
	if err != nil {
		return Str(string(raw), line)
	}
	return jsonTree{rule: func([]string) listRule { return listRule{} }, line: func(string) int { return line }}.build(dv, nil, "")
}

func strList(ss []string, line int) *Node {
	l := NewList(line)
	for _, s := range ss {
		l.Add(Str(s, line))
	}
	return l
}

// cmdLine is an ENTRYPOINT or CMD as the engine runs it: the exec form
// as is, the shell form as the stage's SHELL followed by the line.
func cmdLine(c instructions.ShellDependantCmdLine, sh []string, line int) *Node {
	args := c.CmdLine
	if c.PrependShell {
		args = append(slices.Clone(sh), strings.Join(c.CmdLine, " "))
	}
	return strList(args, line)
}

func healthTree(c *instructions.HealthCheckCommand, line int) *Node {
	h := c.Health
	m := NewMap(line)
	if len(h.Test) > 0 && h.Test[0] == "NONE" {
		// No health check at all (the base image's is disabled too): as
		// compose's disable: true, nothing runs.
		m.Set("disable", Bool(true, line))
		return m
	}
	m.Set("test", strList(h.Test, line))
	or := func(d, def time.Duration) *Node {
		if d == 0 {
			d = def
		}
		return Str(d.String(), line)
	}
	m.Set("interval", or(h.Interval, defaultHealthInterval))
	m.Set("timeout", or(h.Timeout, defaultHealthTimeout))
	m.Set("start_period", or(h.StartPeriod, 0))
	m.Set("start_interval", or(h.StartInterval, defaultHealthStartInterval))
	r := h.Retries
	if r == 0 {
		r = defaultHealthRetries
	}
	m.Set("retries", Lit(strconv.Itoa(r), line))
	return m
}

// runStep is a RUN: its command (a shell-form line in canonical shell
// form, an exec form as a list), heredoc files and every flag
// (mounts, network, security, devices).
func runStep(c *instructions.RunCommand, s *stageState, line int) *Node {
	var text string
	var cmd *Node
	if c.PrependShell {
		src := strings.Join(c.CmdLine, " ")
		text = src
		canon := src
		if f, err := parseShellLine(src); err == nil {
			text = printShell(f)
			canon = canonicalShell(f)
		}
		cmd = &Node{Kind: Scalar, Value: canon, String: true, Text: text, Line: line}
	} else {
		cmd = strList(c.CmdLine, line)
		text = cmd.Render()
	}
	n := stepNode("RUN", text, line)
	n.Set("command", cmd)
	if c.PrependShell {
		n.Set("shell", strList(s.shell, line))
	}
	files := NewMap(line)
	for _, f := range c.Files {
		files.Set(f.Name, Str(f.Data, line))
	}
	n.Set("files", nonEmpty(files))
	// The flags are parsed for real (BuildKit defers part of --mount until
	// variables are known): expanding with the identity completes it.
	_ = c.Expand(func(w string) (string, error) { return w, nil })
	mounts := NewList(line)
	for _, mt := range instructions.GetMounts(c) {
		m := *mt
		if ref, ok := s.stage(m.From, true); ok {
			m.From = ref
		}
		mounts.Add(jsonNode(&m, line))
	}
	n.Set("mounts", nonEmpty(mounts))
	if nw := instructions.GetNetwork(c); nw != "" && nw != instructions.NetworkDefault {
		n.Set("network", Str(string(nw), line))
	}
	if sec := instructions.GetSecurity(c); sec != "" && sec != instructions.SecuritySandbox {
		n.Set("security", Str(sec, line))
	}
	devs := NewList(line)
	for _, d := range instructions.GetDevices(c) {
		devs.Add(jsonNode(d, line))
	}
	n.Set("devices", nonEmpty(devs))
	return n
}

// copyTarget resolves a COPY or ADD destination as BuildKit does: a
// relative one against the working directory; a trailing slash (a
// folder) is kept.
func copyTarget(dest, workdir string) string {
	dir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	p := dest
	if !path.IsAbs(p) {
		p = path.Join(workdir, p)
	}
	p = path.Clean(p)
	if dir && p != "/" {
		p += "/"
	}
	return p
}

// chmodValue prints an octal --chmod canonically (755 and 0755 are one).
func chmodValue(s string) string {
	if v, err := strconv.ParseUint(s, 8, 32); err == nil {
		return fmt.Sprintf("%04o", v)
	}
	return s
}

func copyStep(c *instructions.CopyCommand, x func(string) string, s *stageState, line int) *Node {
	srcs := make([]string, len(c.SourcePaths))
	for i, p := range c.SourcePaths {
		srcs[i] = x(p)
	}
	dest := copyTarget(x(c.DestPath), s.workdir)
	flags, from := "", ""
	if c.From != "" {
		from = strings.ToLower(x(c.From))
		if ref, ok := s.stage(x(c.From), true); ok {
			from = ref
		}
		flags = "--from=" + from + " "
	}
	n := stepNode("COPY", flags+strings.Join(append(slices.Clone(srcs), dest), " "), line)
	if c.From != "" {
		// Shown as written (--from=build); aligned and compared by the
		// stage's key (--from=#0).
		n.Text = "COPY --from=" + strings.ToLower(x(c.From)) + " " + strings.Join(append(slices.Clone(srcs), dest), " ")
	}
	n.Set("sources", strList(srcs, line))
	n.Set("dest", Str(dest, line))
	if from != "" {
		n.Set("from", Str(from, line))
	}
	copyFlags(n, c.Chown, c.Chmod, c.Link, c.ExcludePatterns, c.SourceContents, line)
	if c.Parents {
		n.Set("parents", Bool(true, line))
	}
	return n
}

func addStep(c *instructions.AddCommand, x func(string) string, s *stageState, line int) *Node {
	srcs := make([]string, len(c.SourcePaths))
	for i, p := range c.SourcePaths {
		srcs[i] = x(p)
	}
	dest := copyTarget(x(c.DestPath), s.workdir)
	n := stepNode("ADD", strings.Join(append(slices.Clone(srcs), dest), " "), line)
	n.Set("sources", strList(srcs, line))
	n.Set("dest", Str(dest, line))
	copyFlags(n, c.Chown, c.Chmod, c.Link, c.ExcludePatterns, c.SourceContents, line)
	if c.Checksum != "" {
		n.Set("checksum", Str(c.Checksum, line))
	}
	if c.KeepGitDir != nil {
		n.Set("keep-git-dir", Bool(*c.KeepGitDir, line))
	}
	if c.Unpack != nil {
		n.Set("unpack", Bool(*c.Unpack, line))
	}
	return n
}

func copyFlags(n *Node, chown, chmod string, link bool, exclude []string, contents []instructions.SourceContent, line int) {
	if chown != "" {
		n.Set("chown", Str(chown, line))
	}
	if chmod != "" {
		n.Set("chmod", Str(chmodValue(chmod), line))
	}
	if link {
		n.Set("link", Bool(true, line))
	}
	if len(exclude) > 0 {
		n.Set("exclude", strList(exclude, line))
	}
	files := NewMap(line)
	for _, f := range contents {
		files.Set(f.Path, Str(f.Data, line))
	}
	n.Set("files", nonEmpty(files))
}
