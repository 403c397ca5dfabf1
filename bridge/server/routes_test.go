package server

import (
	"encoding/json"
	"go/token"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/coord"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
)

// concretePath fills a row's path wildcards with a plausible value.
func concretePath(p string) string {
	p = strings.ReplaceAll(p, "{path...}", "src/a.go")
	p = strings.ReplaceAll(p, "{id}", "x1")
	return p
}

// TestEveryRouteChecksItsQuery: the query parameters of every route of
// the assembled Bridge are checked by construction: an unknown one, a
// repeated one and a malformed query string are 400 before the handler.
func TestEveryRouteChecksItsQuery(t *testing.T) {
	r := start(t, testConfig(t.TempDir()), nil)
	tok := map[api.Access]string{api.Agent: session(t, r.url, "alice"), api.Admin: adminSession(t, r.url, "root")}
	routes := r.b.API().Routes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes in the table", len(routes))
	}
	client := &http.Client{Timeout: 5 * time.Second} // a route that ignores them may not answer at once
	for _, rt := range routes {
		base := r.url + concretePath(rt.Path)
		cases := map[string]string{
			"?bogus=1":  `unknown query parameter "bogus"`,
			"?a=%zz":    "malformed query string",
			"?bogus&x=": `unknown query parameter "bogus"`,
		}
		for _, p := range rt.Params {
			cases["?"+p+"=1&"+p+"=2"] = `query parameter "` + p + `" is given 2 times`
			cases["?"+p+"&"+p] = `query parameter "` + p + `" is given 2 times`
		}
		for q, want := range cases {
			req, _ := http.NewRequest(rt.Method, base+q, nil)
			if tok[rt.Access] != "" {
				req.Header.Set("Authorization", "Bearer "+tok[rt.Access])
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("%s %s%s: %v", rt.Method, rt.Path, q, err)
				continue
			}
			var body struct{ Detail string }
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if rt.Method == http.MethodHead {
				body.Detail = want // a HEAD answer has no body to say why
			}
			if resp.StatusCode != 400 || !strings.Contains(body.Detail, want) {
				t.Errorf("%s %s%s: %d %q, want 400 with %q", rt.Method, rt.Path, q, resp.StatusCode, body.Detail, want)
			}
		}
	}
}

// TestEveryTypeTheBridgeWritesIsDeclared: each type a package of the
// Bridge writes is in the table with a visibility, so it is reserved
// from POST /event/store and read by the access rule, not the default.
func TestEveryTypeTheBridgeWritesIsDeclared(t *testing.T) {
	r := start(t, testConfig(t.TempDir()), nil)
	declared := map[string]api.Visibility{}
	for _, e := range r.b.API().EventTypes() {
		declared[e.Name] = e.Visibility
	}
	written := append(coord.EventTypes(), auth.EventSessionCreated, auth.EventSessionRefreshed,
		api.EventValidationDecision, shadow.TypeFileModified, shadow.TypeFileDeleted)
	for _, typ := range written {
		if v, ok := declared[typ]; !ok || v.String() == "unset" {
			t.Errorf("event type %s is not declared with a visibility", typ)
		}
	}
	for typ := range declared {
		if !slices.Contains(written, typ) {
			t.Errorf("declared type %s is not in this test's list of written types: add it", typ)
		}
	}
}

// TestTableIsComplete: every row served says what a client needs (its
// request and response types, exported, or what it produces instead) and
// api.Declared describes exactly the routes the Bridge serves.
func TestTableIsComplete(t *testing.T) {
	r := start(t, testConfig(t.TempDir()), nil)
	var served, declared []string
	for _, rt := range r.b.API().Routes() {
		served = append(served, rt.Pattern())
		if rt.Doc == "" {
			t.Errorf("%s has no Doc", rt.Pattern())
		}
		if (rt.Method == "POST" || rt.Method == "PUT") && rt.Request == nil && !rt.RawBody {
			t.Errorf("%s takes a body but names no Request type", rt.Pattern())
		}
		if rt.Response == nil && rt.Produces == "" {
			t.Errorf("%s names neither a Response type nor what it produces", rt.Pattern())
		}
		for _, typ := range []reflect.Type{rt.Request, rt.Response} {
			if typ != nil && (!token.IsExported(typ.Name()) || !strings.HasPrefix(typ.PkgPath(), "github.com/lighthouse-project/lighthouse/")) {
				t.Errorf("%s: type %v is not an exported type of the bridge", rt.Pattern(), typ)
			}
		}
	}
	for _, p := range api.Declared() {
		for _, rt := range p.Routes {
			declared = append(declared, rt.Pattern())
		}
	}
	if !slices.Equal(served, declared) {
		t.Errorf("served %v\ndeclared %v", served, declared)
	}
}
