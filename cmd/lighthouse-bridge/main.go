// Command lighthouse-bridge is the Bridge: the HTTP coordination service
// of the lighthouse multi-agent system. See bridge/server for the service.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	root := newRootCmd(os.Getenv)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "lighthouse-bridge:", err)
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}
