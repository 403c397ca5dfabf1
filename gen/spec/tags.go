package spec

import (
	"fmt"
	"strings"
)

// checkTags rejects a tag given twice: CUE would unify both values and
// report a conflict on a hidden field ("_version: "1" is not allowed
// here") that does not say the command line is at fault.
func checkTags(tags []string) error {
	first := map[string]string{}
	for _, t := range tags {
		key, _, _ := strings.Cut(t, "=")
		if prev, ok := first[key]; ok {
			return fmt.Errorf("tag %s is given twice (-t %s and -t %s): give each tag once", key, prev, t)
		}
		first[key] = t
	}
	return nil
}
