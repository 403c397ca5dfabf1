package check

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// positions maps a dotted YAML path ("services.web.ports.0.target") to the
// line of that key or item, so findings about typed values (compose-go's
// Project, k8s.io/api objects) can still point at the source line.
type positions struct {
	lines map[string]int
	raw   map[string]string // scalar values as written, before any interpolation
	base  int               // line offset added to node lines (document start)
}

// indexYAML walks one YAML document. offset is added to every line, so a
// document cut out of a multi-document file keeps the file's line numbers.
func indexYAML(doc *yaml.Node, offset int) *positions {
	p := &positions{lines: map[string]int{}, raw: map[string]string{}, base: offset}
	if doc != nil && doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		p.walk("", doc.Content[0])
		p.lines[""] = doc.Content[0].Line + offset
	}
	return p
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (p *positions) walk(path string, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kp := join(path, k.Value)
			p.lines[kp] = k.Line + p.base
			if v.Kind == yaml.ScalarNode {
				p.raw[kp] = v.Value
			}
			p.walk(kp, v)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			ip := join(path, strconv.Itoa(i))
			p.lines[ip] = v.Line + p.base
			if v.Kind == yaml.ScalarNode {
				p.raw[ip] = v.Value
				// compose's list forms "NAME=value" (environment) are indexed by name too.
				if name, val, ok := strings.Cut(v.Value, "="); ok {
					p.lines[join(path, name)] = v.Line + p.base
					p.raw[join(path, name)] = val
				}
			}
			p.walk(ip, v)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			p.walk(path, n.Alias)
		}
	}
}

// line returns the line of path, or of its nearest indexed ancestor, so a
// finding about a defaulted (absent) field still points at its parent.
func (p *positions) line(path string) int {
	for {
		if l, ok := p.lines[path]; ok {
			return l
		}
		i := strings.LastIndex(path, ".")
		if i < 0 {
			return p.lines[""]
		}
		path = path[:i]
	}
}

// has reports whether path is written in the source.
func (p *positions) has(path string) bool {
	_, ok := p.lines[path]
	return ok
}
