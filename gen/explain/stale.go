package explain

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/errors"

	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// Stale returns one error per entry of the spec's omit that leaves out
// nothing, at the entry's position: its field is no field of #Service (a
// typo), the spec does not set it, or the target expresses it, so the
// reason would explain a gap that does not exist. An omit must stay true
// when the spec or the emitters change; a stale one is refused like a
// missing one.
func Stale(s *spec.Service) error {
	schemaFields, err := spec.SchemaFields()
	if err != nil {
		return err
	}
	raw := rows(s)
	var errs errors.Error
	for _, pattern := range sortedKeys(s.Omit) {
		for _, t := range Targets {
			if _, ok := s.Omit[pattern][t.Key]; !ok {
				continue
			}
			msg := staleWhy(pattern, t, raw, schemaFields)
			if msg == "" {
				continue
			}
			at := s.Pos("omit." + strconv.Quote(pattern) + "." + t.Key)
			errs = errors.Append(errs, errors.Newf(at, "omit %q for %s is stale: %s; remove it", pattern, t.Key, msg))
		}
	}
	if errs == nil {
		return nil
	}
	return errs
}

// staleWhy says why the omit entry pattern, t leaves out nothing, or ""
// when some field it matches is one t cannot express.
func staleWhy(pattern string, t Target, raw []Row, schemaFields []string) string {
	i := slices.Index(Targets, t)
	var matched []Row
	for _, r := range raw {
		if omitMatches(pattern, r.Field) {
			if r.Cells[i].Fidelity == NotExpressible {
				return ""
			}
			matched = append(matched, r)
		}
	}
	if len(matched) == 0 {
		known := func(f string) bool { return prefixMatches(pattern, f) }
		if !slices.ContainsFunc(schemaFields, known) && !slices.ContainsFunc(conditionalFields, known) {
			return fmt.Sprintf("#Service has no field %s", pattern)
		}
		return fmt.Sprintf("the spec sets no %s", pattern)
	}
	r := matched[0]
	if c := r.Cells[i]; c.Fidelity == NotApplicable {
		return fmt.Sprintf("%s has no need of %s (%s: %s)", t.File, r.Field, c.Fidelity, c.How)
	}
	return fmt.Sprintf("%s expresses %s (%s: %s)", t.File, r.Field, r.Cells[i].Fidelity, r.Cells[i].How)
}

// conditionalFields are the fields a rule of #Service adds only under a
// condition (a reason for uid 0 or privilege, the size of a persistent
// volume), which spec.SchemaFields leaves out; TestConditionalFields
// holds the list to the specs.
var conditionalFields = []string{"image.user.rootReason", "security.privilegedReason", "volumes.*.size"}

// omitMatches reports whether an omit pattern names field: the field
// itself, or a pattern whose * each stand for one path element
// ("volumes.*.size").
func omitMatches(pattern, field string) bool {
	if pattern == field {
		return true
	}
	ok, _ := path.Match(strings.ReplaceAll(pattern, ".", "/"), strings.ReplaceAll(field, ".", "/"))
	return ok
}

// prefixMatches reports whether the omit pattern names a field of the
// schema or a struct above one (its fields are explained together, as
// "ports.api" for ports.*.number and ports.*.protocol), a * on either side
// matching any element.
func prefixMatches(pattern, schemaField string) bool {
	p, f := strings.Split(pattern, "."), strings.Split(schemaField, ".")
	if len(p) > len(f) {
		return false
	}
	for i := range p {
		if p[i] != f[i] && p[i] != "*" && f[i] != "*" {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
