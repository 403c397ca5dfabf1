package spec

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	"k8s.io/apimachinery/pkg/api/resource"

	cuemod "github.com/lighthouse-project/lighthouse/cue"
)

// embeddedSchema builds the embedded schema package.
func embeddedSchema(t *testing.T) cue.Value {
	t.Helper()
	ov, err := embeddedOverlay()
	if err != nil {
		t.Fatal(err)
	}
	_, vals, err := buildInstances(cuecontext.New(), &load.Config{Dir: EmbeddedRoot, ModuleRoot: EmbeddedRoot, Overlay: ov}, "./"+cuemod.SchemaDir)
	if err != nil {
		t.Fatal(err)
	}
	return vals[0]
}

// quantities are Kubernetes quantities of every form #Quantity accepts:
// integers, decimals with and without a leading or trailing digit,
// leading zeros, every suffix, small and huge.
func quantities() []string {
	r := rand.New(rand.NewPCG(1, 2))
	suffixes := []string{"", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
	out := []string{"0", "1", "6Mi", "6291456", "1Gi", "1024Mi", "0.5Gi", "512Mi", ".5", "5.", "007", "1.000", "9223372036854775807", "8Ei", "7.99Ei", "0.001", "1m", "10m", "100u0"}
	out = out[:len(out)-1] // "u" is no #Quantity suffix
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		return string(b)
	}
	for range 400 {
		var m string
		switch r.IntN(4) {
		case 0:
			m = digits(1 + r.IntN(30))
		case 1:
			m = digits(1+r.IntN(16)) + "." + digits(r.IntN(16))
		case 2:
			m = "." + digits(1+r.IntN(12))
		default:
			m = digits(1+r.IntN(6)) + "."
		}
		out = append(out, m+suffixes[r.IntN(len(suffixes))])
	}
	return out
}

// TestQuantityOfIsUpstream holds the schema's exact quantity arithmetic
// (#quantityOf in bounds.cue, which compares limits with requests and
// holds Docker's minimums) to the upstream Kubernetes parser: for every
// quantity both read, the same value.
func TestQuantityOfIsUpstream(t *testing.T) {
	schema := embeddedSchema(t)
	def := schema.LookupPath(cue.ParsePath("#quantityOf"))
	checked := 0
	defer func() {
		if checked < 200 {
			t.Errorf("compared only %d quantities", checked)
		}
	}()
	for _, q := range quantities() {
		v := def.FillPath(cue.ParsePath("q"), q)
		exact, err := v.LookupPath(cue.ParsePath("exact")).Bool()
		if err != nil {
			t.Fatalf("#quantityOf %q: %v", q, err)
		}
		if !exact {
			continue // the schema refuses it: CUE is not exact beyond
		}
		// CUE may hold an exact integer with an exponent (1e+21), which
		// Value.Int refuses: read it as the decimal CUE prints.
		num, ok1 := new(big.Rat).SetString(fmt.Sprint(v.LookupPath(cue.ParsePath("num"))))
		den, ok2 := new(big.Rat).SetString(fmt.Sprint(v.LookupPath(cue.ParsePath("den"))))
		if !ok1 || !ok2 || !num.IsInt() || !den.IsInt() {
			t.Fatalf("#quantityOf %q = %v / %v", q, v.LookupPath(cue.ParsePath("num")), v.LookupPath(cue.ParsePath("den")))
		}
		up, err := resource.ParseQuantity(q)
		if err != nil {
			t.Errorf("upstream refuses %q, which #Quantity accepts: %v", q, err)
			continue
		}
		want, ok := new(big.Rat).SetString(up.AsDec().String())
		if !ok {
			t.Fatalf("%q: upstream value %s", q, up.AsDec())
		}
		got := new(big.Rat).Quo(num, den)
		// Upstream caps a binary-suffixed value at the largest int64
		// (8Ei reads as 9223372036854775807); the schema refuses more
		// than that for every quantity it bounds.
		if maxInt64 := new(big.Rat).SetInt64(math.MaxInt64); got.Cmp(maxInt64) > 0 && want.Cmp(maxInt64) == 0 {
			continue
		}
		// Upstream rounds a value finer than a nano-unit up to the next
		// one; the schema refuses such values for every field it bounds
		// (they are no whole bytes or millicores).
		nanos := new(big.Rat).Mul(got, big.NewRat(1e9, 1))
		if !nanos.IsInt() {
			up := new(big.Int).Quo(nanos.Num(), nanos.Denom())
			up.Add(up, big.NewInt(1))
			if ceil := new(big.Rat).SetFrac(up, big.NewInt(1e9)); ceil.Cmp(want) != 0 {
				t.Errorf("#quantityOf %q = %s, upstream %s, want it rounded up to %s", q, got.RatString(), want.RatString(), ceil.RatString())
			}
			continue
		}
		if got.Cmp(want) != 0 {
			t.Errorf("#quantityOf %q = %s, upstream %s", q, got.RatString(), want.RatString())
		}
		checked++
	}
}

// TestSecondsOfIsGo holds #secondsOf (bounds.cue) to Go's
// time.ParseDuration, which the loader and Docker use.
func TestSecondsOfIsGo(t *testing.T) {
	schema := embeddedSchema(t)
	def := schema.LookupPath(cue.ParsePath("#secondsOf"))
	cases := []string{"0s", "1s", "30s", "1m", "1m30s", "2h", "1h0m1s", "596523h14m7s", "2147483647s", "007s", "90m", "1h61m"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		d := time.Duration(r.Int64N(int64(2562047 * time.Hour))).Truncate(time.Second)
		cases = append(cases, d.String(), fmt.Sprintf("%ds", int64(d/time.Second)))
	}
	for _, d := range cases {
		got, err := def.FillPath(cue.ParsePath("d"), d).LookupPath(cue.ParsePath("out")).Int64()
		if err != nil {
			t.Fatalf("#secondsOf %q: %v", d, err)
		}
		want, err := time.ParseDuration(d)
		if err != nil {
			t.Fatalf("%q: %v", d, err)
		}
		if got != int64(want/time.Second) {
			t.Errorf("#secondsOf %q = %d, Go %d", d, got, int64(want/time.Second))
		}
	}
}
