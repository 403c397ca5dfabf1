// Package encode writes spec strings into the exact contexts the emitters
// place them in: a Dockerfile comment, a double-quoted LABEL or ENV word,
// a plain instruction word, an exec-form JSON array; a POSIX shell word,
// the word of a "${VAR:-...}" expansion; a compose value (which compose
// interpolates). Each function encodes the string with the consumer's own
// rules (mvdan.cc/sh's syntax.Quote for shell words, encoding/json for
// exec form) or, where a context cannot carry a string as it is, records
// an *Error naming the spec field and returns a placeholder: a string is
// never rewritten into another one silently, and never becomes structure.
//
// The schema refuses such strings first (#Line and friends in
// cue/schema); these checks are the second line of defence, for a model
// built by other means or a schema rule that is missing.
package encode

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"mvdan.cc/sh/v3/syntax"
)

// Error is a string that a context of an artifact cannot carry as it is.
type Error struct {
	// Field is the spec field the string comes from, as a CUE path
	// ("entry.package", `image.labels."org.example.x"`), or "" for a
	// string that is no spec field (the build context's paths).
	Field string
	// What names the string when Field is "" ("the output folder").
	What    string
	Value   string
	Context string // where it would have gone: "a Dockerfile comment"
	Reason  string // why it cannot go there
}

func (e *Error) Error() string {
	name := e.Field
	if name == "" {
		name = e.What
	}
	return fmt.Sprintf("%s: %s cannot be written into %s: %s", name, Show(e.Value), e.Context, e.Reason)
}

// Show quotes a string for a message: Go syntax, every invisible
// character escaped, at most 80 characters of it, so a hostile value
// cannot disguise the message that reports it.
func Show(s string) string {
	const max = 80
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		return strconv.Quote(string(r[:max])) + fmt.Sprintf("... (%d characters)", len(r))
	}
	return strconv.Quote(s)
}

// Errors are every string an emitter refused, in the order it met them.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// AsErrors returns the refused strings err holds, if it holds any.
func AsErrors(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}, true
	}
	return nil, false
}

// Encoder collects the refusals of one emitter: each method returns the
// encoded string, or a placeholder after recording an *Error, so an
// emitter writes its artifact straight through and asks Err once.
type Encoder struct {
	errs Errors
}

// Err is every refusal so far as Errors, or nil.
func (e *Encoder) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return e.errs
}

// Fail records a refusal that no method of the Encoder describes (a
// quantity that does not parse, say).
func (e *Encoder) Fail(field, value, context, reason string) {
	e.errs = append(e.errs, &Error{Field: field, Value: value, Context: context, Reason: reason})
}

// Other records a refusal of a string that is no spec field, named by
// what (a line of the artifact, say).
func (e *Encoder) Other(what, value, context, reason string) {
	e.errs = append(e.errs, &Error{What: what, Value: value, Context: context, Reason: reason})
}

// Outside encodes a string that is no spec field (a path of the build
// context): f encodes it with a field of "", and its refusals are
// recorded as what's.
func (e *Encoder) Outside(what string, f func(*Encoder) string) string {
	var x Encoder
	out := f(&x)
	for _, err := range x.errs {
		err.Field, err.What = "", what
		e.errs = append(e.errs, err)
	}
	return out
}

const placeholder = "<refused>"

// Field builds the CUE path of a spec field from its selectors: strings
// are field names (quoted when they are not identifiers, as device paths
// and label keys are), ints list indexes: Field("entry", "args", 1) is
// "entry.args[1]".
func Field(sels ...any) string {
	out := make([]cue.Selector, 0, len(sels))
	for _, s := range sels {
		switch s := s.(type) {
		case string:
			out = append(out, cue.Str(s))
		case int:
			out = append(out, cue.Index(s))
		default:
			panic(fmt.Sprintf("encode.Field: selector of type %T", s))
		}
	}
	return cue.MakePath(out...).String()
}

// invisible finds the first character of s that is not visible text
// (Go's unicode.IsPrint: letters, marks, digits, punctuation, symbols and
// the ASCII space), the rule of the schema's #Line: line breaks, tabs,
// control, bidirectional and zero-width characters, and bytes that are
// not UTF-8. ok is false when s has none.
func invisible(s string) (r rune, at int, ok bool) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !unicode.IsPrint(r) {
			return r, i, true
		}
		i += size
	}
	return 0, 0, false
}

// visible checks that s is one line of visible text; ok is false (and a
// refusal recorded) when it is not.
func (e *Encoder) visible(field, s, context string) bool {
	if r, at, bad := invisible(s); bad {
		e.Fail(field, s, context, fmt.Sprintf("character %U at byte %d is not visible text (a line break, tab, control, bidirectional or invisible character changes how the file parses or reads)", r, at))
		return false
	}
	return true
}

// Text is s for a context that carries any visible text as it is: a
// YAML value written by a YAML encoder (compose's keys, Kubernetes
// objects). It refuses what is not visible text.
func (e *Encoder) Text(field, s, context string) string {
	if !e.visible(field, s, context) {
		return placeholder
	}
	return s
}

// MaxDockerfileLine is the longest line BuildKit's parser reads (its
// bufio.Scanner's limit less the line break); a Dockerfile context
// refuses a string of more than half of it, and an emitter checks each
// whole line it writes against it.
const MaxDockerfileLine = bufio.MaxScanTokenSize - 1

// dockerfileLong refuses a string too long for a Dockerfile line.
func (e *Encoder) dockerfileLong(field, s, context string) bool {
	if len(s) > MaxDockerfileLine/2 {
		e.Fail(field, s, context, fmt.Sprintf("it is %d bytes long, and BuildKit reads lines of at most %d", len(s), MaxDockerfileLine))
		return true
	}
	return false
}

// Name is s for a context that needs a non-empty value and carries any
// visible text as it is: a Kubernetes name, image or path, which an empty
// string would leave out of the object altogether (omitempty), a compose
// service's image or volume target.
func (e *Encoder) Name(field, s, context string) string {
	if s == "" {
		e.Fail(field, s, context, "it is empty, and an empty value is left out of the file (the field would vanish)")
		return placeholder
	}
	return e.Text(field, s, context)
}

// FileName is s as the name of a file in a folder (the entry binary in
// /usr/local/bin): a "/" or a name of "." or ".." would name another
// file than the one meant (path.Join would clean it silently), so those
// are refused, as is an empty name.
func (e *Encoder) FileName(field, s string) string {
	if s == "" || s == "." || s == ".." || strings.Contains(s, "/") {
		e.Fail(field, s, "a file name", `a file name is not empty, ".", ".." and has no "/"`)
		return placeholder
	}
	return s
}

// AbsPath is s where an absolute, clean path must stand (a volume's
// mount point, the directory a path variable names, the working
// directory): a relative, empty or unclean one would name another
// directory than the one the spec means, so it is refused.
func (e *Encoder) AbsPath(field, s string) string {
	if !strings.HasPrefix(s, "/") || path.Clean(s) != s {
		e.Fail(field, s, "an absolute path", "it is not an absolute, clean path (one starting with / without . or .. elements, // or a trailing /)")
		return "/refused"
	}
	return s
}

// DockerfileComment is s as the text of a Dockerfile comment line: any
// visible text; a line break would end the comment and start an
// instruction.
func (e *Encoder) DockerfileComment(field, s string) string {
	if e.dockerfileLong(field, s, "a Dockerfile comment") {
		return placeholder
	}
	return e.Text(field, s, "a Dockerfile comment")
}

// DockerfileQuoted is s as a double-quoted Dockerfile word, the form of
// LABEL and ENV values: BuildKit's lexer expands $ in it and reads \ as
// an escape, so both are escaped, with ". It has no escape for a line
// break (nor for any other invisible character), so those are refused.
func (e *Encoder) DockerfileQuoted(field, s string) string {
	if e.dockerfileLong(field, s, "a double-quoted Dockerfile word (LABEL, ENV)") || !e.visible(field, s, "a double-quoted Dockerfile word (LABEL, ENV)") {
		return `"` + placeholder + `"`
	}
	return `"` + dockerfileEscaper.Replace(s) + `"`
}

var dockerfileEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)

// DockerfileLabelKey is s as a double-quoted LABEL key: BuildKit splits a
// LABEL word at its first "=", quoted or not, so a key cannot hold one.
func (e *Encoder) DockerfileLabelKey(field, s string) string {
	switch {
	case s == "":
		e.Fail(field, s, "a Dockerfile LABEL key", "a label key cannot be empty")
		return `"` + placeholder + `"`
	case strings.Contains(s, "="):
		e.Fail(field, s, "a Dockerfile LABEL key", `BuildKit ends a LABEL key at its first "=", inside quotes too`)
		return `"` + placeholder + `"`
	}
	return e.DockerfileQuoted(field, s)
}

// DockerfileWord is s as an unquoted word of FROM, COPY, WORKDIR or
// EXPOSE: BuildKit splits those at white space (quotes do not group
// words there) and expands $ in them, and a word starting with "-" would
// be read as a flag, so only letters, digits and . _ / @ + : - are let
// through, not leading with "-".
func (e *Encoder) DockerfileWord(field, s string) string {
	const ctx = "an unquoted Dockerfile word (FROM, COPY, WORKDIR, EXPOSE)"
	switch {
	case e.dockerfileLong(field, s, ctx):
		return placeholder
	case s == "":
		e.Fail(field, s, ctx, "the word is empty")
		return placeholder
	case strings.HasPrefix(s, "-"):
		e.Fail(field, s, ctx, `a word starting with "-" is read as a flag`)
		return placeholder
	}
	for i, r := range s {
		if !wordRune(r) {
			e.Fail(field, s, ctx, fmt.Sprintf("character %q at byte %d would split the word, expand a variable or end the line; only letters, digits and . _ / @ + : - can stand there", r, i))
			return placeholder
		}
	}
	return s
}

func wordRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._/@+:-", r)
}

// ExecForm is args as an exec-form JSON array (HEALTHCHECK CMD,
// ENTRYPOINT), which Docker runs without a shell: JSON carries any
// string, but a NUL cannot reach a program's argv and an invisible
// character would hide in the file, so those are refused. fields names
// the spec field of each argument.
func (e *Encoder) ExecForm(fields []string, args []string) string {
	ok := true
	for i, a := range args {
		ok = !e.dockerfileLong(fields[i], a, "an exec-form JSON array") && e.visible(fields[i], a, "an exec-form JSON array") && ok
	}
	if !ok {
		return `["` + placeholder + `"]`
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(args) // []string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// ShellWord is s as one word of a POSIX shell command, quoted with
// mvdan.cc/sh's syntax.Quote when it needs quoting (a string that needs
// none comes back unchanged). POSIX sh has no escape for an invisible
// character (nor can a word hold a NUL), so those are refused.
func (e *Encoder) ShellWord(field, s string) string {
	if !e.visible(field, s, "a POSIX shell word") {
		return placeholder
	}
	q, err := syntax.Quote(s, syntax.LangPOSIX)
	if err != nil {
		e.Fail(field, s, "a POSIX shell word", err.Error())
		return placeholder
	}
	return q
}

// ShellOperand is ShellWord for an operand of a command that reads
// options (go build's package, mkdir's and chown's paths): a word
// starting with "-" would be an option, whatever its quotes.
func (e *Encoder) ShellOperand(field, s string) string {
	if strings.HasPrefix(s, "-") {
		e.Fail(field, s, "a command's operand in a POSIX shell command", `a word starting with "-" is read as an option`)
		return placeholder
	}
	return e.ShellWord(field, s)
}

// ShellComment is s as the text of a shell comment line: any visible
// text; a line break would end the comment and start a command.
func (e *Encoder) ShellComment(field, s string) string {
	return e.Text(field, s, "a shell comment")
}

// EnvName is s as the name of an environment variable, in a shell
// expansion, an ENV instruction or a compose interpolation: upper-case
// letters, digits and underscores, not starting with a digit (the
// portable form, and the schema's #EnvName). The start script's own
// variables are lower-case, so a spec's variable cannot overwrite one.
func (e *Encoder) EnvName(field, s string) string {
	if !envName(s) {
		e.Fail(field, s, "an environment variable name", "a name is upper-case letters, digits and underscores, not starting with a digit")
		return "REFUSED"
	}
	return s
}

func envName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// ShellInQuotes is s as literal text inside a double-quoted shell word,
// also when that text is the word of a parameter expansion ("${VAR:-s}",
// "${VAR:?s}"). There the shells agree on no quoting: \ " $ ` expand or
// escape, { and } nest or end the expansion, and a ' is read as a quote
// by bash but not by dash; a leading ~ may be expanded. Those are
// refused, as is what is not visible text (a message is one line).
func (e *Encoder) ShellInQuotes(field, s string) string {
	const ctx = `a double-quoted shell word or "${VAR:-...}" expansion`
	if !e.visible(field, s, ctx) {
		return placeholder
	}
	if i := strings.IndexAny(s, "\"'\\$`{}"); i >= 0 {
		e.Fail(field, s, ctx, fmt.Sprintf("character %q at byte %d has a meaning there that shells do not agree on (\\ \" ' $ ` { } cannot stand there)", s[i], i))
		return placeholder
	}
	if strings.HasPrefix(s, "~") {
		e.Fail(field, s, ctx, "a leading ~ may be expanded to a home directory")
		return placeholder
	}
	return s
}

// ComposeValue is s as a compose value: compose interpolates $ in every
// value, so a literal $ is written $$ (compose's own escape); what is
// not visible text is refused.
func (e *Encoder) ComposeValue(field, s string) string {
	if !e.visible(field, s, "a compose value") {
		return placeholder
	}
	return strings.ReplaceAll(s, "$", "$$")
}

// ComposeMessage is s as the message of a compose "${VAR:?message}"
// interpolation: compose ends the expression at } and would expand a $
// or { in it, so those are refused, as is what is not visible text.
func (e *Encoder) ComposeMessage(field, s string) string {
	const ctx = `the message of a compose "${VAR:?...}" interpolation`
	if !e.visible(field, s, ctx) {
		return placeholder
	}
	if i := strings.IndexAny(s, "${}"); i >= 0 {
		e.Fail(field, s, ctx, fmt.Sprintf("character %q at byte %d would end or nest the interpolation", s[i], i))
		return placeholder
	}
	return s
}

// ComposeDevicePath is s as a path in compose's short device syntax,
// "source:target:permissions": a ":" in it would split it differently.
func (e *Encoder) ComposeDevicePath(field, s string) string {
	if strings.Contains(s, ":") {
		e.Fail(field, s, "compose's device syntax source:target:permissions", `a ":" would split the device into other fields`)
		return placeholder
	}
	return e.ComposeValue(field, s)
}
