package check

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSecretScan holds every secret format secretValue knows to a finding
// at its line, whatever else is on the line, and nothing on lines that
// only resemble one: the scan skips lines without a secretMarks literal,
// and this is what proves the skip loses no secret.
func TestSecretScan(t *testing.T) {
	lines := []string{
		"# generated",
		"-----BEGIN RSA PRIVATE KEY-----",
		"  AWS_KEY: AKIAABCDEFGHIJKLMNOP",
		`  TOKEN: "ghp_0123456789abcdefghijABCDEFGHIJ012345"`,
		"  OAUTH: gho_0123456789abcdefghijABCDEFGHIJ012345",
		"  USER: ghu_0123456789abcdefghijABCDEFGHIJ012345",
		"  SERVER: ghs_0123456789abcdefghijABCDEFGHIJ012345",
		"  REFRESH: ghr_0123456789abcdefghijABCDEFGHIJ012345",
		"  SLACK: xoxb-1234567890-abcdef",
		"  OPENAI=sk-0123456789abcdef0123456789abcdef",
		"  gho_short: not a token",
		"  AKIA_SHORT: AKIA123",
		"-----BEGIN CERTIFICATE-----",
		"  ask-me: sk-tooshort",
		"ENV PATH=/usr/local/bin",
		"  image: lighthouse-bridge:ghp_tooshort",
		"  value: xoxb-",
	}
	got := secretScan("f", []byte(strings.Join(lines, "\n")))
	var gotLines []int
	for _, f := range got {
		if f.Rule != RuleSecrets || f.File != "f" {
			t.Errorf("unexpected finding %v", f)
		}
		gotLines = append(gotLines, f.Line)
	}
	if diff := cmp.Diff([]int{2, 3, 4, 5, 6, 7, 8, 9, 10}, gotLines); diff != "" {
		t.Errorf("secret lines (-want +got):\n%s\nfindings: %v", diff, got)
	}
}
