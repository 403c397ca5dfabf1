package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	_ "k8s.io/kubernetes/pkg/apis/networking/install"
	"k8s.io/kubernetes/pkg/registry/apps/controllerrevision"
	"k8s.io/kubernetes/pkg/registry/apps/deployment"
	"k8s.io/kubernetes/pkg/registry/apps/replicaset"
	"k8s.io/kubernetes/pkg/registry/apps/statefulset"
	"k8s.io/kubernetes/pkg/registry/core/configmap"
	"k8s.io/kubernetes/pkg/registry/core/persistentvolumeclaim"
	"k8s.io/kubernetes/pkg/registry/core/pod"
	"k8s.io/kubernetes/pkg/registry/core/secret"
	"k8s.io/kubernetes/pkg/registry/core/service"
	"k8s.io/kubernetes/pkg/registry/networking/networkpolicy"
)

// resource is what the API server knows about a kind: its REST resource name
// and the registry strategy that guards its creation.
type resource struct {
	plural   string
	strategy rest.RESTCreateStrategy
}

// resources are the kinds lighthouse-gen emits (and operators add beside them).
var resources = map[schema.GroupKind]resource{
	{Group: "", Kind: "ConfigMap"}:             {"configmaps", configmap.Strategy},
	{Group: "", Kind: "Secret"}:                {"secrets", secret.Strategy},
	{Group: "", Kind: "Service"}:               {"services", service.Strategy},
	{Group: "", Kind: "PersistentVolumeClaim"}: {"persistentvolumeclaims", persistentvolumeclaim.Strategy},
	{Group: "apps", Kind: "StatefulSet"}:       {"statefulsets", statefulset.Strategy},
	{Group: "apps", Kind: "Deployment"}:        {"deployments", deployment.Strategy},
	// What the StatefulSet and Deployment controllers create.
	{Group: "", Kind: "Pod"}:                            {"pods", pod.Strategy},
	{Group: "apps", Kind: "ControllerRevision"}:         {"controllerrevisions", controllerrevision.Strategy},
	{Group: "apps", Kind: "ReplicaSet"}:                 {"replicasets", replicaset.Strategy},
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}: {"networkpolicies", networkpolicy.Strategy},
}

// strictCodecs decode as an API server with fieldValidation=Strict does.
var strictCodecs = serializer.NewCodecFactory(legacyscheme.Scheme, serializer.EnableStrict)

// Problem is one validation error at a file line.
type Problem struct {
	File  string
	Line  int
	Kind  string
	Name  string
	Field string
	Msg   string
}

func (p Problem) String() string {
	field := p.Field
	if field == "" {
		field = "<document>"
	}
	return fmt.Sprintf("%s:%d: %s/%s: %s: %s", p.File, p.Line, p.Kind, p.Name, field, p.Msg)
}

// separator matches a YAML document separator line.
var separator = regexp.MustCompile(`^---(\s.*)?$`)

// document is one YAML document of a file, with its first line.
type document struct {
	start int
	data  []byte
}

// split cuts a multi-document YAML file at its separator lines, keeping each
// document's first line so errors point into the file.
func split(data []byte) []document {
	var docs []document
	lines := bytes.SplitAfter(data, []byte("\n"))
	start := 0
	flush := func(end int) {
		chunk := bytes.Join(lines[start:end], nil)
		var content bool
		for _, l := range lines[start:end] {
			t := bytes.TrimSpace(l)
			content = content || (len(t) > 0 && t[0] != '#')
		}
		if content {
			docs = append(docs, document{start + 1, chunk})
		}
		start = end + 1
	}
	for i, l := range lines {
		if separator.Match(bytes.TrimRight(l, "\r\n")) {
			flush(i)
		}
	}
	flush(len(lines))
	return docs
}

// Validate checks every document of a manifest file and returns its problems.
func Validate(file string, data []byte) []Problem {
	var out []Problem
	for _, d := range split(data) {
		out = append(out, validateDoc(file, d)...)
	}
	return out
}

func validateDoc(file string, d document) []Problem {
	var node yaml.Node
	lines := map[string]int{}
	if err := yaml.Unmarshal(d.data, &node); err == nil && len(node.Content) > 0 {
		index(lines, "", node.Content[0], d.start-1)
	}
	at := func(field string) int { return lookup(lines, field, d.start) }

	obj, gvk, err := strictCodecs.UniversalDeserializer().Decode(d.data, nil, nil)
	if obj == nil || gvk == nil {
		return []Problem{{File: file, Line: d.start, Kind: "?", Name: "?", Msg: oneLine(err)}}
	}
	accessor, aerr := meta.Accessor(obj)
	name := ""
	if aerr == nil {
		name = accessor.GetName()
	}
	var out []Problem
	if err != nil {
		// Strict-decoding errors (unknown or duplicate fields) leave obj decoded;
		// report them and go on validating what was understood.
		if se, ok := runtime.AsStrictDecodingError(err); ok {
			for _, e := range se.Errors() {
				out = append(out, strictProblem(file, d.start, gvk.Kind, name, e, lines))
			}
		} else {
			return []Problem{{File: file, Line: d.start, Kind: gvk.Kind, Name: name, Msg: oneLine(err)}}
		}
	}
	causes, err := validateObject(obj, *gvk, name)
	if err != nil {
		return append(out, Problem{File: file, Line: d.start, Kind: gvk.Kind, Name: name, Msg: oneLine(err)})
	}
	for _, c := range causes {
		out = append(out, Problem{File: file, Line: at(c.Field), Kind: gvk.Kind, Name: name, Field: c.Field, Msg: c.Message})
	}
	if len(out) > 0 {
		return out
	}
	// The objects the controllers will create from this one must pass
	// too: a StatefulSet whose pods or revision cannot be created is
	// accepted, but never runs.
	for _, dv := range derive(obj) {
		causes, err := validateObject(dv.obj, dv.gvk, dv.name)
		if err != nil {
			causes = []metav1.StatusCause{{Message: oneLine(err)}}
		}
		for _, c := range causes {
			field := "derived " + dv.gvk.Kind + "/" + dv.name
			if c.Field != "" {
				field += " " + c.Field
			}
			out = append(out, Problem{File: file, Line: at("metadata.name"), Kind: gvk.Kind, Name: name, Field: field, Msg: c.Message})
		}
	}
	return out
}

// validateObject runs the API server's create path on obj, a decoded
// external object of kind gvk: defaulting, conversion to the internal
// version and the registry strategy's rest.BeforeCreate. It returns each
// field the server refuses, or an error when it cannot get that far.
func validateObject(obj runtime.Object, gvk schema.GroupVersionKind, name string) ([]metav1.StatusCause, error) {
	res, ok := resources[gvk.GroupKind()]
	if !ok {
		return nil, errors.New("kind not supported by kubevalidate")
	}
	legacyscheme.Scheme.Default(obj)
	internal, err := legacyscheme.Scheme.ConvertToVersion(obj, schema.GroupVersion{Group: gvk.Group, Version: runtime.APIVersionInternal})
	if err != nil {
		return nil, err
	}
	om, err := meta.Accessor(internal)
	if err != nil {
		return nil, err
	}
	ns := om.GetNamespace()
	if ns == "" && res.strategy.NamespaceScoped() {
		ns = metav1.NamespaceDefault
	}
	ctx := genericapirequest.WithNamespace(context.Background(), ns)
	ctx = genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, Verb: "create", APIGroup: gvk.Group, APIVersion: gvk.Version,
		Resource: res.plural, Namespace: ns, Name: name,
	})
	rest.FillObjectMetaSystemFields(om)
	// As the registry's Store.Create: a generateName becomes a name
	// before the strategy runs.
	if om.GetName() == "" && om.GetGenerateName() != "" {
		om.SetName(res.strategy.GenerateName(om.GetGenerateName()))
	}
	err = rest.BeforeCreate(res.strategy, ctx, internal)
	if err == nil {
		return nil, nil
	}
	var status *apierrors.StatusError
	if errors.As(err, &status) && status.ErrStatus.Details != nil && len(status.ErrStatus.Details.Causes) > 0 {
		return status.ErrStatus.Details.Causes, nil
	}
	return nil, err
}

// yamlDupRE matches the YAML decoder's duplicate-key error.
var yamlDupRE = regexp.MustCompile(`line (\d+): key "([^"]+)" already set in map`)

// strictFieldRE pulls the field out of strict-decoding messages such as
// `unknown field "spec.foo"` and `duplicate field "replicas"`.
var strictFieldRE = regexp.MustCompile(`(unknown|duplicate) field "([^"]+)"`)

func strictProblem(file string, start int, kind, name string, e error, lines map[string]int) Problem {
	p := Problem{File: file, Line: start, Kind: kind, Name: name, Msg: oneLine(e)}
	// YAML-level errors (a key repeated in one mapping) count lines from the
	// document start.
	if m := yamlDupRE.FindStringSubmatch(p.Msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		p.Line, p.Field, p.Msg = start+n-1, m[2], "duplicate field"
		return p
	}
	if m := strictFieldRE.FindStringSubmatch(e.Error()); m != nil {
		p.Field, p.Msg = m[2], m[1]+" field"
		p.Line = lookup(lines, m[2], start)
		if m[1] == "duplicate" {
			// The first occurrence is indexed; the duplicate is the later key.
			if l, ok := lines["#dup:"+dotted(m[2])]; ok {
				p.Line = l
			}
		}
	}
	return p
}

// index records the line of every key and item under a dotted path; a key
// seen twice in one mapping is recorded under "#dup:" + path.
func index(lines map[string]int, path string, n *yaml.Node, offset int) {
	switch n.Kind {
	case yaml.MappingNode:
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			kp := join(path, k.Value)
			if seen[k.Value] {
				if _, ok := lines["#dup:"+kp]; !ok {
					lines["#dup:"+kp] = k.Line + offset
				}
				continue
			}
			seen[k.Value] = true
			lines[kp] = k.Line + offset
			index(lines, kp, n.Content[i+1], offset)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			ip := join(path, strconv.Itoa(i))
			lines[ip] = c.Line + offset
			index(lines, ip, c, offset)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// dotted turns an API field path ("spec.containers[0].ports[1].name",
// `metadata.labels[app]`) into the index's dotted form.
func dotted(field string) string {
	field = strings.ReplaceAll(field, "[", ".")
	return strings.ReplaceAll(field, "]", "")
}

// lookup finds the line of a field path, falling back to its nearest written
// ancestor (a defaulted field has no line of its own), then the document.
func lookup(lines map[string]int, field string, start int) int {
	p := dotted(field)
	for p != "" {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndex(p, ".")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return start
}

func oneLine(err error) string {
	if err == nil {
		return "cannot decode"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
