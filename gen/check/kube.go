package check

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// KubeDoc is one document of a multi-document Kubernetes manifest.
type KubeDoc struct {
	Start  int // line of the document's first line in the file
	Kind   string
	Name   string
	Object any // *corev1.ConfigMap, *corev1.Service, *networkingv1.NetworkPolicy, *appsv1.StatefulSet, ...
	pos    *positions
}

// Kube is a Kubernetes manifest decoded strictly into k8s.io/api types.
type Kube struct {
	File string
	Docs []KubeDoc
}

// kinds maps apiVersion/kind to the k8s.io/api type a document decodes into.
// A kind outside this list is an error: the compiler emits only these.
var kinds = map[string]func() any{
	"v1/ConfigMap":                       func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                          func() any { return new(corev1.Secret) },
	"v1/Service":                         func() any { return new(corev1.Service) },
	"v1/PersistentVolumeClaim":           func() any { return new(corev1.PersistentVolumeClaim) },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return new(networkingv1.NetworkPolicy) },
	"apps/v1/StatefulSet":                func() any { return new(appsv1.StatefulSet) },
	"apps/v1/Deployment":                 func() any { return new(appsv1.Deployment) },
}

// separator matches a YAML document separator line.
var separator = regexp.MustCompile(`^---(\s.*)?$`)

// ParseKubernetes splits a multi-document manifest and decodes each document
// strictly (unknown and duplicate fields are errors) into k8s.io/api types,
// keeping each document's starting line.
func ParseKubernetes(file string, data []byte) (*Kube, error) {
	k := &Kube{File: file}
	lines := bytes.SplitAfter(data, []byte("\n"))
	start := 0
	flush := func(end int) error {
		chunk := bytes.Join(lines[start:end], nil)
		first := start + 1
		defer func() { start = end + 1 }()
		if len(bytes.TrimSpace(stripComments(chunk))) == 0 {
			return nil
		}
		doc, err := decodeKube(file, first, chunk)
		if err != nil {
			return err
		}
		k.Docs = append(k.Docs, doc)
		return nil
	}
	for i, l := range lines {
		if separator.Match(bytes.TrimRight(l, "\r\n")) {
			if err := flush(i); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(len(lines)); err != nil {
		return nil, err
	}
	return k, nil
}

// stripComments drops whole-line comments, so a header-only chunk counts as empty.
func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l...)
		}
	}
	return out
}

func decodeKube(file string, first int, chunk []byte) (KubeDoc, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(chunk, &node); err != nil {
		return KubeDoc{}, fmt.Errorf("%s:%d: %w", file, first, err)
	}
	if len(node.Content) == 0 || node.Content[0].Kind != yaml.MappingNode {
		return KubeDoc{}, fmt.Errorf("%s:%d: a Kubernetes document is a mapping with apiVersion and kind", file, first)
	}
	// apiVersion and kind are read from the node already parsed for
	// positions: the document is converted and decoded only once, below,
	// into the type they select.
	pos := indexYAML(&node, first-1)
	tm := metav1.TypeMeta{APIVersion: pos.raw["apiVersion"], Kind: pos.raw["kind"]}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return KubeDoc{}, fmt.Errorf("%s:%d: unsupported apiVersion/kind %q", file, first, tm.APIVersion+"/"+tm.Kind)
	}
	obj := newObj()
	if err := sigsyaml.UnmarshalStrict(chunk, obj); err != nil {
		return KubeDoc{}, strictError(file, first, tm.Kind, pos, err)
	}
	name := ""
	if m, ok := obj.(interface{ GetName() string }); ok {
		name = m.GetName()
	}
	return KubeDoc{Start: first, Kind: tm.Kind, Name: name, Object: obj, pos: pos}, nil
}

// Line returns the file line of a dotted path inside the document.
func (d KubeDoc) Line(path string) int { return d.pos.line(path) }

// Has reports whether a dotted path is written in the document.
func (d KubeDoc) Has(path string) bool { return d.pos.has(path) }

// Find returns the first document of a kind.
func (k *Kube) Find(kind string) (KubeDoc, bool) {
	for _, d := range k.Docs {
		if d.Kind == kind {
			return d, true
		}
	}
	return KubeDoc{}, false
}

// ConfigMap returns the ConfigMap document with this name.
func (k *Kube) ConfigMap(name string) (*corev1.ConfigMap, KubeDoc, bool) {
	for _, d := range k.Docs {
		if cm, ok := d.Object.(*corev1.ConfigMap); ok && cm.Name == name {
			return cm, d, true
		}
	}
	return nil, KubeDoc{}, false
}

// relLine matches the document-relative "line N" that YAML errors carry.
var relLine = regexp.MustCompile(`line (\d+)`)

// strictError turns a strict-decoding error into a one-line PosError at the
// file line it names: YAML errors count lines from the document start, and an
// unknown field is found by its key in the document.
func strictError(file string, first int, kind string, pos *positions, err error) error {
	msg := err.Error()
	for _, p := range []string{"error unmarshaling JSON: while decoding JSON: ", "error converting YAML to JSON: ", "yaml: unmarshal errors:"} {
		msg = strings.TrimSpace(strings.TrimPrefix(msg, p))
	}
	line := first
	if m := relLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		line = first + n - 1
		msg = strings.TrimSpace(strings.Replace(msg, m[0]+":", "", 1))
	}
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		key := m[1][strings.LastIndex(m[1], ".")+1:]
		best := 0
		for p, l := range pos.lines {
			if (p == key || strings.HasSuffix(p, "."+key)) && (best == 0 || l < best) {
				best = l
			}
		}
		if best != 0 {
			line = best
		}
	}
	msg = strings.Join(strings.Fields(msg), " ")
	return &PosError{file, line, kind + ": " + msg}
}

// unknownField matches encoding/json's strict-mode complaint.
var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// ExecProbe is a probe of a workload's container that runs a command.
type ExecProbe struct {
	Name    string // "livenessProbe of container x"
	Command []string
	Line    int
}

// ExecProbes lists the command probes of every container of a workload
// document.
func ExecProbes(d KubeDoc) []ExecProbe {
	pod := podSpec(d.Object)
	if pod == nil {
		return nil
	}
	var out []ExecProbe
	for _, group := range []struct {
		key string
		cs  []corev1.Container
	}{{"initContainers", pod.InitContainers}, {"containers", pod.Containers}} {
		for i, c := range group.cs {
			for _, pr := range []struct {
				name string
				p    *corev1.Probe
			}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
				if pr.p != nil && pr.p.Exec != nil {
					out = append(out, ExecProbe{pr.name + " of container " + c.Name, pr.p.Exec.Command,
						d.Line(fmt.Sprintf("spec.template.spec.%s.%d.%s.exec", group.key, i, pr.name))})
				}
			}
		}
	}
	return out
}
