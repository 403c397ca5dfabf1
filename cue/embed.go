// Package cuemod carries the CUE module (the #Service schema and the
// bridge's spec) inside the lighthouse-gen binary, so the compiler always
// validates against exactly the schema it was built with and
// `lighthouse-gen build` needs no checkout.
package cuemod

import "embed"

// FS holds cue.mod/module.cue, schema/ and bridge/, rooted at the module.
//
//go:embed cue.mod/module.cue schema/*.cue bridge/*.cue
var FS embed.FS

// BridgeDir is the bridge's spec package inside FS.
const BridgeDir = "bridge"

// SchemaDir is the schema package inside FS.
const SchemaDir = "schema"
