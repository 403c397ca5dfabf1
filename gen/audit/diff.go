package audit

import (
	"fmt"
	"net"

	"cuelang.org/go/cue"
	"regexp"
	"slices"
	"strings"

	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// Rules of the findings that hold an artifact against the one the spec
// gives: RuleWidens for a difference that widens privileges (reported
// first), RuleDiffers for any other.
const (
	RuleWidens  = check.RuleWidens
	RuleDiffers = check.RuleDiffers
)

// differences reports every difference between an artifact's tree (got)
// and the tree of the artifact the spec gives (want), each at the
// artifact's line, naming the path in the artifact, both values and the
// spec field the value comes from.
func (a *auditor) differences(file string, got, want *check.Node) []check.Finding {
	var fs []check.Finding
	for _, d := range check.Compare(got, want) {
		names := d.Path.Names()
		field, cl := lookupField(file, names)
		if cl == plain {
			// A whole map on one side (annotations, a security context)
			// is judged by what it holds.
			cl = strongest(file, names, d.Got, cl)
		}
		if file == check.FileScript {
			field = a.scriptField(d)
		}
		if name, ok := strings.CutPrefix(field, "env."); ok && loaderVariable(name) {
			cl = code // it decides what the process loads and runs
		}
		rule := RuleDiffers
		if widens(cl, d, names) {
			rule = RuleWidens
		}
		got := check.Describe(d.Got)
		if name, ok := strings.CutPrefix(field, "env."); ok && a.secret(name) && holdsValue(d) {
			got = "a value not shown (the variable holds a secret)"
		}
		fs = append(fs, check.Finding{File: file, Line: max(d.Line(), 1), Rule: rule, Message: fmt.Sprintf(
			"%s: hand-written %s, the spec gives %s (spec: %s)",
			d.Path, got, check.Describe(d.Want), a.where(field))})
	}
	return fs
}

// where is the position of a spec field in the spec's own files: the
// field, else the nearest enclosing field the spec writes, else its name.
// A default the schema fills in is not a line the author can change.
func (a *auditor) where(field string) string {
	p := cue.ParsePath(field)
	for sels := p.Selectors(); p.Err() == nil && len(sels) > 0; sels = sels[:len(sels)-1] {
		pos := a.s.Pos(cue.MakePath(sels...).String())
		if pos.IsValid() && !strings.HasPrefix(pos.Filename(), spec.EmbeddedRoot+"/schema/") {
			return spec.PosString(pos, a.cwd)
		}
	}
	return a.s.Where("name", a.cwd)
}

// strongest is the first class other than plain of a part below names
// in n (a whole subtree on one side of a difference), else cl.
func strongest(file string, names []string, n *check.Node, cl class) class {
	if n.Absent() || n.Kind != check.Map || len(names) > 64 {
		return cl
	}
	for _, k := range n.Keys {
		sub := append(names[:len(names):len(names)], k)
		if _, c := lookupField(file, sub); c != plain {
			return c
		}
		if c := strongest(file, sub, n.Map[k], cl); c != plain {
			return c
		}
	}
	return cl
}

// loaderVariable reports whether a variable changes what a process runs
// or loads (PATH, LD_PRELOAD and the dynamic loader's others, a shell's
// startup file): setting one is running other code.
func loaderVariable(name string) bool {
	switch name {
	case "PATH", "ENV", "BASH_ENV", "IFS", "GCONV_PATH", "HOSTALIASES", "NODE_OPTIONS", "PYTHONPATH", "PERL5OPT", "GODEBUG":
		return true
	}
	return strings.HasPrefix(name, "LD_")
}

// secret reports whether a variable holds a secret: the spec says so, or
// its name does. Findings are logged: its value is never printed.
func (a *auditor) secret(name string) bool {
	return check.SecretName(name) || slices.ContainsFunc(a.s.Env, func(e spec.EnvVar) bool { return e.Name == name && e.Secret })
}

// holdsValue reports whether the audited side of a difference about a
// variable holds the variable's value (or a default for it), which a
// secret's must not print: the value itself, an env entry's value, an
// interpolation's default, or a whole entry that holds one.
func holdsValue(d check.Difference) bool {
	if d.Got.Absent() {
		return false
	}
	last := d.Path[len(d.Path)-1].Name
	switch {
	case d.Got.Kind != check.Scalar:
		return last != "interpolation"
	case last == "required", last == "name", last == "key":
		return false
	}
	return d.Got.String
}

// envRef finds the variables a shell command expands.
var envRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// scriptField names the spec field a start script command comes from:
// the entry for the exec, the variable a command checks or reports, the
// FUSE mount for its checks, else the entry.
func (a *auditor) scriptField(d check.Difference) string {
	for _, n := range []*check.Node{d.Want, d.Got} {
		if n.Absent() || n.Kind != check.Scalar {
			continue
		}
		text := n.Text
		if strings.HasPrefix(text, "exec ") {
			return "entry"
		}
		if strings.Contains(text, "fuse_mount") || strings.Contains(text, "/dev/fuse") {
			return "fuse.mountPoint"
		}
		for _, m := range envRef.FindAllStringSubmatch(text, -1) {
			if slices.ContainsFunc(a.s.Env, func(e spec.EnvVar) bool { return e.Name == m[1] }) {
				return "env." + m[1]
			}
		}
	}
	return "entry"
}

// widens judges whether a difference in a part of class cl widens what
// the artifact grants compared with the spec: anything added or changed
// that runs code, joins a host namespace, grants a privilege, a host
// path or device, or exposes a port; a restriction (a dropped capability,
// no-new-privileges, a read-only root, a non-root user, a network policy,
// a seccomp or AppArmor profile) removed or relaxed. Removing a grant
// narrows, and is reported as a plain difference.
func widens(cl class, d check.Difference, names []string) bool {
	gotAbsent, wantAbsent := d.Got.Absent(), d.Want.Absent()
	last := ""
	if len(names) > 0 {
		last = names[len(names)-1]
	}
	if cl == network && strings.HasPrefix(names[0], "NetworkPolicy/") {
		return true // a policy missing, loosened or changed admits what the spec's does not
	}
	switch cl {
	case plain:
		return false
	case network:
		if last == "host_ip" {
			// Without a host address the engine publishes on its default
			// bind address (all interfaces, IPv4 and IPv6, unless the
			// operator set the daemon's "ip" to a narrower one); an
			// address of its own overrides that: 0.0.0.0 publishes on
			// every IPv4 interface whatever the daemon says. Only a
			// loopback address cannot reach further than the default.
			ip := net.ParseIP(scalar(d.Got))
			return ip == nil || !ip.IsLoopback()
		}
		return !gotAbsent
	case host:
		if last == "type" { // a volume's kind: only a bind mount reaches the host
			v := scalar(d.Got)
			return v != "tmpfs" && v != "volume"
		}
		return !gotAbsent
	case code, namespaces:
		return !gotAbsent
	}
	// privilege: restrictions lost widen; grants gained widen.
	parent := ""
	if len(names) > 1 {
		parent = names[len(names)-2]
	}
	switch {
	case parent == "cap_drop" || parent == "drop":
		return gotAbsent // a capability no longer dropped
	case parent == "cap_add" || parent == "add" || parent == "group_add" || parent == "sysctls":
		return !gotAbsent
	case parent == "security_opt":
		item := last
		if gotAbsent {
			return strings.HasPrefix(item, "no-new-privileges") || !strings.Contains(item, "unconfined") && !strings.HasSuffix(item, "disable")
		}
		return !strings.HasPrefix(item, "no-new-privileges:true")
	}
	gv, wv := scalar(d.Got), scalar(d.Want)
	switch last {
	case "privileged", "allowPrivilegeEscalation", "automountServiceAccountToken":
		return gv == "true" || gotAbsent && wv == "false"
	case "readOnlyRootFilesystem", "read_only", "runAsNonRoot":
		return gv != "true" && wv == "true"
	case "runAsUser":
		return gv == "0" || gotAbsent && wv != "0"
	case "user":
		return isRoot(gv) || gotAbsent && !isRoot(wv)
	case "runAsGroup":
		return gv == "0" || gotAbsent && wv != "0"
	case "type": // seccompProfile, appArmorProfile
		return gv != wv && wv != "Unconfined"
	}
	return !wantAbsent || !gotAbsent
}

func scalar(n *check.Node) string {
	if n.Absent() || n.Kind != check.Scalar {
		return ""
	}
	return n.Value
}

// isRoot reports whether a USER or compose user runs as root: uid 0 or
// the name root, with or without a group.
func isRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u == "0" || u == "root"
}
