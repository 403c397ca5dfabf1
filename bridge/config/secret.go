package config

import (
	"fmt"
	"math"
)

// The rule for LIGHTHOUSE_AUTH_SECRET, beyond its length: its estimated
// entropy must reach MinSecretBits. The estimate is the smallest number of
// bits any of three simple models needs to describe the secret:
//
//   - characters: each byte drawn independently with the frequencies seen
//     in the secret (n × its empirical Shannon entropy). A secret of one
//     repeated character, or of spaces, costs nothing; "abab…" one bit a
//     byte.
//   - steps: the first byte, then each byte as a step from the previous
//     one, the steps drawn with their own frequencies. "0123456789…",
//     "abcdef…" and "zyxw…" cost a few bits in all.
//   - repetition: a prefix of p bytes (costed by the cheaper model above),
//     then each later byte copied from p bytes before, each exception
//     costing its position and its byte. "passwordpassword…", "k3J9k3J9…"
//     with a byte changed cost little more than their prefix.
//
// A real random key is expensive under all three: base64 or hex of 32
// random bytes estimates at over 180 bits; hex of 16 random bytes (the
// shortest random key of 32 characters) at 116 bits in the median and 89
// at the lowest of a million, well above the bar (TestRandomSecretsPass
// holds them). The patterns the rule exists for cost well under it: at
// most 78 bits for 39 characters drawn from four symbols, about 30 for a
// repeated unit or a sequence. The models know nothing of words or
// keyboards: a passphrase or a keyboard walk of the required length can
// pass; the advice says how to make a secret that needs no judgement.
const MinSecretBits = 80

// MaxSecretBytes bounds the secret: an HMAC-SHA256 key longer than its
// 64-byte block is hashed down anyway, and a bound keeps the check cheap.
const MaxSecretBytes = 1024

// SecretAdvice says how to make a good secret.
const SecretAdvice = "generate one with: head -c 32 /dev/urandom | base64   (or: openssl rand -base64 32)"

// CheckSecret applies the secret rule to s: at least MinSecretBytes and at
// most MaxSecretBytes bytes, and an estimated entropy of at least
// MinSecretBits. The error names the variable, never the secret.
func CheckSecret(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is required (at least %d bytes); %s", EnvAuthSecret, MinSecretBytes, SecretAdvice)
	case len(s) < MinSecretBytes:
		return fmt.Errorf("%s is too short: %d bytes, at least %d required; %s", EnvAuthSecret, len(s), MinSecretBytes, SecretAdvice)
	case len(s) > MaxSecretBytes:
		return fmt.Errorf("%s is too long: %d bytes, at most %d", EnvAuthSecret, len(s), MaxSecretBytes)
	}
	if bits, why := SecretEntropy([]byte(s)); bits < MinSecretBits {
		return fmt.Errorf("%s is guessable: %s, an estimated %.0f bits where at least %d are required; %s",
			EnvAuthSecret, why, bits, MinSecretBits, SecretAdvice)
	}
	return nil
}

// SecretEntropy estimates the bits needed to describe s (see
// MinSecretBits) and says which model found it cheapest.
func SecretEntropy(s []byte) (bits float64, why string) {
	n := len(s)
	if n == 0 {
		return 0, "it is empty"
	}
	bits, why = freqBits(s), fmt.Sprintf("it uses only %d distinct characters", distinct(s))
	if d := distinct(s); d == 1 {
		why = "it is one character repeated"
	}
	if b := stepBits(s); b < bits {
		bits, why = b, "it is a sequence (each character a small, regular step from the last)"
	}
	if b, p := repeatBits(s); b < bits {
		bits, why = b, fmt.Sprintf("it repeats a pattern of %d characters", p)
	}
	return bits, why
}

// freqBits is len(s) times the empirical entropy of s's bytes.
func freqBits(s []byte) float64 {
	var counts [256]int
	for _, c := range s {
		counts[c]++
	}
	n := float64(len(s))
	bits := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			bits -= float64(c) * math.Log2(p)
		}
	}
	return bits
}

// stepBits costs the first byte at 8 bits and the rest as steps from
// their predecessor.
func stepBits(s []byte) float64 {
	if len(s) < 2 {
		return 8 * float64(len(s))
	}
	steps := make([]byte, len(s)-1)
	for i := 1; i < len(s); i++ {
		steps[i-1] = s[i] - s[i-1]
	}
	return 8 + freqBits(steps)
}

// repeatBits is the cheapest description of s as a prefix of period p
// repeated, with exceptions, and that p. The prefixes' costs are kept
// incrementally; they only grow with p, so the search stops once a prefix
// alone costs more than the best description found.
func repeatBits(s []byte) (float64, int) {
	n := len(s)
	pos := math.Log2(float64(n)) // to name a period or a position
	best, bestP := math.Inf(1), 0
	var chars, steps counter
	for p := 1; p <= n/2; p++ {
		chars.add(s[p-1])
		if p > 1 {
			steps.add(s[p-1] - s[p-2])
		}
		prefix := min(chars.bits(), 8+steps.bits())
		cost := pos + prefix
		if cost >= best {
			break
		}
		for i := p; i < n && cost < best; i++ {
			if s[i] != s[i-p] {
				cost += pos + 8
			}
		}
		if cost < best {
			best, bestP = cost, p
		}
	}
	return best, bestP
}

// counter keeps byte counts and the sum of c·log2(c) over them, so the
// empirical entropy of everything added is available at any time.
type counter struct {
	counts [256]int
	n      int
	sum    float64 // Σ c·log2(c)
}

func (c *counter) add(b byte) {
	k := c.counts[b]
	if k > 0 {
		c.sum -= float64(k) * math.Log2(float64(k))
	}
	k++
	c.sum += float64(k) * math.Log2(float64(k))
	c.counts[b] = k
	c.n++
}

// bits is n·H: n·log2(n) − Σ c·log2(c).
func (c *counter) bits() float64 {
	if c.n == 0 {
		return 0
	}
	return max(0, float64(c.n)*math.Log2(float64(c.n))-c.sum)
}

func distinct(s []byte) int {
	var seen [256]bool
	d := 0
	for _, c := range s {
		if !seen[c] {
			seen[c] = true
			d++
		}
	}
	return d
}
