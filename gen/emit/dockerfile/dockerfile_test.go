package dockerfile

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// instructions parses the emitted Dockerfile with BuildKit's parser and
// returns each instruction as "CMD rest".
func instructions(t *testing.T, dir string, tags ...string) []string {
	t.Helper()
	s, err := spec.Load(spec.Options{Dir: dir, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Emit(s, emit.Options{Version: "test", ContextRoot: "..", ContextDir: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("parser warnings: %+v", res.Warnings)
	}
	var out []string
	for _, n := range res.AST.Children {
		f := strings.Fields(n.Original) // continuation lines joined, spaces normalised
		out = append(out, strings.ToUpper(n.Value)+" "+strings.Join(f[1:], " "))
	}
	return out
}

func has(list []string, prefix string) int {
	n := 0
	for _, l := range list {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func TestBridgeMultiStage(t *testing.T) {
	in := instructions(t, "")
	for _, want := range []string{
		"FROM golang:1.26.8-bookworm AS build",
		"FROM busybox:1.37.0-musl",
		"COPY deploy/start.sh /usr/local/bin/lighthouse-bridge-start",
		"USER 0:0",
		"EXPOSE 8765/tcp",
		`HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["/usr/local/bin/lighthouse-bridge","healthcheck"]`,
		`ENTRYPOINT ["/usr/local/bin/lighthouse-bridge-start"]`,
	} {
		if has(in, want) != 1 {
			t.Errorf("missing %q in\n%s", want, strings.Join(in, "\n"))
		}
	}
	if has(in, "CMD ") != 0 {
		t.Error("a CMD would be passed to the start script")
	}
	if has(in, "RUN CGO_ENABLED=0 go build") != 1 {
		t.Error("the builder stage does not build with CGO off")
	}
	if has(in, "LABEL ") != 1 || !strings.Contains(in[indexOf(in, "LABEL ")], `"io.lighthouse.capability.sys_admin"="FUSE mount of the shadow filesystem"`) {
		t.Error("the capability and its reason are not labelled")
	}
}

func indexOf(list []string, prefix string) int {
	for i, l := range list {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return -1
}

func TestPrebuiltHasNoBuilder(t *testing.T) {
	in := instructions(t, "", "dockerfile_mode=prebuilt", "runtime_base=lighthouse-base:local")
	if has(in, "FROM ") != 1 || has(in, "FROM lighthouse-base:local") != 1 {
		t.Errorf("prebuilt stages: %v", in)
	}
	if has(in, "COPY bin/lighthouse-bridge /usr/local/bin/lighthouse-bridge") != 1 {
		t.Errorf("prebuilt binary not copied from bin/: %v", in)
	}
}

func TestNonRootServiceNoSecretsInImage(t *testing.T) {
	in := instructions(t, filepath.Join("..", "..", "..", "golden", "notes", "spec"))
	if has(in, "USER 10001:10001") != 1 {
		t.Errorf("USER missing: %v", in)
	}
	if has(in, "ENV NOTES_DB_PASSWORD") != 0 {
		t.Error("the secret is baked into the image")
	}
	if has(in, "EXPOSE ") != 2 {
		t.Errorf("want 2 EXPOSE: %v", in)
	}
}
