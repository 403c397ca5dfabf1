// Command lighthouse-gen compiles one CUE service spec into a Dockerfile,
// a start script, a compose file and Kubernetes manifests.
package main

import (
	"os"

	_ "github.com/lighthouse-project/lighthouse/cmd/internal/shortlived"
	_ "github.com/lighthouse-project/lighthouse/cmd/lighthouse-gen/internal/warm"
)

func main() { os.Exit(Main()) }
