// Command lighthouse-gen compiles one CUE service spec into a Dockerfile,
// a start script, a compose file and Kubernetes manifests.
package main

import "os"

func main() { os.Exit(Main()) }
