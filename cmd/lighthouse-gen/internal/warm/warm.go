// Package warm starts compiling compose-go's JSON schema (about 9 ms of
// CPU, once per process, on the first compose file loaded) as soon as the
// schema package is initialized: on a second core it then overlaps the
// initialization of the remaining packages and the CUE load instead of
// following them. Imported for its side effect by lighthouse-gen only.
package warm

import (
	"os"
	"slices"

	"github.com/compose-spec/compose-go/v2/schema"
)

// Commands are the lighthouse-gen commands that load a compose file; any
// other command (help, version, explain) does not pay for the schema.
var Commands = []string{"build", "vet", "diff", "audit"}

// Wanted reports whether a command line runs one of Commands.
func Wanted(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return slices.Contains(Commands, a) })
}

func init() {
	if len(os.Args) > 1 && Wanted(os.Args[1:]) {
		// Validate compiles the schema once per process behind a
		// sync.Once; an empty document is the cheapest way to get there.
		go schema.Validate(map[string]any{})
	}
}
