package check

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeLists says how compose reads each list of a service: ports by
// target and protocol, mounts and devices by their path in the
// container, capabilities, security options and the like as sets, the
// rest (commands, health check tests) in order.
var composeLists = []struct {
	pattern string
	rule    listRule
}{
	{"services.*.ports", listRule{kind: keyed, key: keyOf("target", "protocol")}},
	{"services.*.expose", listRule{kind: set}},
	{"services.*.volumes", listRule{kind: keyed, key: keyOf("target")}},
	{"services.*.devices", listRule{kind: keyed, key: keyOf("target")}},
	{"services.*.secrets", listRule{kind: keyed, key: keyOf("target", "source")}},
	{"services.*.configs", listRule{kind: keyed, key: keyOf("target", "source")}},
	{"services.*.cap_add", listRule{kind: set, norm: capName}},
	{"services.*.cap_drop", listRule{kind: set, norm: capName}},
	{"services.*.security_opt", listRule{kind: set, norm: securityOpt}},
	{"services.*.group_add", listRule{kind: set}},
	{"services.*.dns", listRule{kind: set}},
	{"services.*.dns_search", listRule{kind: set}},
	{"services.*.dns_opt", listRule{kind: set}},
	{"services.*.tmpfs", listRule{kind: set}},
	{"services.*.device_cgroup_rules", listRule{kind: set}},
	{"services.*.profiles", listRule{kind: set}},
	{"services.*.extra_hosts", listRule{kind: set}},
}

// securityOpt spells a security option as the engine compares it:
// "no-new-privileges", "no-new-privileges=true" and
// "no-new-privileges:true" are one.
func securityOpt(s string) string {
	k, v, ok := strings.Cut(s, ":")
	if k2, v2, ok2 := strings.Cut(s, "="); ok2 && (!ok || len(k2) < len(k)) {
		k, v, ok = k2, v2, true
	}
	k = strings.ToLower(strings.TrimSpace(k))
	if !ok && k == "no-new-privileges" {
		v = "true"
	}
	if !ok && v == "" {
		return k
	}
	return k + ":" + strings.TrimSpace(v)
}

// Tree is the compose file as compose-go loads it (interpolated,
// validated, normalized: short and long port syntax, cpus: 2 and "2.0",
// quoted and bare scalars and the loader's defaults are one), every
// service with every key. The project name compose would take from the
// folder is left out unless the file sets one, and paths the loader made
// absolute under the project folder are shown relative to it.
func (c *Compose) Tree() *Node {
	raw, err := c.Project.MarshalJSON()
	if err != nil {
		return Str("unreadable project: "+err.Error(), 1)
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return Str("unreadable project: "+err.Error(), 1)
	}
	m, _ := v.(map[string]any)
	if m["name"] == checkProject {
		delete(m, "name")
	}
	relativize(m, c.dir)
	disabledHealth(m)
	pruneEmpty(m)
	t := jsonTree{
		rule: func(names []string) listRule {
			for _, l := range composeLists {
				if matchNames(l.pattern, names) {
					return l.rule
				}
			}
			return listRule{}
		},
		line: c.pos.line,
	}
	root := t.build(m, nil, "")
	if vars := c.interpolationTree(); vars != nil {
		root.Set("interpolation", vars)
	}
	return root
}

// disabledHealth writes, in place, a health check that runs nothing as
// disable: true alone, as the engine reads it: disable: true and a test
// of NONE are one, whatever timings stand beside them.
func disabledHealth(project map[string]any) {
	services, _ := project["services"].(map[string]any)
	for _, svc := range services {
		s, _ := svc.(map[string]any)
		h, _ := s["healthcheck"].(map[string]any)
		if h == nil {
			continue
		}
		test, _ := h["test"].([]any)
		if h["disable"] == true || len(test) > 0 && test[0] == "NONE" {
			s["healthcheck"] = map[string]any{"disable": true}
		}
	}
}

// HealthDisabled reports whether a compose health check runs nothing
// (disable: true, or a test of NONE).
func HealthDisabled(h *types.HealthCheckConfig) bool {
	return h != nil && (h.Disable || len(h.Test) > 0 && h.Test[0] == "NONE")
}

// relativize rewrites, in place, the paths the loader resolved against
// the project folder dir as paths relative to it: a service's build
// context, and bind mount sources under dir.
func relativize(project map[string]any, dir string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	rel := func(p string) string {
		if !filepath.IsAbs(p) {
			return p
		}
		r, err := filepath.Rel(abs, p)
		if err != nil {
			return p
		}
		return filepath.ToSlash(r)
	}
	services, _ := project["services"].(map[string]any)
	for _, svc := range services {
		s, _ := svc.(map[string]any)
		if b, ok := s["build"].(map[string]any); ok {
			if ctx, ok := b["context"].(string); ok {
				b["context"] = rel(ctx)
			}
		}
		vols, _ := s["volumes"].([]any)
		for _, v := range vols {
			vm, _ := v.(map[string]any)
			if src, ok := vm["source"].(string); ok && vm["type"] == "bind" &&
				(src == abs || strings.HasPrefix(src, abs+string(filepath.Separator))) {
				vm["source"] = rel(src)
			}
		}
	}
}

// interpolationTree is every variable the file interpolates from the
// operator's environment, with how: required (${X:?...}), a default
// (${X:-v}) or a value when set (${X:+v}). The loaded values hold what
// the interpolation gave; this holds what the operator can change.
func (c *Compose) interpolationTree() *Node {
	var dict map[string]any
	if err := c.doc.Decode(&dict); err != nil {
		return nil
	}
	vars := template.ExtractVariables(dict, nil)
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	out := NewMap(1)
	for _, n := range names {
		v := vars[n]
		m := NewMap(1)
		m.Set("required", Bool(v.Required, 1))
		if v.DefaultValue != "" {
			m.Set("default", Str(v.DefaultValue, 1))
		}
		if v.PresenceValue != "" {
			m.Set("if-set", Str(v.PresenceValue, 1))
		}
		out.Set(n, m)
	}
	return nonEmpty(out)
}

// pruneEmpty drops empty objects (options left at their defaults, such as
// the short syntax's volume: {}), keeping nulls (networks: {default:
// null} attaches the default network).
func pruneEmpty(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			pruneEmpty(e)
			if m, ok := e.(map[string]any); ok && len(m) == 0 {
				delete(v, k)
			}
		}
	case []any:
		for _, e := range v {
			pruneEmpty(e)
		}
	}
}
