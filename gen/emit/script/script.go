// Package script emits the container's start script: POSIX sh (dash and
// busybox sh) that refuses to start with a missing required variable,
// logs the effective configuration with secrets masked, checks what FUSE
// needs, creates the directories the service writes and then execs the
// entry, so signals reach the service itself.
package script

import (
	"bytes"
	"fmt"
	"path"
	"strings"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/emit/encode"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// Emit returns the start script of s. Every spec string is encoded for
// the shell context it lands in (gen/emit/encode): a word quoted with
// syntax.Quote, a message or default inside "${VAR...}" only when the
// shells agree it is literal there; a string that cannot be written as
// it is fails the emitter with encode.Errors.
func Emit(s *spec.Service, o emit.Options) ([]byte, error) {
	var b bytes.Buffer
	enc := &encode.Encoder{}
	tag := s.Name + "-start"
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "# %s: checks the environment, prepares directories, then execs %s.\n",
		enc.ShellComment("name", tag), enc.ShellComment("entry.binary", s.Entry.Binary))
	b.WriteString("set -eu\n\n")
	fmt.Fprintf(&b, "log() { printf '%%s\\n' \"%s: $*\" >&2; }\n", enc.ShellInQuotes("name", tag))
	b.WriteString("die() { log \"error: $*\"; exit 1; }\n\n")

	// Every variable name is checked once; the script then writes it as is.
	names := make(map[string]string, len(s.Env))
	for _, e := range s.Env {
		names[e.Name] = enc.EnvName(encode.Field("env", e.Name), e.Name)
	}

	b.WriteString("# Required variables: each stops start-up with its name when unset or empty.\n")
	for _, e := range s.Env {
		if e.Required {
			n := names[e.Name]
			fmt.Fprintf(&b, ": \"${%s:?%s is required: %s}\"\n", n, n, enc.ShellInQuotes(encode.Field("env", e.Name, "description"), e.Description))
		}
	}

	b.WriteString("\n# Effective configuration (secret values are never printed).\n")
	for _, e := range s.Env {
		n := names[e.Name]
		if e.Secret {
			fmt.Fprintf(&b, "if [ -n \"${%s:-}\" ]; then log \"%s=(secret, set)\"; else log \"%s=(secret, unset)\"; fi\n", n, n, n)
			continue
		}
		fmt.Fprintf(&b, "log \"%s=${%s-(unset)}\"\n", n, n)
	}

	if s.FUSE != nil {
		mp := enc.ShellWord("fuse.mountPoint", enc.AbsPath("fuse.mountPoint", s.FUSE.MountPoint))
		for _, e := range s.Env {
			if !e.Secret && e.HasValue && e.Value == s.FUSE.MountPoint {
				mp = fmt.Sprintf("\"${%s-%s}\"", names[e.Name], enc.ShellInQuotes(encode.Field("env", e.Name, "value"), e.Value))
				break
			}
		}
		b.WriteString("\n# FUSE: the device must be passed in and the mount point must exist.\n")
		fmt.Fprintf(&b, "fuse_mount=%s\n", mp)
		b.WriteString("if [ -n \"$fuse_mount\" ]; then\n")
		var why []string
		for _, d := range s.Security.Devices {
			if d.Name == "/dev/fuse" {
				why = append(why, d.Reason)
			}
		}
		msg := enc.ShellWord(encode.Field("security", "devices", "/dev/fuse", "reason"), "/dev/fuse is missing: pass the device in ("+strings.Join(why, "; ")+")")
		fmt.Fprintf(&b, "%s  [ -c /dev/fuse ] || die %s\n", literalNote("  ", msg), msg)
		b.WriteString("  [ -d \"$fuse_mount\" ] || mkdir -p \"$fuse_mount\" 2>/dev/null || die \"mount point $fuse_mount is missing and cannot be created\"\n")
		b.WriteString("fi\n")
	}

	var paths []spec.EnvVar
	for _, e := range s.Env {
		if e.Path {
			paths = append(paths, e)
		}
	}
	if len(paths) > 0 {
		b.WriteString("\n# Directories the service writes.\n")
		for _, e := range paths {
			n := names[e.Name]
			ref := fmt.Sprintf("${%s}", n)
			if !e.Required {
				f := encode.Field("env", e.Name, "value")
				ref = fmt.Sprintf("${%s:-%s}", n, enc.ShellInQuotes(f, enc.AbsPath(f, e.Value)))
			}
			fmt.Fprintf(&b, "mkdir -p \"%s\" || die \"cannot create %s=%s\"\n", ref, n, ref)
			fmt.Fprintf(&b, "[ -w \"%s\" ] || die \"%s=%s is not writable by uid $(id -u)\"\n", ref, n, ref)
		}
	}

	args := []string{enc.ShellOperand("entry.binary", path.Join("/usr/local/bin", enc.FileName("entry.binary", s.Entry.Binary)))}
	for i, a := range s.Entry.Args {
		args = append(args, enc.ShellWord(encode.Field("entry", "args", i), a))
	}
	fmt.Fprintf(&b, "\n%sexec %s\n", literalNote("", args...), strings.Join(args, " "))

	if err := enc.Err(); err != nil {
		return nil, err
	}
	return emit.AddHeader(b.Bytes(), o.Version, s.Source, s.Digest, true), nil
}

// literalNote is a shellcheck directive for a line whose words are
// single-quoted literal text holding $, `, \ or a leading ~ (spec text,
// quoted by syntax.Quote so the shell does not expand it): shellcheck
// would take it for an expansion meant to happen (SC2016, SC1003,
// SC2088). Other lines get none, so the usual script is unchanged.
func literalNote(indent string, words ...string) string {
	for _, w := range words {
		if strings.HasPrefix(w, "'") && strings.ContainsAny(w, "$`\\~") {
			return indent + "# The quoted words are literal text from the spec.\n" + indent + "# shellcheck disable=SC1003,SC2016,SC2088\n"
		}
	}
	return ""
}
