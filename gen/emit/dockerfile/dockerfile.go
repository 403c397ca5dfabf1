// Package dockerfile emits the service's Dockerfile: a multi-stage build
// (or, with image.mode "prebuilt", a copy of a binary built outside) whose
// labels tell an operator what the image needs to run and why.
package dockerfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// BinDir is where the entry binary and the start script live in the image.
const BinDir = "/usr/local/bin"

// Emit returns the Dockerfile of s.
func Emit(s *spec.Service, o emit.Options) ([]byte, error) {
	var b bytes.Buffer
	bin := path.Join(BinDir, s.Entry.Binary)
	start := path.Join(BinDir, s.Name+"-start")
	script := path.Join(o.ContextDir, emit.Script)

	fmt.Fprintf(&b, "# %s: %s\n#\n", s.Name, s.Description)
	fmt.Fprintf(&b, "# Build context: %s from this file's folder (lighthouse-gen --context, by default the Go module root); this folder is %s in it.\n", o.ContextRoot, o.ContextDir)
	switch s.Image.Mode {
	case "prebuilt":
		fmt.Fprintf(&b, "# Mode prebuilt: the context must hold bin/%s, a static binary built outside\n", s.Entry.Binary)
		fmt.Fprintf(&b, "# (CGO_ENABLED=0 go build -o bin/%s %s), and %s.\n\n", s.Entry.Binary, s.Entry.Package, script)
	default:
		fmt.Fprintf(&b, "# Mode multistage: %s builds %s with CGO off.\n\n", s.Image.Builder, s.Entry.Package)
		fmt.Fprintf(&b, "FROM %s AS build\n", s.Image.Builder)
		b.WriteString("WORKDIR /src\nCOPY go.mod go.sum ./\nRUN go mod download\nCOPY . .\n")
		fmt.Fprintf(&b, "RUN CGO_ENABLED=0 go build -trimpath -ldflags=\"-s -w\" -o /out/%s %s\n\n", s.Entry.Binary, s.Entry.Package)
	}

	fmt.Fprintf(&b, "FROM %s\n", s.Image.Runtime)
	if s.Image.Mode == "prebuilt" {
		fmt.Fprintf(&b, "COPY bin/%s %s\n", s.Entry.Binary, bin)
	} else {
		fmt.Fprintf(&b, "COPY --from=build /out/%s %s\n", s.Entry.Binary, bin)
	}
	fmt.Fprintf(&b, "COPY %s %s\n", script, start)

	// Directories the process writes (volumes) are created owned by its
	// user, so fresh named volumes inherit the ownership; the FUSE mount
	// point must exist because the root filesystem is read-only.
	var dirs []string
	for _, v := range s.Volumes {
		if v.Persistent {
			dirs = append(dirs, v.Path)
		}
	}
	if s.FUSE != nil {
		dirs = append(dirs, s.FUSE.MountPoint)
	}
	run := fmt.Sprintf("chmod 0755 %s %s", bin, start)
	if len(dirs) > 0 {
		run += fmt.Sprintf(" \\\n && mkdir -p %s \\\n && chown %d:%d %s", strings.Join(dirs, " "), s.Image.UID, s.Image.GID, strings.Join(dirs, " "))
	}
	fmt.Fprintf(&b, "RUN %s\n\n", run)

	writeLabels(&b, s)

	for _, e := range s.Env {
		if !e.Secret && e.HasValue {
			fmt.Fprintf(&b, "ENV %s=%s\n", e.Name, quote(e.Value))
		}
	}
	for _, p := range s.Ports {
		fmt.Fprintf(&b, "EXPOSE %d/%s\n", p.Number, strings.ToLower(p.Protocol))
	}
	fmt.Fprintf(&b, "WORKDIR %s\n", s.Image.Workdir)
	fmt.Fprintf(&b, "USER %d:%d\n", s.Image.UID, s.Image.GID)
	h := s.Health
	fmt.Fprintf(&b, "HEALTHCHECK --interval=%s --timeout=%s --start-period=%s --retries=%d \\\n  CMD %s\n",
		h.Interval, h.Timeout, h.StartPeriod, h.Retries, execForm(append([]string{bin}, s.Entry.Health...)))
	b.WriteString("STOPSIGNAL SIGTERM\n")
	fmt.Fprintf(&b, "ENTRYPOINT %s\n", execForm([]string{start}))

	return emit.AddHeader(b.Bytes(), o.Version, s.Source, s.Digest, false), nil
}

// writeLabels writes one LABEL instruction: the OCI set, the spec's labels
// and what the image needs to run (user, resources, privileges with their
// reasons), so `docker inspect` answers an operator's questions.
func writeLabels(b *bytes.Buffer, s *spec.Service) {
	l := map[string]string{
		"org.opencontainers.image.title":       s.Name,
		"org.opencontainers.image.description": s.Description,
		"org.opencontainers.image.base.name":   s.Image.Runtime,
	}
	if v, ok := s.Labels["version"]; ok {
		l["org.opencontainers.image.version"] = v
	}
	if v, ok := s.Labels["maintainer"]; ok {
		l["org.opencontainers.image.authors"] = v
	}
	for k, v := range s.Labels {
		l[k] = v
	}
	for k, v := range s.Image.Labels {
		l[k] = v
	}
	l["io.lighthouse.run.user"] = fmt.Sprintf("%d:%d", s.Image.UID, s.Image.GID)
	if s.Image.RootReason != "" {
		l["io.lighthouse.run.root-reason"] = s.Image.RootReason
	}
	l["io.lighthouse.resources.cpu.request"] = s.Resources.CPURequest
	l["io.lighthouse.resources.cpu.limit"] = s.Resources.CPULimit
	l["io.lighthouse.resources.memory.request"] = s.Resources.MemoryRequest
	l["io.lighthouse.resources.memory.limit"] = s.Resources.MemoryLimit
	for _, c := range s.Security.Capabilities {
		l["io.lighthouse.capability."+strings.ToLower(c.Name)] = c.Reason
	}
	for _, d := range s.Security.Devices {
		l["io.lighthouse.device"+strings.ReplaceAll(d.Name, "/", ".")] = d.Reason
	}
	if s.Security.Privileged {
		l["io.lighthouse.privileged"] = s.Security.PrivilegedReason
	}
	if s.FUSE != nil {
		l["io.lighthouse.fuse.mount-point"] = s.FUSE.MountPoint
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("LABEL")
	for i, k := range keys {
		sep := " \\\n      "
		if i == 0 {
			sep = " "
		}
		fmt.Fprintf(b, "%s%s=%s", sep, quote(k), quote(l[k]))
	}
	b.WriteString("\n")
}

// quote writes a Dockerfile double-quoted word: LABEL and ENV substitute
// variables, so $ and \ and " are escaped.
func quote(s string) string {
	return `"` + quoter.Replace(s) + `"`
}

// quoter is built once: a Replacer builds its lookup tables on first use,
// which cost more than the quoting of every label of a Dockerfile.
var quoter = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "\n", `\n`)

// execForm renders a JSON array, the exec form Docker runs without a shell.
func execForm(args []string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(args) // []string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
