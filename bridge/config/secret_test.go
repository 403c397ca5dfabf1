package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestLowEntropySecretsAreRefused: the classes the rule exists for, each
// at least 32 bytes long, are refused with the reason and the advice, and
// the secret is never echoed.
func TestLowEntropySecretsAreRefused(t *testing.T) {
	for name, s := range map[string]string{
		"32 spaces":             strings.Repeat(" ", 32),
		"32 identical":          strings.Repeat("a", 32),
		"tabs and newlines":     strings.Repeat(" \t\n", 12),
		"abab":                  strings.Repeat("ab", 16),
		"abcabc":                strings.Repeat("abc", 11),
		"digits ascending":      strings.Repeat("0123456789", 4),
		"alphabet":              "abcdefghijklmnopqrstuvwxyz0123456789",
		"alphabet descending":   "zyxwvutsrqponmlkjihgfedcbaZYXWVUTS",
		"every other letter":    "acegikmoqsuwyacegikmoqsuwyacegikmo",
		"hex counting":          "0123456789abcdef0123456789abcdef",
		"word repeated":         strings.Repeat("password", 5),
		"phrase repeated":       strings.Repeat("change-me-", 4),
		"random unit repeated":  strings.Repeat("k3J9xQ2m", 4),
		"repeated, one changed": strings.Repeat("k3J9xQ2m", 4)[:31] + "Z",
		"test secret doubled":   "cli-test-secret-cli-test-secret-cli",
		"two symbols":           "abbabaabbaababbaabaabbbaababbaab",
	} {
		err := CheckSecret(s)
		if err == nil {
			bits, _ := SecretEntropy([]byte(s))
			t.Errorf("%s: accepted (%.0f bits)", name, bits)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, EnvAuthSecret+" is guessable") || !strings.Contains(msg, "head -c 32 /dev/urandom | base64") {
			t.Errorf("%s: %v, want the variable, the reason and the advice", name, err)
		}
		if strings.TrimSpace(s) != "" && strings.Contains(msg, s) {
			t.Errorf("%s: the error echoes the secret: %v", name, err)
		}
	}
}

// TestRandomSecretsPass is the rule's property: base64 (padded, raw,
// URL) and hex of 32 random bytes always pass, and so do hex of 16 and
// base64 of 24 random bytes, the shortest encodings of keys that reach 32
// characters. The lowest estimate seen is logged.
func TestRandomSecretsPass(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	encodings := map[string]func([]byte) string{
		"base64":     base64.StdEncoding.EncodeToString,
		"base64 raw": base64.RawStdEncoding.EncodeToString,
		"base64 url": base64.URLEncoding.EncodeToString,
		"hex":        hex.EncodeToString,
	}
	for name, enc := range encodings {
		for _, size := range []int{32, 48, 64} {
			lowest := 1e9
			for range n {
				b := make([]byte, size)
				rand.Read(b)
				s := enc(b)
				if err := CheckSecret(s); err != nil {
					t.Fatalf("%s of %d random bytes refused: %v", name, size, err)
				}
				bits, _ := SecretEntropy([]byte(s))
				lowest = min(lowest, bits)
			}
			t.Logf("%s of %d random bytes: lowest estimate %.0f bits over %d keys", name, size, lowest, n)
		}
	}
	for _, tc := range []struct {
		name string
		size int
		enc  func([]byte) string
	}{{"hex of 16", 16, hex.EncodeToString}, {"base64 of 24", 24, base64.StdEncoding.EncodeToString}} {
		lowest := 1e9
		for range n {
			b := make([]byte, tc.size)
			rand.Read(b)
			s := tc.enc(b)
			if err := CheckSecret(s); err != nil {
				t.Fatalf("%s random bytes refused: %v", tc.name, err)
			}
			bits, _ := SecretEntropy([]byte(s))
			lowest = min(lowest, bits)
		}
		t.Logf("%s random bytes: lowest estimate %.0f bits over %d keys", tc.name, lowest, n)
	}
}

// TestPatternSecretsAreRefused is the other side of the property: secrets
// built from a short random unit repeated, from an arithmetic sequence
// with a random start and step, or from at most four symbols, are always
// refused, whatever their length up to the maximum.
func TestPatternSecretsAreRefused(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := mrand.New(mrand.NewPCG(seed, 3))
	t.Logf("seed %d", seed)
	printable := func() byte { return byte(' ' + rng.IntN(95)) }
	for i := range 3000 {
		length := MinSecretBytes + rng.IntN(200)
		var b []byte
		var kind string
		switch i % 3 {
		case 0:
			kind = "repeated unit"
			unit := make([]byte, 1+rng.IntN(6))
			for j := range unit {
				unit[j] = printable()
			}
			for len(b) < length {
				b = append(b, unit...)
			}
			b = b[:length]
		case 1:
			kind = "sequence"
			c, step := printable(), byte(1+rng.IntN(5))
			for len(b) < length {
				b = append(b, c)
				c += step
			}
		case 2:
			kind = "four symbols"
			alphabet := []byte{printable(), printable(), printable(), printable()}
			length = MinSecretBytes + rng.IntN(8) // 2 bits a byte: under MinSecretBits
			for len(b) < length {
				b = append(b, alphabet[rng.IntN(4)])
			}
		}
		if err := CheckSecret(string(b)); err == nil {
			bits, why := SecretEntropy(b)
			t.Fatalf("%s accepted: %q (%.0f bits, %s)", kind, b, bits, why)
		}
	}
}

func TestSecretLengthBounds(t *testing.T) {
	if err := CheckSecret(strings.Repeat("x", 31)); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("31 bytes: %v", err)
	}
	b := make([]byte, MaxSecretBytes)
	rand.Read(b)
	long := hex.EncodeToString(b)
	if err := CheckSecret(long); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("at most %d", MaxSecretBytes)) {
		t.Errorf("%d bytes: %v", len(long), err)
	}
	if err := CheckSecret(long[:MaxSecretBytes]); err != nil {
		t.Errorf("%d random hex bytes: %v", MaxSecretBytes, err)
	}
}
