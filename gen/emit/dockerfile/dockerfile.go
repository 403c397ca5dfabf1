// Package dockerfile emits the service's Dockerfile: a multi-stage build
// (or, with image.mode "prebuilt", a copy of a binary built outside) whose
// labels tell an operator what the image needs to run and why.
package dockerfile

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/emit/encode"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// BinDir is where the entry binary and the start script live in the image.
const BinDir = "/usr/local/bin"

// Emit returns the Dockerfile of s. Every string is encoded for the
// context it lands in (gen/emit/encode): comment text, double-quoted
// LABEL and ENV words, unquoted instruction words, POSIX shell words in
// RUN, exec-form JSON; a string that cannot be written as it is fails
// the emitter with encode.Errors.
func Emit(s *spec.Service, o emit.Options) ([]byte, error) {
	var b bytes.Buffer
	enc := &encode.Encoder{}
	bin := path.Join(BinDir, enc.FileName("entry.binary", s.Entry.Binary))
	start := path.Join(BinDir, enc.FileName("name", s.Name+"-start"))
	script := path.Join(o.ContextDir, emit.Script)

	// Words used more than once are encoded once.
	binWord := enc.DockerfileWord("entry.binary", bin)
	startWord := enc.DockerfileWord("name", start)
	const outDir, context = "the output folder's path in the build context (--out)", "the build context (--context)"
	scriptWord := enc.Outside(outDir, func(x *encode.Encoder) string { return x.DockerfileWord("", script) })

	fmt.Fprintf(&b, "# %s: %s\n#\n", enc.DockerfileComment("name", s.Name), enc.DockerfileComment("description", s.Description))
	fmt.Fprintf(&b, "# Build context: %s from this file's folder (lighthouse-gen --context, by default the Go module root); this folder is %s in it.\n",
		enc.Outside(context, func(x *encode.Encoder) string { return x.DockerfileComment("", o.ContextRoot) }),
		enc.Outside(outDir, func(x *encode.Encoder) string { return x.DockerfileComment("", o.ContextDir) }))
	switch s.Image.Mode {
	case "prebuilt":
		fmt.Fprintf(&b, "# Mode prebuilt: the context must hold bin/%s, a static binary built outside\n", enc.DockerfileComment("entry.binary", s.Entry.Binary))
		fmt.Fprintf(&b, "# (CGO_ENABLED=0 go build -o bin/%s %s), and %s.\n\n", enc.DockerfileComment("entry.binary", s.Entry.Binary),
			enc.DockerfileComment("entry.package", s.Entry.Package), scriptWord)
	default:
		fmt.Fprintf(&b, "# Mode multistage: %s builds %s with CGO off.\n\n", enc.DockerfileComment("image.builder", s.Image.Builder), enc.DockerfileComment("entry.package", s.Entry.Package))
		fmt.Fprintf(&b, "FROM %s AS build\n", enc.DockerfileWord("image.builder", s.Image.Builder))
		b.WriteString("WORKDIR /src\nCOPY go.mod go.sum ./\nRUN go mod download\nCOPY . .\n")
		// RUN is shell form: each word is a POSIX shell word, and the
		// package an operand (never an option) of go build.
		fmt.Fprintf(&b, "RUN CGO_ENABLED=0 go build -trimpath -ldflags=\"-s -w\" -o %s %s\n\n",
			enc.ShellOperand("entry.binary", "/out/"+s.Entry.Binary), enc.ShellOperand("entry.package", s.Entry.Package))
	}

	fmt.Fprintf(&b, "FROM %s\n", enc.DockerfileWord("image.runtime", s.Image.Runtime))
	if s.Image.Mode == "prebuilt" {
		fmt.Fprintf(&b, "COPY %s %s\n", enc.DockerfileWord("entry.binary", "bin/"+s.Entry.Binary), binWord)
	} else {
		fmt.Fprintf(&b, "COPY --from=build %s %s\n", enc.DockerfileWord("entry.binary", "/out/"+s.Entry.Binary), binWord)
	}
	fmt.Fprintf(&b, "COPY %s %s\n", scriptWord, startWord)

	// Directories the process writes (volumes) are created owned by its
	// user, so fresh named volumes inherit the ownership; the FUSE mount
	// point must exist because the root filesystem is read-only.
	var dirs []string
	for _, v := range s.Volumes {
		if v.Persistent {
			f := encode.Field("volumes", v.Name, "path")
			dirs = append(dirs, enc.ShellOperand(f, enc.AbsPath(f, v.Path)))
		}
	}
	if s.FUSE != nil {
		dirs = append(dirs, enc.ShellOperand("fuse.mountPoint", enc.AbsPath("fuse.mountPoint", s.FUSE.MountPoint)))
	}
	run := fmt.Sprintf("chmod 0755 %s %s", enc.ShellOperand("entry.binary", bin), enc.ShellOperand("name", start))
	if len(dirs) > 0 {
		run += fmt.Sprintf(" \\\n && mkdir -p %s \\\n && chown %d:%d %s", strings.Join(dirs, " "), s.Image.UID, s.Image.GID, strings.Join(dirs, " "))
	}
	for _, line := range strings.Split(run, "\n") {
		if len(line) > encode.MaxDockerfileLine-len("RUN ") {
			enc.Fail("volumes", fmt.Sprintf("%d directories", len(dirs)), "the RUN that creates the volumes' directories",
				fmt.Sprintf("their paths make a line of %d bytes, and BuildKit reads lines of at most %d; shorten the paths", len(line), encode.MaxDockerfileLine))
			break
		}
	}
	fmt.Fprintf(&b, "RUN %s\n\n", run)

	writeLabels(&b, enc, s)

	for _, e := range s.Env {
		if !e.Secret && e.HasValue {
			fmt.Fprintf(&b, "ENV %s=%s\n", envName(enc, e.Name), enc.DockerfileQuoted(encode.Field("env", e.Name, "value"), e.Value))
		}
	}
	for _, p := range s.Ports {
		fmt.Fprintf(&b, "EXPOSE %d/%s\n", p.Number, enc.DockerfileWord(encode.Field("ports", p.Name, "protocol"), strings.ToLower(p.Protocol)))
	}
	fmt.Fprintf(&b, "WORKDIR %s\n", enc.DockerfileWord("image.workdir", enc.AbsPath("image.workdir", s.Image.Workdir)))
	fmt.Fprintf(&b, "USER %d:%d\n", s.Image.UID, s.Image.GID)
	h := s.Health
	health := append([]string{bin}, s.Entry.Health...)
	fields := []string{"entry.binary"}
	for i := range s.Entry.Health {
		fields = append(fields, encode.Field("entry", "health", i))
	}
	fmt.Fprintf(&b, "HEALTHCHECK --interval=%s --timeout=%s --start-period=%s --retries=%d \\\n  CMD %s\n",
		h.Interval, h.Timeout, h.StartPeriod, h.Retries, enc.ExecForm(fields, health))
	b.WriteString("STOPSIGNAL SIGTERM\n")
	fmt.Fprintf(&b, "ENTRYPOINT %s\n", enc.ExecForm([]string{"name"}, []string{start}))

	// BuildKit reads a line of at most 64 KiB; each string is at most
	// half of that and the mkdir line is checked above, so this catches
	// what neither foresaw (a refusal already explains itself).
	for i, line := range strings.Split(b.String(), "\n") {
		if enc.Err() != nil {
			break
		}
		if len(line) > encode.MaxDockerfileLine {
			enc.Other("the Dockerfile", fmt.Sprintf("line %d", i+1), "a Dockerfile line",
				fmt.Sprintf("it is %d bytes long, and BuildKit reads lines of at most %d", len(line), encode.MaxDockerfileLine))
		}
	}
	if err := enc.Err(); err != nil {
		return nil, err
	}
	return emit.AddHeader(b.Bytes(), o.Version, s.Source, s.Digest, false), nil
}

// envName is an ENV key: BuildKit ends it at "=" or white space, so it
// is a shell variable name.
func envName(enc *encode.Encoder, name string) string {
	return enc.EnvName(encode.Field("env", name), name)
}

// writeLabels writes one LABEL instruction: the OCI set, the spec's labels
// and what the image needs to run (user, resources, privileges with their
// reasons), so `docker inspect` answers an operator's questions. Each
// label remembers the spec field its value comes from.
func writeLabels(b *bytes.Buffer, enc *encode.Encoder, s *spec.Service) {
	type label struct{ value, field, keyField string }
	l := map[string]label{}
	// set writes one label; two fields that write one label with
	// different values are refused: one of them would be lost silently.
	set := func(key, value, field, keyField string) {
		if old, ok := l[key]; ok && old.value != value {
			enc.Fail(field, value, "a Dockerfile LABEL", fmt.Sprintf("label %s is also written from %s, with another value; one of them would be lost", key, old.field))
			return
		}
		l[key] = label{value, field, keyField}
	}
	set("org.opencontainers.image.title", s.Name, "name", "")
	set("org.opencontainers.image.description", s.Description, "description", "")
	set("org.opencontainers.image.base.name", s.Image.Runtime, "image.runtime", "")
	if v, ok := s.Labels["version"]; ok {
		set("org.opencontainers.image.version", v, "labels.version", "")
	}
	if v, ok := s.Labels["maintainer"]; ok {
		set("org.opencontainers.image.authors", v, "labels.maintainer", "")
	}
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		f := encode.Field("labels", k)
		set(k, s.Labels[k], f, f)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Image.Labels)) {
		f := encode.Field("image", "labels", k)
		set(k, s.Image.Labels[k], f, f)
	}
	set("io.lighthouse.run.user", fmt.Sprintf("%d:%d", s.Image.UID, s.Image.GID), "image.user", "")
	if s.Image.UID == 0 { // the schema asks a reason of uid 0 only; an empty one is written as it is
		set("io.lighthouse.run.root-reason", s.Image.RootReason, "image.user.rootReason", "")
	}
	set("io.lighthouse.resources.cpu.request", s.Resources.CPURequest, "resources.cpu.request", "")
	set("io.lighthouse.resources.cpu.limit", s.Resources.CPULimit, "resources.cpu.limit", "")
	set("io.lighthouse.resources.memory.request", s.Resources.MemoryRequest, "resources.memory.request", "")
	set("io.lighthouse.resources.memory.limit", s.Resources.MemoryLimit, "resources.memory.limit", "")
	for _, c := range s.Security.Capabilities {
		f := encode.Field("security", "capabilities", c.Name)
		set("io.lighthouse.capability."+strings.ToLower(c.Name), c.Reason, f+".reason", f)
	}
	for _, d := range s.Security.Devices {
		f := encode.Field("security", "devices", d.Name)
		set("io.lighthouse.device"+strings.ReplaceAll(d.Name, "/", "."), d.Reason, f+".reason", f)
	}
	if s.Security.Privileged {
		set("io.lighthouse.privileged", s.Security.PrivilegedReason, "security.privilegedReason", "")
	}
	if s.FUSE != nil {
		set("io.lighthouse.fuse.mount-point", s.FUSE.MountPoint, "fuse.mountPoint", "")
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
		fmt.Fprintf(b, "%s%s=%s", sep, enc.DockerfileLabelKey(l[k].keyField, k), enc.DockerfileQuoted(l[k].field, l[k].value))
	}
	b.WriteString("\n")
}
