package check

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Field is one thing about the service that several sources state: an
// artifact, the spec, the running container. Each source has one
// extractor that reads every field it expresses into Facts; Compare holds
// two sources' Facts together field by field. Adding a field to the spec
// is then one line in each extractor that expresses it and one row in
// Fields.
type Field string

// The fields, by the name findings use.
const (
	FieldEntry        Field = "entry"           // the process: binary and arguments
	FieldEntrypoint   Field = "entrypoint"      // what the image starts: the start script
	FieldUID          Field = "uid"             // the user the process runs as
	FieldGID          Field = "gid"             // its group
	FieldPorts        Field = "ports"           // container ports, "8765/tcp"
	FieldHealthTest   Field = "health.test"     // Docker's health check command
	FieldInterval     Field = "health.interval" // between checks
	FieldTimeout      Field = "health.timeout"  // of one check
	FieldStartPeriod  Field = "health.startPeriod"
	FieldRetries      Field = "health.retries"   // failures before unhealthy
	FieldLiveness     Field = "health.liveness"  // liveness (and startup) probe path
	FieldReadiness    Field = "health.readiness" // readiness probe path
	FieldHealthPort   Field = "health.port"      // the port probes ask
	FieldEnv          Field = "env"              // the variables the process gets
	FieldEnvValues    Field = "env.value"        // their values, where written
	FieldEnvExternal  Field = "env.external"     // the variables the operator supplies (secrets)
	FieldEnvRequired  Field = "env.required"     // the variables the start script requires
	FieldCapabilities Field = "capabilities"     // added after dropping ALL
	FieldDropAll      Field = "capabilities.drop"
	FieldPrivileged   Field = "privileged"
	FieldFUSE         Field = "fuse"    // whether the FUSE device is passed in
	FieldDevices      Field = "devices" // host devices passed in
	FieldReadOnlyRoot Field = "readOnlyRoot"
	FieldVolumes      Field = "volumes" // writable mounts, path → persistent | tmpfs | bind
	FieldWorkdir      Field = "workdir"
	FieldImage        Field = "image"
	FieldReplicas     Field = "replicas"
	FieldStopGrace    Field = "stopGracePeriod"
	FieldRestart      Field = "restart"
	FieldResources    Field = "resources" // cpu and memory requests and limits, canonical
)

// FieldRule is a field's comparison: its kind and the finding rule that
// reports a disagreement.
type FieldRule struct {
	Field Field
	Rule  string
	// Keyed fields hold items (a port, a variable, a mount) compared by
	// key, each with an optional value; the others hold one value per
	// view, every view of one source compared with the other's.
	Keyed bool
	// Within, when set, is the keyed field that says which items exist:
	// an item one side lacks there is that field's finding, not this
	// one's (a variable missing is not also a value missing).
	Within Field
}

// Fields lists every field in the order findings report them.
var Fields = []FieldRule{
	{FieldEntry, RuleProcess, false, ""},
	{FieldEntrypoint, RuleProcess, false, ""},
	{FieldUID, RuleUser, false, ""},
	{FieldGID, RuleUser, false, ""},
	{FieldPorts, RulePorts, true, ""},
	{FieldHealthTest, RuleHealth, false, ""},
	{FieldInterval, RuleHealth, false, ""},
	{FieldTimeout, RuleHealth, false, ""},
	{FieldStartPeriod, RuleHealth, false, ""},
	{FieldRetries, RuleHealth, false, ""},
	{FieldLiveness, RuleHealth, false, ""},
	{FieldReadiness, RuleHealth, false, ""},
	{FieldHealthPort, RuleHealth, false, ""},
	{FieldEnv, RuleEnv, true, ""},
	{FieldEnvValues, RuleEnv, true, FieldEnv},
	{FieldEnvExternal, RuleSecrets, true, ""},
	{FieldEnvRequired, RuleEnv, true, ""},
	{FieldCapabilities, RulePrivileges, true, ""},
	{FieldDropAll, RulePrivileges, false, ""},
	{FieldPrivileged, RulePrivileges, false, ""},
	{FieldFUSE, RulePrivileges, false, ""},
	{FieldDevices, RulePrivileges, true, ""},
	{FieldReadOnlyRoot, RuleVolumes, false, ""},
	{FieldVolumes, RuleVolumes, true, ""},
	{FieldWorkdir, RuleProcess, false, ""},
	{FieldImage, RuleWorkload, false, ""},
	{FieldReplicas, RuleWorkload, false, ""},
	{FieldStopGrace, RuleWorkload, false, ""},
	{FieldRestart, RuleWorkload, false, ""},
	{FieldResources, RuleWorkload, true, ""},
}

// Value is one statement of a source about a field: for a keyed field,
// an item (Key) and what the source says of it (V, may be empty); for
// another field, the value (V) as one view states it.
type Value struct {
	Key, V string
	// View names how the source states it ("EXPOSE", "compose ports",
	// "readinessProbe periodSeconds"); a keyed field's items are grouped
	// into sets by view.
	View string
	// File and Line locate it in an artifact; Spec, for the spec, is the
	// spec field it comes from.
	File string
	Line int
	Spec string
}

// Facts are what one source says about the service, field by field; a
// field the source does not express is absent.
type Facts struct {
	Source string // "Dockerfile", "the spec", "the container"
	Fields map[Field][]Value
	// Partial marks fields the source states only in part (the start
	// script sets only the variables it overrides): its items must agree
	// with the other source's, but what it does not state is no finding.
	Partial map[Field]bool
	// Stated are the views a source states a keyed field in, even with
	// no item (compose with no cap_add; a container with an empty
	// effective capability set), with where, for findings about what a
	// view lacks.
	Stated map[Field][]Value
	// Problems are what the extractor found wrong while reading (a named
	// port that names nothing).
	Problems []Finding
}

// NewFacts starts the facts of a source.
func NewFacts(source string) *Facts {
	return &Facts{Source: source, Fields: map[Field][]Value{}, Partial: map[Field]bool{}, Stated: map[Field][]Value{}}
}

// Add records a value of a field.
func (f *Facts) Add(field Field, v Value) {
	f.Fields[field] = append(f.Fields[field], v)
}

// Has reports whether the source expresses a field.
func (f *Facts) Has(field Field) bool {
	_, ok := f.Fields[field]
	return ok
}

// Express records that the source states a keyed field in a view, even
// with no item (compose with no cap_add states that no capability is
// added), and where a finding about an item the view lacks points.
func (f *Facts) Express(field Field, view, file string, line int) {
	f.State(field, Value{View: view, File: file, Line: line})
}

// State is Express with the location as a Value (the spec's names its
// field).
func (f *Facts) State(field Field, at Value) {
	if _, ok := f.Fields[field]; !ok {
		f.Fields[field] = nil
	}
	f.Stated[field] = append(f.Stated[field], at)
}

// stated returns where the source states a view of a field.
func (f *Facts) stated(field Field, view string) (Value, bool) {
	for _, v := range f.Stated[field] {
		if v.View == view || view == "" {
			return v, true
		}
	}
	return Value{}, false
}

// Disagreement is one way two sources' facts differ: Got from the source
// held to the reference, Want from the reference; one of them is nil for
// an item on one side only.
type Disagreement struct {
	Field     FieldRule
	Got, Want *Value
	// GotView and WantView name the views compared (an item missing on
	// one side has no Value there, but its view is known).
	GotView, WantView string
	// Anchor, for an item want lacks, is where want states the field;
	// WantSource names want when it states the field with no item.
	Anchor     *Value
	WantSource string
}

// CompareFacts holds got's facts to want's, for every field both
// express (see CompareField).
func CompareFacts(got, want *Facts) []Disagreement {
	var out []Disagreement
	for _, fr := range Fields {
		out = append(out, CompareField(fr, got, want)...)
	}
	return out
}

// CompareField holds got's statement of one field to want's, when both
// express it: for a keyed field, each of got's views against want's
// first, item by item (a partial got may leave items out); for another,
// each of got's values against want's first.
func CompareField(fr FieldRule, got, want *Facts) []Disagreement {
	gv, ok1 := got.Fields[fr.Field]
	wv, ok2 := want.Fields[fr.Field]
	if !ok1 || !ok2 {
		return nil
	}
	var out []Disagreement
	if !fr.Keyed {
		if len(wv) == 0 {
			return nil
		}
		w := wv[0]
		for i := range gv {
			if gv[i].V != w.V {
				out = append(out, Disagreement{Field: fr, Got: &gv[i], Want: &w, GotView: gv[i].View, WantView: w.View})
			}
		}
		return out
	}
	wantView := firstView(wv)
	if l, ok := want.stated(fr.Field, ""); ok && wantView == "" {
		wantView = l.View
	}
	wantItems := items(wv, wantView)
	// An extra item is located where want states the field: the spec's
	// field, or an artifact's first item of the view (its line).
	var anchor *Value
	if l, ok := want.stated(fr.Field, wantView); ok && l.Spec != "" {
		anchor = &l
	}
	for i := range wv {
		if anchor == nil && wv[i].View == wantView {
			anchor = &wv[i]
		}
	}
	if l, ok := want.stated(fr.Field, wantView); ok && anchor == nil {
		anchor = &l
	}
	// exists says whether a source has an item in the Within field (true
	// when there is none to ask).
	exists := func(f *Facts, key string) bool {
		if fr.Within == "" || !f.Has(fr.Within) || !want.Has(fr.Within) || !got.Has(fr.Within) {
			return true
		}
		for _, v := range f.Fields[fr.Within] {
			if v.Key == key {
				return true
			}
		}
		return false
	}
	gotViews := views(gv)
	for _, l := range got.Stated[fr.Field] {
		if !slices.Contains(gotViews, l.View) {
			gotViews = append(gotViews, l.View) // stated, with no item
		}
	}
	for _, view := range gotViews {
		gotItems := items(gv, view)
		for _, k := range slices.Sorted(maps.Keys(gotItems)) {
			g := gotItems[k]
			w, ok := wantItems[k]
			switch {
			case !ok && !exists(want, k):
			case !ok:
				out = append(out, Disagreement{Field: fr, Got: g, GotView: view, WantView: wantView, Anchor: anchor, WantSource: want.Source})
			case g.V != w.V:
				out = append(out, Disagreement{Field: fr, Got: g, Want: w, GotView: view, WantView: wantView})
			}
		}
		if got.Partial[fr.Field] {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(wantItems)) {
			if _, ok := gotItems[k]; !ok && exists(got, k) {
				out = append(out, Disagreement{Field: fr, Want: wantItems[k], GotView: view, WantView: wantView})
			}
		}
	}
	return out
}

// CrossCheck holds sources against each other, field by field: for each
// field, every source that expresses it against the first (in the order
// given) that does, completely. Findings come with the extractors'
// problems, at the held source's lines.
func CrossCheck(sources ...*Facts) []Finding {
	var fs []Finding
	for _, f := range sources {
		if f != nil {
			fs = append(fs, f.Problems...)
		}
	}
	for _, fr := range Fields {
		var ref *Facts
		for _, f := range sources {
			if f != nil && f.Has(fr.Field) && !f.Partial[fr.Field] {
				ref = f
				break
			}
		}
		if ref == nil {
			continue
		}
		for _, f := range sources {
			if f == nil || f == ref {
				continue
			}
			for _, d := range CompareField(fr, f, ref) {
				fs = append(fs, d.Finding(f, nil))
			}
		}
	}
	return fs
}

func firstView(vs []Value) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0].View
}

// views lists the views of a keyed field's values, in order.
func views(vs []Value) []string {
	var out []string
	for _, v := range vs {
		if !slices.Contains(out, v.View) {
			out = append(out, v.View)
		}
	}
	return out
}

// items maps one view's items by key.
func items(vs []Value, view string) map[string]*Value {
	out := map[string]*Value{}
	for i := range vs {
		if vs[i].View == view {
			if _, ok := out[vs[i].Key]; !ok {
				out[vs[i].Key] = &vs[i]
			}
		}
	}
	return out
}

// Where prints a value's location for a message: "file:line", or for
// the spec what where says of its field.
func (v *Value) Where(where func(field string) string) string {
	if v.File != "" {
		return at(v.File, v.Line)
	}
	if where != nil {
		return "spec: " + where(v.Spec)
	}
	return "spec: " + v.Spec
}

// item prints a keyed item with its value (a value that may be a secret
// is not shown).
func (v *Value) item() string {
	if v.V == "" {
		return v.Key
	}
	return v.Key + "=" + v.shown()
}

// shown is the value as messages print it: a variable whose name says it
// holds a secret has its value withheld, findings being logged.
func (v *Value) shown() string {
	if SecretName(v.Key) && v.V != "" {
		return "(not shown: " + strconv.Itoa(len(v.V)) + " bytes)"
	}
	return quoteEmpty(v.V)
}

// SecretName reports whether a variable's name says it holds a secret
// (SECRET, PASSWORD, TOKEN, API_KEY...).
func SecretName(name string) bool { return secretName.MatchString(name) }

// Message says what a disagreement is, naming where the reference states
// it (where prints spec positions; nil prints the spec field).
func (d Disagreement) Message(where func(string) string) string {
	switch {
	case d.Field.Keyed && d.Want == nil:
		loc := d.WantSource
		if d.Anchor != nil {
			loc = d.Anchor.Where(where)
		}
		return fmt.Sprintf("%s %s is not in %s (%s)", d.GotView, d.Got.item(), d.WantView, loc)
	case d.Field.Keyed && d.Got == nil:
		return fmt.Sprintf("%s lacks %s, which %s has (%s)", d.GotView, d.Want.item(), d.WantView, d.Want.Where(where))
	case d.Field.Keyed:
		return fmt.Sprintf("%s gives %s %s, but %s gives %s (%s)", d.GotView, d.Got.Key, d.Got.shown(), d.WantView, d.Want.shown(), d.Want.Where(where))
	}
	return fmt.Sprintf("%s is %s, but %s is %s (%s)", d.GotView, quoteEmpty(d.Got.V), d.WantView, quoteEmpty(d.Want.V), d.Want.Where(where))
}

// quoteEmpty shows an empty value, or one with spaces, quoted (a command
// line, already in brackets, as it is).
func quoteEmpty(s string) string {
	if s == "" || strings.ContainsAny(s, " \t") && !strings.HasPrefix(s, "[") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// Finding turns a disagreement into a finding at the held source's line:
// its value's, or for an item it lacks the line of its view of the field.
func (d Disagreement) Finding(got *Facts, where func(string) string) Finding {
	file, line := got.Source, 0
	if d.Got != nil {
		file, line = d.Got.File, d.Got.Line
	} else {
		for _, v := range got.Fields[d.Field.Field] {
			if v.View == d.GotView || line == 0 {
				file, line = v.File, v.Line
			}
			if v.View == d.GotView {
				break
			}
		}
		if line == 0 {
			if l, ok := got.stated(d.Field.Field, d.GotView); ok {
				file, line = l.File, l.Line
			}
		}
	}
	if file == "" {
		file = got.Source
	}
	return Finding{File: file, Line: line, Rule: d.Field.Rule, Message: d.Message(where)}
}
