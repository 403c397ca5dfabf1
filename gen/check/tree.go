package check

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Node is one value of an artifact's model as its consumer reads it: a
// scalar, a map, or an ordered list, with the line it was written on.
// Lists whose order the consumer ignores (a set of capabilities) or whose
// items the consumer identifies by a key (containers by name, mounts by
// path) are maps whose keys print in brackets. Two artifacts mean the same
// thing exactly when their trees are equal: formatting, comments, key
// order and every spelling the consumer treats as equal are normalized
// away before the tree is built, and nothing else is.
type Node struct {
	Kind NodeKind
	// Value is a scalar's canonical text; String tells a string (printed
	// quoted) from a number or boolean.
	Value  string
	String bool
	// Keys are a map's keys in the order they print; Map holds the values.
	Keys []string
	Map  map[string]*Node
	// Bracket marks a map built from a list: its keys print as [key].
	Bracket bool
	// Items are an ordered list's values.
	Items []*Node
	// Text, when set, is how the node prints as a whole (a Dockerfile
	// instruction, a shell command) instead of its fields.
	Text string
	// Align, when set, is what an ordered list aligns items on before it
	// compares them field by field; by default the whole printed node.
	Align string
	Line  int
}

// NodeKind tells scalars, maps and lists apart.
type NodeKind int

const (
	// Scalar is a leaf value.
	Scalar NodeKind = iota
	// Map is a set of named values.
	Map
	// List is an ordered sequence.
	List
)

// Str is a string scalar.
func Str(v string, line int) *Node { return &Node{Kind: Scalar, Value: v, String: true, Line: line} }

// Lit is a number or boolean scalar.
func Lit(v string, line int) *Node { return &Node{Kind: Scalar, Value: v, Line: line} }

// Bool is a boolean scalar.
func Bool(v bool, line int) *Node { return Lit(strconv.FormatBool(v), line) }

// NewMap is an empty map at line.
func NewMap(line int) *Node { return &Node{Kind: Map, Map: map[string]*Node{}, Line: line} }

// NewSet is an empty map whose keys print in brackets.
func NewSet(line int) *Node {
	return &Node{Kind: Map, Map: map[string]*Node{}, Bracket: true, Line: line}
}

// NewList is an empty ordered list at line.
func NewList(line int) *Node { return &Node{Kind: List, Line: line} }

// Set puts v under key k (replacing an earlier value, keeping its place);
// a nil v is not stored, so absent and unset are one thing.
func (n *Node) Set(k string, v *Node) *Node {
	if v == nil {
		return n
	}
	if _, ok := n.Map[k]; !ok {
		n.Keys = append(n.Keys, k)
	}
	n.Map[k] = v
	return n
}

// Add appends v to a list.
func (n *Node) Add(v *Node) *Node {
	if v != nil {
		n.Items = append(n.Items, v)
	}
	return n
}

// Get returns the value under k, or nil.
func (n *Node) Get(k string) *Node {
	if n == nil || n.Kind != Map {
		return nil
	}
	return n.Map[k]
}

// Empty reports whether a map or list holds nothing.
func (n *Node) Empty() bool {
	return n == nil || n.Kind == Map && len(n.Keys) == 0 || n.Kind == List && len(n.Items) == 0
}

// Render prints a node on one line, compactly: scalars as themselves
// (strings quoted), maps as {k: v, ...}, lists as [a, b].
func (n *Node) Render() string {
	var b strings.Builder
	n.render(&b)
	return b.String()
}

func (n *Node) render(b *strings.Builder) {
	switch {
	case n == nil:
		b.WriteString("none")
	case n.Text != "" && !strings.Contains(n.Text, "`"):
		b.WriteString("`" + n.Text + "`") // a command, as written
	case n.Text != "":
		b.WriteString(strconv.Quote(n.Text))
	case n.Kind == Scalar && n.String:
		b.WriteString(strconv.Quote(n.Value))
	case n.Kind == Scalar:
		b.WriteString(n.Value)
	case n.Kind == List:
		b.WriteByte('[')
		for i, it := range n.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			it.render(b)
		}
		b.WriteByte(']')
	default:
		b.WriteByte('{')
		for i, k := range n.Keys {
			if i > 0 {
				b.WriteString(", ")
			}
			v := n.Map[k]
			if n.Bracket && v.Kind == Scalar && v.Value == k {
				v.render(b) // a set: the item is its own key
				continue
			}
			b.WriteString(k + ": ")
			v.render(b)
		}
		b.WriteByte('}')
	}
}

// Path is where a value sits in an artifact's tree: one segment per map
// key or list item.
type Path []Segment

// Segment is one step of a Path.
type Segment struct {
	Name    string
	Bracket bool // a list item or keyed-list key: printed [Name]
}

func (p Path) child(name string, bracket bool) Path {
	return append(slices.Clip(p), Segment{name, bracket})
}

// String prints the path as a.b[key].c; a key that would read as more
// than one segment is quoted.
func (p Path) String() string {
	var b strings.Builder
	for i, s := range p {
		switch {
		case s.Bracket:
			b.WriteString("[" + s.Name + "]")
		case !plainKey(s.Name):
			b.WriteString("[" + strconv.Quote(s.Name) + "]")
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.Name)
		}
	}
	return b.String()
}

// Names returns the path's segment names, for matching.
func (p Path) Names() []string {
	out := make([]string, len(p))
	for i, s := range p {
		out[i] = s.Name
	}
	return out
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r == '-' || r == '/' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Difference is one place where two trees disagree. Got is the audited
// artifact's value and Want the reference's; either is nil when the value
// is on one side only.
type Difference struct {
	Path      Path
	Got, Want *Node
}

// Line is where the difference is best looked at in the audited artifact:
// the line of its value, or, for a value it lacks, of the nearest
// enclosing value it has.
func (d Difference) Line() int {
	if d.Got != nil && d.Got.Line > 0 {
		return d.Got.Line
	}
	return 0
}

// Compare lists every difference between got and want, in the order of
// want's keys (extra keys of got after them). Scalars differ by value or
// kind; maps by key; ordered lists are aligned first (an item inserted or
// removed is one difference, not a shifted tail) and aligned items are
// compared field by field. parentLine is reported for values got lacks.
func Compare(got, want *Node) []Difference {
	var out []Difference
	compareAt(nil, got, want, 0, &out)
	return out
}

func compareAt(p Path, got, want *Node, parentLine int, out *[]Difference) {
	switch {
	case got == nil && want == nil:
		return
	case got == nil || want == nil || got.Kind != want.Kind || got.Kind == Map && got.Bracket != want.Bracket:
		if got == nil {
			got = nil
			*out = append(*out, Difference{Path: p, Want: want, Got: placeholderAt(parentLine)})
			return
		}
		*out = append(*out, Difference{Path: p, Got: got, Want: want})
		return
	}
	switch got.Kind {
	case Scalar:
		if got.Value != want.Value || got.String != want.String {
			*out = append(*out, Difference{Path: p, Got: got, Want: want})
		}
	case Map:
		for _, k := range want.Keys {
			compareAt(p.child(k, want.Bracket), got.Map[k], want.Map[k], got.Line, out)
		}
		for _, k := range got.Keys {
			if _, ok := want.Map[k]; !ok {
				compareAt(p.child(k, got.Bracket), got.Map[k], nil, got.Line, out)
			}
		}
	case List:
		compareList(p, got, want, out)
	}
}

// placeholderAt stands for a value the audited artifact lacks: it has no
// value, only the line of the enclosing one.
func placeholderAt(line int) *Node {
	return &Node{Kind: -1, Line: line}
}

// Absent reports whether a Difference side stands for a missing value.
func (n *Node) Absent() bool { return n == nil || n.Kind < 0 }

// compareList aligns got's and want's items on their Align keys (longest
// common subsequence), compares aligned items, and pairs the items in
// each gap in order: a pair is a changed item, the rest are extra or
// missing. Paths name items by their index in want (or got, for extras).
func compareList(p Path, got, want *Node, out *[]Difference) {
	g, w := alignKeys(got.Items), alignKeys(want.Items)
	pairs := lcs(g, w)
	gi, wi := 0, 0
	flush := func(gEnd, wEnd int) {
		for gi < gEnd || wi < wEnd {
			switch {
			case gi < gEnd && wi < wEnd:
				compareAt(p.child(strconv.Itoa(wi), true), got.Items[gi], want.Items[wi], got.Line, out)
				gi++
				wi++
			case gi < gEnd:
				*out = append(*out, Difference{Path: p.child(strconv.Itoa(gi), true), Got: got.Items[gi]})
				gi++
			default:
				line := got.Line
				if gi > 0 {
					line = got.Items[gi-1].Line
				}
				*out = append(*out, Difference{Path: p.child(strconv.Itoa(wi), true), Got: placeholderAt(line), Want: want.Items[wi]})
				wi++
			}
		}
	}
	for _, pr := range pairs {
		flush(pr[0], pr[1])
		compareAt(p.child(strconv.Itoa(wi), true), got.Items[gi], want.Items[wi], got.Line, out)
		gi, wi = gi+1, wi+1
	}
	flush(len(g), len(w))
}

func alignKeys(items []*Node) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Align
		if out[i] == "" {
			out[i] = it.Render()
		}
	}
	return out
}

// maxAlign bounds the lists aligned by LCS (a quadratic table): longer
// lists, which no artifact the compiler writes comes near, are compared
// item by item in order.
const maxAlign = 2000

// lcs returns index pairs (i in a, j in b) of a longest common
// subsequence of a and b, in order.
func lcs(a, b []string) [][2]int {
	if len(a) > maxAlign || len(b) > maxAlign {
		var out [][2]int
		for i := 0; i < min(len(a), len(b)); i++ {
			if a[i] == b[i] {
				out = append(out, [2]int{i, i})
			}
		}
		return out
	}
	n, m := len(a), len(b)
	t := make([][]int, n+1)
	for i := range t {
		t[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				t[i][j] = t[i+1][j+1] + 1
			} else {
				t[i][j] = max(t[i+1][j], t[i][j+1])
			}
		}
	}
	var out [][2]int
	for i, j := 0, 0; i < n && j < m; {
		switch {
		case a[i] == b[j]:
			out = append(out, [2]int{i, j})
			i, j = i+1, j+1
		case t[i+1][j] >= t[i][j+1]:
			i++
		default:
			j++
		}
	}
	return out
}

// Describe prints one side of a difference for a message.
func Describe(n *Node) string {
	if n.Absent() {
		return "none"
	}
	s := n.Render()
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}

// String prints a difference as "path: got X, want Y", for tests.
func (d Difference) String() string {
	return fmt.Sprintf("%s: got %s, want %s", d.Path, Describe(d.Got), Describe(d.Want))
}
