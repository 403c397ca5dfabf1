package api

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// checkParams holds a query to the parameters a route accepts, each given
// at most once: an unknown parameter (a misspelt filter) or a repeated one
// (?event_type=a&event_type=b, of which only one would be used) is a 400,
// never silently ignored.
func checkParams(v url.Values, accepted ...string) error {
	names := make([]string, 0, len(v))
	for k := range v {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		known := false
		for _, a := range accepted {
			known = known || a == k
		}
		if !known {
			return Errorf(http.StatusBadRequest, "unknown query parameter %q; accepted: %s", k, strings.Join(accepted, ", "))
		}
		if n := len(v[k]); n > 1 {
			return Errorf(http.StatusBadRequest, "query parameter %q is given %d times; give it once", k, n)
		}
	}
	return nil
}
