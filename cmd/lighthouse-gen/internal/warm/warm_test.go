package warm

import "testing"

func TestWanted(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"build"}, true},
		{[]string{"--spec", "golden/echo", "vet"}, true},
		{[]string{"audit", "deploy"}, true},
		{[]string{"version"}, false},
		{[]string{"explain", "--spec", "x"}, false},
		{nil, false},
	} {
		if got := Wanted(tc.args); got != tc.want {
			t.Errorf("Wanted(%q) = %t, want %t", tc.args, got, tc.want)
		}
	}
}
