package check

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// listRule says how a consumer reads a list: in order, as a set (order
// and repetition mean nothing), or as items identified by a key.
type listRule struct {
	kind listKind
	// key names a keyed list's item (a container by its name, a port by
	// number and protocol).
	key func(item any) string
	// norm spells a set's item the way the consumer compares it.
	norm func(string) string
}

type listKind int

const (
	ordered listKind = iota
	set
	keyed
)

// jsonTree builds a Node from a value decoded from JSON (with UseNumber):
// maps keep sorted keys, lists follow rule (asked with the path of names,
// "[]" standing for a list item), and each node's line comes from line
// (asked with the path of names and list indexes, as positions index the
// YAML source).
type jsonTree struct {
	rule func(names []string) listRule
	line func(yamlPath string) int
}

func decodeJSON(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func (t jsonTree) build(v any, names []string, yamlPath string) *Node {
	line := t.line(yamlPath)
	switch v := v.(type) {
	case nil:
		return Lit("null", line) // written as null (compose: networks: {default: null})
	case string:
		return Str(v, line)
	case bool:
		return Bool(v, line)
	case json.Number:
		return Lit(canonicalNumber(v), line)
	case map[string]any:
		m := NewMap(line)
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			m.Set(k, t.build(v[k], appendName(names, k), join(yamlPath, k)))
		}
		return m
	case []any:
		r := t.rule(names)
		item := appendName(names, "[]")
		switch r.kind {
		case set:
			m := NewSet(line)
			for i, e := range v {
				s, ok := e.(string)
				if !ok {
					s = string(mustJSON(e))
				}
				if r.norm != nil {
					s = r.norm(s)
				}
				m.Set(s, Str(s, t.line(join(yamlPath, strconv.Itoa(i)))))
			}
			return m
		case keyed:
			m := NewSet(line)
			seen := map[string]int{}
			for i, e := range v {
				k := r.key(e)
				if seen[k]++; seen[k] > 1 {
					k += "#" + strconv.Itoa(seen[k])
				}
				m.Set(k, t.build(e, item, join(yamlPath, strconv.Itoa(i))))
			}
			return m
		default:
			l := NewList(line)
			for i, e := range v {
				l.Add(t.build(e, item, join(yamlPath, strconv.Itoa(i))))
			}
			return l
		}
	}
	return Str(string(mustJSON(v)), line)
}

// canonicalNumber prints 2, 2.0 and 2e0 alike.
func canonicalNumber(n json.Number) string {
	if i, err := n.Int64(); err == nil {
		return strconv.FormatInt(i, 10)
	}
	if f, err := n.Float64(); err == nil {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return n.String()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(strings.TrimSpace(err.Error()))
	}
	return b
}

// keyOf returns a keyed list item's key built from some of its fields,
// joined by "/"; a missing field prints as empty.
func keyOf(fields ...string) func(any) string {
	return func(item any) string {
		m, _ := item.(map[string]any)
		parts := make([]string, len(fields))
		for i, f := range fields {
			parts[i] = scalarString(lookup(m, f))
		}
		return strings.Join(parts, "/")
	}
}

// lookup finds a dotted field in a decoded JSON object.
func lookup(m map[string]any, dotted string) any {
	var v any = m
	for _, k := range strings.Split(dotted, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func scalarString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return canonicalNumber(v)
	default:
		return string(mustJSON(v))
	}
}

// matchNames reports whether names matches pattern, where "*" matches one
// name and a trailing "**" any rest.
func matchNames(pattern string, names []string) bool {
	ps := strings.Split(pattern, ".")
	for i, p := range ps {
		if p == "**" {
			return true
		}
		if i >= len(names) || p != "*" && p != names[i] {
			return false
		}
	}
	return len(ps) == len(names)
}

// appendName extends a path of names without sharing its backing array.
func appendName(names []string, k string) []string {
	return append(names[:len(names):len(names)], k)
}
