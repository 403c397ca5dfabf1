package validate

import (
	"path"
	"regexp"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// shellVerdict is what analyzeShell finds in a command line.
type shellVerdict struct {
	systemPath string // first system path touched, if any
	dangerous  string // why the command is dangerous, if it is
	safe       bool   // every command is a known read-only one
}

// pathToken finds absolute paths in raw text, whatever quoting or
// operator precedes them; the parser-based checks below complement it.
var pathToken = regexp.MustCompile(`(?:^|[\s'"=:<>|;&(),` + "`" + `])(/[^\s'"|;&<>()` + "`" + `]*)`)

// rawDanger catches dangerous forms inside strings the parser sees as data.
var rawDanger = []struct {
	re  *regexp.Regexp
	why string
}{
	{regexp.MustCompile(`\brm\s+(?:-\S+\s+)*-[a-zA-Z]*(?:[rR][a-zA-Z]*f|f[a-zA-Z]*[rR])`), "rm -rf"},
	{regexp.MustCompile(`\bsudo\b`), "sudo"},
	{regexp.MustCompile(`\bchmod\s+(?:-\S+\s+)*(?:0?777|[augo]*\+rwx)\b`), "chmod 777"},
	{regexp.MustCompile(`\bdd\s+.*\bif=`), "dd if="},
	{regexp.MustCompile(`\bmkfs(?:\.\w+)?\b`), "mkfs"},
	{regexp.MustCompile(`\b(?:shutdown|reboot|poweroff|halt)\b`), "shutdown"},
	{regexp.MustCompile(`\b(?:kill|pkill|killall)\s+(?:-\S+\s+)*-(?:9|KILL|SIGKILL)\b`), "kill -9"},
	{regexp.MustCompile(`:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;?\s*:`), "fork bomb"},
	{regexp.MustCompile(`\b(?:curl|wget)\b[^|]*\|\s*(?:\S+/)?(?:ba|z|da|k)?sh\b`), "piping a download into a shell"},
}

// safeCommands are the read-only commands approved without review.
var safeCommands = map[string]bool{"ls": true, "pwd": true, "echo": true, "grep": true}

// safeGit are the read-only git subcommands approved without review.
var safeGit = map[string]bool{"status": true, "log": true, "diff": true}

func analyzeShell(cmd string) shellVerdict {
	var v shellVerdict
	for _, m := range pathToken.FindAllStringSubmatch(cmd, -1) {
		if sp, ok := systemPath(m[1]); ok {
			v.systemPath = sp
			return v
		}
	}
	f, err := syntax.NewParser().Parse(strings.NewReader(cmd), "")
	if err != nil {
		v.dangerous = rawDangerous(cmd)
		return v // unparsable: never safe
	}
	a := &astCheck{safe: true}
	a.file(f, 0)
	v.systemPath, v.dangerous = a.systemPath, a.dangerous
	if v.systemPath != "" || v.dangerous != "" {
		return v
	}
	if a.safe && a.calls > 0 {
		// Only read-only commands with literal arguments run: a dangerous
		// word among them ("grep shutdown") is data, not a command.
		v.safe = true
		return v
	}
	v.dangerous = rawDangerous(cmd)
	return v
}

// rawDangerous is the text check for commands the parser cannot see into
// (ssh host '...', python -c '...'): they are not read-only anyway, so
// blocking a harmless mention costs nothing.
func rawDangerous(cmd string) string {
	for _, d := range rawDanger {
		if d.re.MatchString(cmd) {
			return d.why
		}
	}
	return ""
}

type astCheck struct {
	safe       bool
	calls      int
	systemPath string
	dangerous  string
}

const maxNesting = 4

func (a *astCheck) file(f *syntax.File, depth int) {
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case nil: // Walk's end-of-children marker
		case *syntax.File, *syntax.Stmt, *syntax.Word, *syntax.Lit, *syntax.SglQuoted, *syntax.DblQuoted:
		case *syntax.BinaryCmd:
			if n.Op != syntax.AndStmt && n.Op != syntax.OrStmt && n.Op != syntax.Pipe {
				a.safe = false
			}
		case *syntax.Redirect:
			w := literal(n.Word)
			if sp, ok := systemPath(w); ok {
				a.systemPath = sp
			}
			// Only discarding output or joining streams keeps a command read-only.
			if !(w == "/dev/null" && (n.Op == syntax.RdrOut || n.Op == syntax.AppOut) || n.Op == syntax.DplOut && isDigits(w)) {
				a.safe = false
			}
		case *syntax.CallExpr:
			a.call(n, depth)
		default:
			// Expansions, substitutions, subshells, functions, loops: not
			// plainly read-only.
			a.safe = false
		}
		return true
	})
	if f != nil {
		for _, s := range f.Stmts {
			if s.Background || s.Coprocess {
				a.safe = false
			}
		}
	}
}

func (a *astCheck) call(c *syntax.CallExpr, depth int) {
	a.calls++
	if len(c.Assigns) > 0 {
		a.safe = false
	}
	args := make([]string, len(c.Args))
	for i, w := range c.Args {
		args[i] = literal(w)
		if args[i] == "" && len(w.Parts) > 0 {
			a.safe = false // not a plain literal
		}
		if sp, ok := systemPath(args[i]); ok {
			a.systemPath = sp
		}
		if _, val, ok := strings.Cut(args[i], "="); ok {
			if sp, ok := systemPath(val); ok {
				a.systemPath = sp
			}
		}
	}
	args = unwrap(args)
	if len(args) == 0 {
		return
	}
	name := path.Base(args[0])
	if why := dangerousCall(name, args[1:]); why != "" {
		a.dangerous = why
	}
	if name == "find" {
		for _, sub := range findExecs(args[1:]) {
			if sub = unwrap(sub); len(sub) > 0 {
				if why := dangerousCall(path.Base(sub[0]), sub[1:]); why != "" {
					a.dangerous = why
				}
			}
		}
	}
	switch {
	case safeCommands[name] && args[0] == name:
	case name == "git" && args[0] == name && len(args) > 1 && safeGit[args[1]] && !hasGitWriteFlag(args[2:]):
	default:
		a.safe = false
	}
	if depth < maxNesting {
		if script := nestedScript(name, args[1:]); script != "" {
			if f, err := syntax.NewParser().Parse(strings.NewReader(script), ""); err == nil {
				a.file(f, depth+1)
			}
		}
	}
}

// unwrap drops command prefixes that run their arguments as a command.
func unwrap(args []string) []string {
	for len(args) > 0 {
		switch path.Base(args[0]) {
		case "env":
			args = args[1:]
			for len(args) > 0 && (strings.Contains(args[0], "=") || strings.HasPrefix(args[0], "-")) {
				args = args[1:]
			}
		case "nohup", "time", "command", "exec", "nice", "xargs", "stdbuf":
			args = args[1:]
			for len(args) > 0 && strings.HasPrefix(args[0], "-") {
				args = args[1:]
			}
		case "timeout":
			args = args[1:]
			for len(args) > 0 && strings.HasPrefix(args[0], "-") {
				args = args[1:]
			}
			if len(args) > 0 {
				args = args[1:] // the duration
			}
		default:
			return args
		}
	}
	return args
}

// dangerousCall judges one simple command by its name and arguments.
func dangerousCall(name string, args []string) string {
	switch name {
	case "sudo", "su", "doas":
		return name
	case "rm":
		var r, f bool
		for _, a := range args {
			if a == "--" {
				break
			}
			switch {
			case a == "--recursive":
				r = true
			case a == "--force":
				f = true
			case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--"):
				r = r || strings.ContainsAny(a, "rR")
				f = f || strings.Contains(a, "f")
			}
		}
		if r && f {
			return "rm -rf"
		}
	case "chmod":
		for _, a := range args {
			if a == "777" || a == "0777" || strings.HasSuffix(a, "+rwx") && !strings.HasPrefix(a, "u") {
				return "chmod 777"
			}
		}
	case "dd":
		for _, a := range args {
			if strings.HasPrefix(a, "if=") || strings.HasPrefix(a, "of=") {
				return "dd " + a[:3]
			}
		}
	case "shutdown", "reboot", "poweroff", "halt", "mkswap", "wipefs", "fdisk", "parted":
		return name
	case "kill", "pkill", "killall":
		for i, a := range args {
			if a == "-9" || a == "-KILL" || a == "-SIGKILL" || (a == "-s" || a == "--signal") && i+1 < len(args) && strings.TrimPrefix(args[i+1], "SIG") == "KILL" {
				return name + " -9"
			}
		}
	case "init", "telinit":
		for _, a := range args {
			if a == "0" || a == "6" {
				return name + " " + a
			}
		}
	case "systemctl":
		for _, a := range args {
			switch a {
			case "poweroff", "reboot", "halt", "kexec":
				return "systemctl " + a
			}
		}
	}
	if strings.HasPrefix(name, "mkfs") {
		return "mkfs"
	}
	return ""
}

// findExecs returns the commands find runs with -exec, -execdir, -ok and
// -okdir (up to ";" or "+").
func findExecs(args []string) [][]string {
	var out [][]string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(args) && args[j] != ";" && args[j] != "+" {
				j++
			}
			out = append(out, args[i+1:j])
			i = j
		}
	}
	return out
}

// nestedScript returns the script a command runs from its arguments
// (sh -c '...', eval ...), so it is judged too.
func nestedScript(name string, args []string) string {
	switch name {
	case "sh", "bash", "zsh", "dash", "ksh":
		for i, a := range args {
			if a == "-c" && i+1 < len(args) {
				return args[i+1]
			}
		}
	case "eval":
		return strings.Join(args, " ")
	}
	return ""
}

func hasGitWriteFlag(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "--output") || a == "--ext-diff" || a == "-o" {
			return true
		}
	}
	return false
}

// literal is a word's value when it is made only of literal text and
// quotes; otherwise "".
func literal(w *syntax.Word) string {
	if w == nil {
		return ""
	}
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				l, ok := q.(*syntax.Lit)
				if !ok {
					return ""
				}
				b.WriteString(l.Value)
			}
		default:
			return ""
		}
	}
	return b.String()
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
