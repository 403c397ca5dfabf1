package spec

import (
	"bytes"
	"encoding/json"
	"strings"

	"cuelang.org/go/cue"
)

// node is one value of the spec as read from CUE once: the value as
// encoding/json would read CUE's JSON of it (map[string]any, []any,
// string, json.Number, bool or nil) and, for a struct or list, the nodes
// of its fields or elements in CUE's order.
//
// Reading a struct through CUE's API (Fields, Decode, MarshalJSON) costs
// time that grows with the square of its field count (CUE v0.17 finds
// each field by a linear search of the struct): a spec with 85,000
// labels took longer to decode than to evaluate, once for Decode and
// again for MarshalJSON. Load reads every struct once into a node tree
// and decodes the model and the digest's canonical JSON from it.
type node struct {
	v    cue.Value
	val  any
	keys []string // a struct's regular fields, in CUE's order
	kids []*node  // the nodes of keys, or of a list's elements
	// err is the first error of this value or of any value below it
	// (not concrete, or an error value), as Decode would report it.
	err error
}

// read reads v and everything below it, each struct and list once.
func read(v cue.Value) *node {
	v, _ = v.Default()
	n := &node{v: v}
	switch v.Kind() {
	case cue.StructKind:
		it, err := v.Fields()
		if err != nil {
			n.err = err
			return n
		}
		m := map[string]any{}
		for it.Next() {
			k := it.Selector().Unquoted()
			c := read(it.Value())
			if c.err != nil && n.err == nil {
				n.err = c.err
			}
			n.keys, n.kids, m[k] = append(n.keys, k), append(n.kids, c), c.val
		}
		n.val = m
	case cue.ListKind:
		it, err := v.List()
		if err != nil {
			n.err = err
			return n
		}
		l := []any{}
		for it.Next() {
			c := read(it.Value())
			if c.err != nil && n.err == nil {
				n.err = c.err
			}
			n.kids, l = append(n.kids, c), append(l, c.val)
		}
		n.val = l
	default:
		// A scalar, or an error or incomplete value, whose MarshalJSON
		// says why it has no JSON.
		b, err := v.MarshalJSON()
		if err == nil {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			err = dec.Decode(&n.val)
		}
		n.err = err
	}
	return n
}

// at is the node of the dotted path p below n (labels are identifiers),
// or nil when there is none.
func (n *node) at(p string) *node {
	for _, label := range strings.Split(p, ".") {
		var next *node
		for i, k := range n.keys {
			if k == label {
				next = n.kids[i]
				break
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// decode stores n's value into dst as encoding/json does (the model's
// types are the ones cue.Value.Decode filled before, with the same
// field-name matching).
func (n *node) decode(dst any) error {
	if n.err != nil {
		return n.err
	}
	b, err := json.Marshal(n.val)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(dst)
}
