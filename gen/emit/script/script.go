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
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// Emit returns the start script of s.
func Emit(s *spec.Service, o emit.Options) ([]byte, error) {
	var b bytes.Buffer
	tag := s.Name + "-start"
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "# %s: checks the environment, prepares directories, then execs %s.\n", tag, s.Entry.Binary)
	b.WriteString("set -eu\n\n")
	fmt.Fprintf(&b, "log() { printf '%%s\\n' \"%s: $*\" >&2; }\n", tag)
	b.WriteString("die() { log \"error: $*\"; exit 1; }\n\n")

	b.WriteString("# Required variables: each stops start-up with its name when unset or empty.\n")
	for _, e := range s.Env {
		if e.Required {
			fmt.Fprintf(&b, ": \"${%s:?%s is required: %s}\"\n", e.Name, e.Name, e.Description)
		}
	}

	b.WriteString("\n# Effective configuration (secret values are never printed).\n")
	for _, e := range s.Env {
		if e.Secret {
			fmt.Fprintf(&b, "if [ -n \"${%s:-}\" ]; then log \"%s=(secret, set)\"; else log \"%s=(secret, unset)\"; fi\n", e.Name, e.Name, e.Name)
			continue
		}
		fmt.Fprintf(&b, "log \"%s=${%s-(unset)}\"\n", e.Name, e.Name)
	}

	if s.FUSE != nil {
		mp := shQuote(s.FUSE.MountPoint)
		for _, e := range s.Env {
			if !e.Secret && e.HasValue && e.Value == s.FUSE.MountPoint {
				mp = fmt.Sprintf("\"${%s-%s}\"", e.Name, s.FUSE.MountPoint)
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
		fmt.Fprintf(&b, "  [ -c /dev/fuse ] || die %s\n", shQuote("/dev/fuse is missing: pass the device in ("+strings.Join(why, "; ")+")"))
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
			ref := fmt.Sprintf("${%s}", e.Name)
			if !e.Required {
				ref = fmt.Sprintf("${%s:-%s}", e.Name, e.Value)
			}
			fmt.Fprintf(&b, "mkdir -p \"%s\" || die \"cannot create %s=%s\"\n", ref, e.Name, ref)
			fmt.Fprintf(&b, "[ -w \"%s\" ] || die \"%s=%s is not writable by uid $(id -u)\"\n", ref, e.Name, ref)
		}
	}

	args := []string{path.Join("/usr/local/bin", s.Entry.Binary)}
	for _, a := range s.Entry.Args {
		args = append(args, shQuote(a))
	}
	fmt.Fprintf(&b, "\nexec %s\n", strings.Join(args, " "))

	return emit.AddHeader(b.Bytes(), o.Version, s.Source, s.Digest, true), nil
}

// shQuote quotes a word for sh when it needs quoting.
func shQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
