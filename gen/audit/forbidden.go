package audit

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/lighthouse-project/lighthouse/gen/check"
)

// forbidden reports every binary the spec's image.forbid.binaries lists
// that the artifacts put in the image or run: copied or added, installed
// or run by a RUN, run by a health check or a probe, run by the start
// script.
func (a *auditor) forbidden(p *check.Parsed) []check.Finding {
	if len(a.s.Image.Forbid.Binaries) == 0 {
		return nil
	}
	var fs []check.Finding
	add := func(file string, line int, format string, args ...any) {
		fs = append(fs, check.Finding{File: file, Line: line, Rule: RuleForbidden,
			Message: fmt.Sprintf(format, args...) + " (spec: " + a.where("image.forbid.binaries") + ")"})
	}
	if d := p.Dockerfile; d != nil {
		for _, c := range d.Copies {
			if b := a.forbiddenIn(append([]string{c.Dest}, c.Sources...)); b != "" {
				add(check.FileDockerfile, c.Line, "COPY puts %s in the image, which the spec forbids", b)
			}
		}
		for _, r := range d.Runs {
			words := strings.FieldsFunc(r.Word, func(c rune) bool { return strings.ContainsRune(" \t;&|()'\"=", c) })
			if b := a.forbiddenIn(words); b != "" {
				add(check.FileDockerfile, r.Line, "RUN installs or runs %s, which the spec forbids in the image", b)
			}
		}
		if h := d.Health; h != nil {
			if b := a.forbiddenIn(splitWords(h.Test)); b != "" {
				add(check.FileDockerfile, h.Line, "HEALTHCHECK runs %s, which the spec forbids in the image", b)
			}
		}
	}
	if s := p.Script; s != nil {
		syntax.Walk(s.AST, func(n syntax.Node) bool {
			if c, ok := n.(*syntax.CallExpr); ok && len(c.Args) > 0 {
				name := c.Args[0].Lit()
				if name == "exec" && len(c.Args) > 1 {
					name = c.Args[1].Lit()
				}
				if b := a.forbiddenIn([]string{name}); b != "" {
					add(check.FileScript, int(c.Pos().Line()), "runs %s, which the spec forbids in the image", b)
				}
			}
			return true
		})
	}
	if c := p.Compose; c != nil {
		if name, svc, err := c.Service(); err == nil && svc.HealthCheck != nil {
			if b := a.forbiddenIn(splitWords(svc.HealthCheck.Test)); b != "" {
				add(check.FileCompose, c.Line("services."+name+".healthcheck.test"), "healthcheck runs %s, which the spec forbids in the image", b)
			}
		}
	}
	if k := p.Kube; k != nil {
		for _, doc := range k.Docs {
			for _, pr := range check.ExecProbes(doc) {
				if b := a.forbiddenIn(splitWords(pr.Command)); b != "" {
					add(check.FileKube, pr.Line, "%s runs %s, which the spec forbids in the image", pr.Name, b)
				}
			}
		}
	}
	return fs
}

// splitWords splits each word at blanks (a CMD-SHELL line holds a command).
func splitWords(words []string) []string {
	var out []string
	for _, w := range words {
		out = append(out, strings.Fields(w)...)
	}
	return out
}

// forbiddenIn returns the first word whose file name the spec forbids.
func (a *auditor) forbiddenIn(words []string) string {
	for _, w := range words {
		if b := path.Base(w); slices.Contains(a.s.Image.Forbid.Binaries, b) {
			return b
		}
	}
	return ""
}
