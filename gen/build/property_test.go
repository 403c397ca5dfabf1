package build

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// propertyCase is one spec the property test builds: a folder (empty for
// the embedded bridge spec) and its tags.
type propertyCase struct {
	name string
	dir  string
	tags []string
	// mayFail marks a spec the schema or the checks may refuse (a fuzz
	// input): its manifests are validated when it builds.
	mayFail bool
}

// propertySources are the specs TestBuiltManifestsPassAPIServer builds:
// the golden specs, a population that takes every bound of the schema
// to its minimum and its maximum, and FuzzSpecStrings' corpus (its seeds
// and testdata/fuzz/FuzzSpecStrings, read by readCorpus), each input
// that builds.
var propertySources = []func(t *testing.T) []propertyCase{goldenCases, boundCases, specStringsCases}

// TestBuiltManifestsPassAPIServer is the property the schema's bounds
// promise: every spec that builds yields Kubernetes manifests the API
// server accepts, with the objects its controllers derive from them
// (pods, revisions, claims). The manifests of every source are validated
// in one run of the nested module gen/kubevalidate (the v1.37 API
// server's create-time validation; its own module keeps k8s.io/kubernetes
// out of this one). The go command builds it once into its cache; `make
// test` has built it before `go test` runs, -short skips this test.
func TestBuiltManifestsPassAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the nested module gen/kubevalidate (minutes when its build cache is cold)")
	}
	tmp := t.TempDir()
	var manifests []string
	tried, built := 0, 0 // inputs that may be refused, and of them built
	for _, source := range propertySources {
		for _, c := range source(t) {
			ctx := filepath.Join(tmp, c.name)
			o := Options{Spec: c.dir, Tags: c.tags, Out: filepath.Join(ctx, "out"), Context: ctx, Version: "property"}
			if err := os.MkdirAll(o.Out, 0o755); err != nil {
				t.Fatal(err)
			}
			_, files, err := Generate(o)
			if c.mayFail {
				tried++
			}
			if err != nil && c.mayFail {
				continue // refused: nothing written, nothing to validate
			}
			if c.mayFail {
				built++
			}
			if err != nil {
				t.Errorf("%s does not build:\n%s", c.name, spec.Details(err, tmp))
				continue
			}
			for _, f := range files {
				if f.Name == emit.Kubernetes {
					m := filepath.Join(tmp, c.name+".yaml")
					if err := os.WriteFile(m, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
					manifests = append(manifests, m)
				}
			}
		}
	}
	t.Logf("%d of %d fuzz inputs built", built, tried)
	if built == 0 {
		t.Fatalf("none of %d fuzz inputs built: the corpus validates nothing", tried)
	}
	if len(manifests) < 15 {
		t.Fatalf("only %d manifests to validate", len(manifests))
	}
	// go run caches the linked command in Go's build cache, where `make
	// kubevalidate` has put it already.
	start := time.Now()
	run := exec.Command("go", append([]string{"run", "."}, manifests...)...)
	run.Dir = filepath.Join("..", "kubevalidate")
	out, err := run.CombinedOutput()
	t.Logf("%d manifests validated in %v (build of gen/kubevalidate included)", len(manifests), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Errorf("the API server refuses manifests of specs that build (%v):\n%s", err, out)
	}
}

// goldenCases are the specs of golden/: the bridge's in both modes and
// the notes service.
func goldenCases(t *testing.T) []propertyCase {
	golden := filepath.Join("..", "..", "golden")
	var out []propertyCase
	for _, c := range []struct{ name, dir string }{{"bridge", ""}, {"bridge-prebuilt", ""}, {"notes", filepath.Join(golden, "notes", "spec")}} {
		b, err := os.ReadFile(filepath.Join(golden, c.name, "tags.txt"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		out = append(out, propertyCase{name: "golden-" + c.name, dir: c.dir, tags: strings.Fields(string(b))})
	}
	return out
}

// specStringsCases are FuzzSpecStrings' inputs as specs: its seeds and
// the entries of its corpus folder, each written as the target writes it
// (a string of a base spec changed). Many are refused, as the target
// expects; the ones that build have their manifests validated.
func specStringsCases(t *testing.T) []propertyCase {
	args := specStringsSeeds(t)
	names := make([]string, len(args))
	for i := range args {
		names[i] = fmt.Sprintf("seed-%03d", i)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzSpecStrings")
	entries, err := readCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(dir)
	for i, e := range entries {
		a, ok := specStringsEntry(e)
		if !ok {
			t.Fatalf("%s: %#v are not FuzzSpecStrings' arguments", filepath.Join(dir, files[i].Name()), e)
		}
		args = append(args, a)
		names = append(names, "corpus-"+files[i].Name())
	}
	if len(entries) == 0 {
		t.Fatalf("%s holds no entry", dir)
	}
	var out []propertyCase
	for i, a := range args {
		c, ok := changeSpec(t, a.base, a.slot, a.how, a.text)
		if !ok {
			continue
		}
		out = append(out, propertyCase{name: "fuzz-" + names[i], dir: writeSpec(t, c.tree), mayFail: true})
	}
	return out
}

// specStringsEntry reads a corpus entry as FuzzSpecStrings' arguments.
func specStringsEntry(e []any) (a specStringsArgs, ok bool) {
	if len(e) != 4 {
		return a, false
	}
	var ok1, ok2, ok3, ok4 bool
	a.base, ok1 = e[0].(uint8)
	a.slot, ok2 = e[1].(uint16)
	a.how, ok3 = e[2].(uint8)
	a.text, ok4 = e[3].(string)
	return a, ok1 && ok2 && ok3 && ok4
}

// boundSpec is a spec of the population, as CUE fields by path; render
// writes them out.
type boundSpec map[string]string

// minSpec takes every bound to its minimum and leaves every optional
// feature out. Each field a case changes is a key of its own.
func minSpec() boundSpec {
	return boundSpec{
		"name":                     `"a"`,
		"description":              `"a service at every lower bound"`,
		"entry.package":            `"./cmd/a"`,
		"entry.binary":             `"a"`,
		"entry.args":               `[]`,
		"entry.health":             `["h"]`,
		"image.ref":                `"a:1"`,
		"image.builder":            `"golang:1.26.8"`,
		"image.runtime":            `"alpine:3.22"`,
		"image.mode":               `"multistage"`,
		"image.user.uid":           `1`,
		"image.user.gid":           `0`,
		"image.workdir":            `"/"`,
		"ports":                    `{p: number: 1}`,
		"health.port":              `"p"`,
		"health.liveness":          `"/"`,
		"health.readiness":         `"/"`,
		"health.interval":          `"1s"`,
		"health.timeout":           `"1s"`,
		"health.startPeriod":       `"0s"`,
		"health.retries":           `1`,
		"resources.cpu.request":    `"1m"`,
		"resources.cpu.limit":      `"10m"`,
		"resources.memory.request": `"6Mi"`,
		"resources.memory.limit":   `"6Mi"`,
		"workload.kind":            `"StatefulSet"`,
		"workload.replicas":        `1`,
		"workload.stopGracePeriod": `"0s"`,
		"workload.restart":         `"always"`,
		"security.readOnlyRoot":    `true`,
		"security.privileged":      `false`,
		"kubernetes.fuseDevice":    `"device-plugin"`,
		"kubernetes.fuseResource":  `"a/fuse"`,
	}
}

// maxInt32, maxInt64 and the longest duration the schema allows.
const (
	maxInt32    = "2147483647"
	maxInt64    = "9223372036854775807"
	maxDuration = `"596523h14m7s"` // 2147483647s
)

func long(prefix string, n int) string { return prefix + strings.Repeat("x", n-len(prefix)) }

// labelPrefix is a DNS subdomain of n characters.
func labelPrefix(n int) string {
	return strings.Repeat("l.", (n-1)/2) + strings.Repeat("m", n-2*((n-1)/2))
}

// maxSpec takes every bound to its maximum (names at their longest, every
// number at the most the narrowest consumer holds) and turns every
// feature on.
func maxSpec() boundSpec {
	s := minSpec()
	// The longest values a Dockerfile ENV line holds (escaping may double
	// them within its 65535 bytes), as many as the 1 MiB ConfigMap holds.
	big := strings.Repeat("v", (65535-len(`ENV E00=""`))/2)
	small := map[string]string{
		strings.Repeat("N", 253): "a name as long as a ConfigMap key",
		"DATA":                   "/data/sub",
		"VIEW":                   "/mnt/view",
	}
	// 31 values as large as their ENV lines allow, and E31 filling the
	// ConfigMap (names and values) to exactly 1 MiB.
	used := 0
	for n, v := range small {
		used += len(n) + len(v)
	}
	var env []string
	for i := range 31 {
		env = append(env, fmt.Sprintf(`E%02d: {value: %q, description: "a large value"}`, i, big))
		used += len("E00") + len(big)
	}
	fill := 1<<20 - used - len("E31")
	env = append(env,
		strings.Repeat("N", 253)+`: {value: "`+small[strings.Repeat("N", 253)]+`", description: "long name"}`,
		`DATA: {value: "/data/sub", path: true, required: true, description: "data"}`,
		`SECRET: {secret: true, description: "a secret"}`,
		`NEEDED: {required: true, description: "set by operators"}`,
		`VIEW: {value: "/mnt/view", description: "the FUSE view"}`)
	// The longest path Linux mounts on: 4095 bytes, elements of 255.
	longPath := strings.Repeat("/"+strings.Repeat("x", 255), 15) + "/" + strings.Repeat("y", 254)
	label := long("v", 63)
	for k, v := range map[string]string{
		"name":                      `"` + long("m", 52) + `"`,
		"description":               `"a service at every upper bound` + strings.Repeat(".", 4096-len("a service at every upper bound")) + `"`, // #LineLength
		"entry.package":             `"./cmd/a/b/c"`,
		"entry.binary":              `"` + long("b", 255) + `"`,
		"entry.args":                `[` + strings.Repeat(`"`+strings.Repeat("a", 131071)+`", `, 4) + `]`, // 512 KiB with their NULs
		"entry.health":              `[` + strings.Repeat(`"`+strings.Repeat("h", 256)+`", `, 32) + `]`,
		"image.ref":                 `"registry.example.com:5000/` + long("a", 255-len("registry.example.com:5000/")) + `:` + long("t", 128) + `"`,
		"image.runtime":             `"busybox@sha256:` + strings.Repeat("a", 64) + `"`,
		"image.labels":              `{"org.example.k": "` + strings.Repeat("v", 4096) + `"}`, // #LineLength
		"image.mode":                `"prebuilt"`,
		"image.user.uid":            `0`,
		"image.user.gid":            `65535`,
		"image.user.rootReason":     `"a FUSE mount needs CAP_SYS_ADMIN in the effective set"`,
		"image.workdir":             `"/srv/a/deeper/working/directory"`,
		"image.forbid":              `{binaries: ["curl", "wget"], goModules: ["example.com/x"]}`,
		"ports":                     `{` + long("p", 15) + `: number: 65535, udp: {number: 1, protocol: "UDP"}, alt: number: 2}`,
		"health.port":               `"` + long("p", 15) + `"`,
		"health.liveness":           `"/` + strings.Repeat("l", 200) + `"`,
		"health.readiness":          `"/r/e/a/d/y"`,
		"health.interval":           maxDuration,
		"health.timeout":            maxDuration,
		"health.startPeriod":        maxDuration,
		"health.retries":            "2147483646", // + ceil(startPeriod / interval) = int32 max
		"resources.cpu.request":     `"8192"`,
		"resources.cpu.limit":       `"8192"`,
		"resources.memory.request":  `"` + maxInt64 + `"`,
		"resources.memory.limit":    `"` + maxInt64 + `"`,
		"workload.replicas":         maxInt32,
		"workload.stopGracePeriod":  maxDuration,
		"workload.restart":          `"unless-stopped"`,
		"volumes.d":                 `{path: "/data", kind: "persistent"}`,
		"volumes.d.size":            `"` + maxInt64 + `"`,
		"volumes." + long("p", 63):  `{path: "/data2", kind: "persistent", size: "1"}`,
		"volumes.t":                 `{path: "/tmp", kind: "tmpfs"}`,
		"volumes.t.size":            `"` + maxInt64 + `"`,
		"volumes.u":                 `{path: "/var/cache", kind: "tmpfs"}`,
		"volumes.l":                 `{path: "` + longPath + `", kind: "tmpfs"}`,
		"env":                       "{\n\t" + strings.Join(env, "\n\t") + "\n}",
		"env.E31.description":       `"fills the ConfigMap to 1 MiB"`,
		"env.E31.value":             `"` + strings.Repeat("w", fill) + `"`,
		"fuse.mountPoint":           `"/mnt/view"`,
		"security.capabilities":     `{SYS_ADMIN: reason: "FUSE mount of the view", NET_BIND_SERVICE: reason: "binds a port below 1024"}`,
		"security.devices":          `{"/dev/fuse": reason: "FUSE mount of the view"}`,
		"security.readOnlyRoot":     `false`,
		"kubernetes.fuseResource":   `"` + strings.Repeat("d.", 117) + "example.co/fuse" + `"`, // a domain of 244
		"labels":                    `{"` + labelPrefix(253) + `/` + long("k", 63) + `": "` + label + `", team: "", version: "` + label + `"}`,
		"omit":                      `{"workload.replicas": compose: "compose runs one container on a developer machine", "volumes.*.size": compose: "a local named volume has no size; the host's disk bounds it"}`,
		"security.privilegedReason": ``,
	} {
		s[k] = v
	}
	return s
}

// boundCases are the population: the minimum and maximum specs, and the
// maximum with each feature turned another way.
func boundCases(t *testing.T) []propertyCase {
	variants := map[string]boundSpec{"min": minSpec(), "max": maxSpec()}
	with := func(name string, base boundSpec, kv ...string) {
		s := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			s[kv[i]] = kv[i+1]
		}
		variants[name] = s
	}
	// The variants turn features another way; the largest values (a
	// megabyte of environment, a 128 KiB argument) are the max spec's
	// alone, so each variant builds quickly.
	max := maxSpec()
	max["env"] = `{DATA: {value: "/data/sub", path: true, required: true, description: "data"}, SECRET: {secret: true, description: "a secret"}, VIEW: {value: "/mnt/view", description: "the FUSE view"}}`
	max["entry.args"] = `["serve"]`
	with("max-privileged", max, "kubernetes.fuseDevice", `"privileged"`, "security.privileged", "true", "security.privilegedReason", `"a privileged container is how this cluster passes /dev/fuse"`)
	with("max-no-fuse", max, "fuse.mountPoint", "", "security.capabilities", `{NET_BIND_SERVICE: reason: "binds a port below 1024"}`, "security.devices", `{}`)
	with("max-non-root", max, "image.user.uid", `65535`, "image.user.rootReason", "")
	with("max-multistage", max, "image.mode", `"multistage"`)
	with("max-short-probes", max, "health.interval", `"1s"`, "health.startPeriod", `"2147483646s"`, "health.retries", "1")
	with("max-on-failure", max, "workload.stopGracePeriod", `"0s"`, "workload.restart", `"on-failure"`,
		"omit", `{"workload.replicas": compose: "compose runs one container on a developer machine", "volumes.*.size": compose: "a local named volume has no size; the host's disk bounds it", "workload.restart": kubernetes: "pods of a StatefulSet always restart; the kubelet's back-off stands in"}`)
	with("max-whole-units", max, "resources.cpu.request", `"0.001"`, "resources.cpu.limit", `"8191.999"`, "resources.memory.request", `"6Mi"`, "resources.memory.limit", `"7Ei"`)
	with("min-root", minSpec(), "image.user.uid", `0`, "image.user.rootReason", `"it binds port 1 and needs root for it"`)
	with("min-tmpfs", minSpec(), "volumes", `{t: {path: "/t", kind: "tmpfs", size: "1"}}`, "env", `{T: {value: "/t", path: true, description: "scratch"}}`)
	with("min-fuse", minSpec(), "fuse.mountPoint", `"/v"`, "security.capabilities", `{SYS_ADMIN: reason: "FUSE mount of the view"}`, "security.devices", `{"/dev/fuse": reason: "FUSE mount of the view"}`)
	with("min-persistent", minSpec(), "volumes", `{p: {path: "/p", kind: "persistent", size: "1"}}`, "image.workdir", `"/p"`,
		"omit", `{"volumes.*.size": compose: "a local named volume has no size; the host's disk bounds it"}`)

	dir := t.TempDir()
	var out []propertyCase
	for _, name := range slices.Sorted(maps.Keys(variants)) {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "spec.cue"), []byte(variants[name].render()), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, propertyCase{name: "bound-" + name, dir: d})
	}
	return out
}

// render writes the spec as CUE: one line per field that has a value.
func (s boundSpec) render() string {
	var b strings.Builder
	b.WriteString("package bounds\n\n")
	for _, path := range slices.Sorted(maps.Keys(s)) {
		if s[path] != "" {
			fmt.Fprintf(&b, "%s: %s\n", strings.ReplaceAll(path, ".", ": "), s[path])
		}
	}
	return b.String()
}

// TestBoundsAreTight: one step beyond each maximum (and below each
// minimum) of the population is refused, so the population sits on the
// bounds rather than inside them.
func TestBoundsAreTight(t *testing.T) {
	for _, c := range []struct {
		base  boundSpec
		field string
		value string
		want  string // in the error
	}{
		{maxSpec(), "name", `"` + long("m", 53) + `"`, "#ServiceName"},
		{maxSpec(), "workload.replicas", "2147483648", "more than 2147483647"},
		{maxSpec(), "health.retries", "2147483647", "startup probe would allow"},
		{maxSpec(), "health.interval", `"596523h14m8s"`, "longer than 2147483647s"},
		{maxSpec(), "health.timeout", `"2147483648s"`, "longer than 2147483647s"},
		{maxSpec(), "workload.stopGracePeriod", `"2147483648s"`, "longer than 2147483647s"},
		{maxSpec(), "resources.cpu.limit", `"8193"`, "more than 8192 CPUs"},
		{maxSpec(), "resources.cpu.limit", `"8192001m"`, "more than 8192 CPUs"},
		{maxSpec(), "resources.memory.limit", `"9223372036854775808"`, "more than 9223372036854775807 bytes"},
		{maxSpec(), "volumes.t.size", `"9223372036854775808"`, "more than 9223372036854775807 bytes"},
		{maxSpec(), "volumes.d.size", `"0"`, "less than one byte"},
		{maxSpec(), "entry.args", `["` + strings.Repeat("a", 131072) + `"]`, "MAX_ARG_STRLEN"},
		{maxSpec(), "entry.args", `[` + strings.Repeat(`"`+strings.Repeat("a", 131071)+`", `, 4) + `"b"]`, "ARG_MAX"},
		{maxSpec(), "ports", `{` + long("p", 15) + `: number: 65535, "a--b": number: 1}`, "two dashes in a row"},
		{maxSpec(), "security.capabilities", `{SYS_ADMIN: reason: "FUSE mount of the view", NET_BIND_SERVIC: reason: "binds a port below 1024"}`, "no Linux capability"},
		{maxSpec(), "entry.binary", `"` + long("b", 256) + `"`, "#FileName"},
		{maxSpec(), "description", `"` + strings.Repeat("d", 4097) + `"`, "#LineLength"},
		{maxSpec(), "image.labels", `{"org.example.k": "` + strings.Repeat("v", 4097) + `"}`, "#LineLength"},
		{maxSpec(), "env.E31.value", `"` + strings.Repeat("w", 1<<20-31*(len("E00")+(65535-len(`ENV E00=""`))/2)-253-len("a name as long as a ConfigMap key")-len("DATA/data/sub")-len("VIEW/mnt/view")-len("E31")+1) + `"`, "in the ConfigMap"}, // one byte too many for the ConfigMap
		{maxSpec(), "image.ref", `"registry.example.com:5000/` + long("a", 256-len("registry.example.com:5000/")) + `:1"`, "255 Docker accepts"},
		{maxSpec(), "labels", `{"` + labelPrefix(254) + `/k": "v"}`, "253 of a DNS subdomain"},
		{maxSpec(), "env", `{` + strings.Repeat("N", 254) + `: {value: "v", description: "long name"}}`, "253 a key of the ConfigMap"},
		{maxSpec(), "entry.health", `[` + strings.Repeat(`"h", `, 33) + `]`, "more than 32"},
		{maxSpec(), "entry.health", `["` + strings.Repeat("h", 257) + `"]`, "more than 256"},
		{maxSpec(), "volumes.l", `{path: "` + strings.Repeat("/"+strings.Repeat("x", 255), 16) + `", kind: "tmpfs"}`, "PATH_MAX"},
		{maxSpec(), "volumes.u", `{path: "/` + strings.Repeat("x", 256) + `", kind: "tmpfs"}`, "PATH_MAX"},
		{maxSpec(), "env", `{P: {value: "` + strings.Repeat("/"+strings.Repeat("x", 255), 15) + "/" + strings.Repeat("y", 254) + `/z", path: true, description: "a path deeper than Linux takes"}}`, "PATH_MAX"},
		{maxSpec(), "kubernetes.fuseResource", `"` + strings.Repeat("d.", 117) + "example.com/fuse" + `"`, "#FUSEResource"}, // 245
		{minSpec(), "health.interval", `"0s"`, "shorter than 1s"},
		{minSpec(), "health.timeout", `"0s"`, "shorter than 1s"},
		{minSpec(), "resources.cpu.request", `"0.9m"`, "less than 1m"},
		{minSpec(), "resources.cpu.limit", `"9m"`, "below 10m"},
		{minSpec(), "resources.memory.request", `"6291455"`, "below 6Mi"},
		{minSpec(), "workload.replicas", "0", "workload.replicas"},
		{minSpec(), "health.retries", "0", "health.retries"},
		{minSpec(), "entry.health", "[]", "is empty"},
	} {
		s := maps.Clone(c.base)
		if _, ok := s[c.field]; !ok {
			t.Fatalf("the base spec has no field %s to change", c.field)
		}
		s[c.field] = c.value
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "spec.cue"), []byte(s.render()), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := spec.Load(spec.Options{Dir: dir})
		if err == nil {
			t.Errorf("%s: %.40s is accepted", c.field, c.value)
		} else if got := spec.Details(err, dir); !strings.Contains(got, c.want) {
			t.Errorf("%s: %.40s is refused, but not for %q:\n%.2000s", c.field, c.value, c.want, got)
		}
	}
	// And the bounds themselves are accepted.
	for name, s := range map[string]boundSpec{"min": minSpec(), "max": maxSpec()} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "spec.cue"), []byte(s.render()), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := spec.Load(spec.Options{Dir: dir}); err != nil {
			t.Errorf("%s spec: %s", name, spec.Details(err, dir))
		}
	}
}
