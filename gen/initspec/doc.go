// Package initspec writes the starter spec of `lighthouse-gen init`: it
// finds the Go module around a folder (go.mod read with
// golang.org/x/mod/modfile), the module's main packages (folders walked as
// the go command walks ./..., each file's build constraints matched by
// go/build for linux/amd64 without cgo and its package clause read by
// go/parser), derives a service name Kubernetes accepts from the chosen
// package, and renders a commented spec from an embedded CUE template.
//
// Every value that comes from the module (its path, the package folder,
// the Go version) enters the spec as a CUE string literal built by
// cue/ast and printed by cue/format, never as text pasted into CUE
// source, so no folder or module name can add a field or break the file.
// Adding a field to the starter is one edit of starter.cue.tmpl.
package initspec
