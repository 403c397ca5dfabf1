// Command kubevalidate validates Kubernetes manifests exactly as a v1.37 API
// server does on create, with no cluster: it decodes raw YAML strictly
// (unknown and duplicate fields are errors), applies the API server's
// defaults, converts to the internal types and runs the registry strategy's
// rest.BeforeCreate (PrepareForCreate, Validate, declarative validation).
// What the controllers will create from a valid StatefulSet or Deployment
// (its ControllerRevision, pods and claims, or its ReplicaSet and pods, with
// the longest names they can get) goes through the same path, so a manifest
// the API server accepts but whose pods it would refuse fails too.
//
// It lives in its own Go module because k8s.io/kubernetes can only be required
// with its staging modules replaced, and that replace block must stay out of
// the main module.
//
// Usage:
//
//	go -C gen/kubevalidate run . FILE...
//
// Each error is printed as "file:line: kind/name: field: message"; the exit
// status is 1 when there is any, 2 when a file cannot be read.
//
// The server it stands for runs with --allow-privileged=true, as kubeadm and
// the managed clusters set it: a spec may ask for a privileged container
// (saying why), and a cluster that forbids them refuses it whatever the
// manifest says.
package main

import (
	"fmt"
	"os"

	"k8s.io/kubernetes/pkg/capabilities"
)

// allowPrivileged configures the validation as kube-apiserver
// --allow-privileged=true does (a process-wide setting of the API server's
// code, so main makes it, once).
func allowPrivileged() {
	capabilities.Setup(true, 0)
}

func main() {
	allowPrivileged()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kubevalidate FILE...")
		os.Exit(2)
	}
	failed := false
	for _, file := range os.Args[1:] {
		data, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, p := range Validate(file, data) {
			fmt.Println(p)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
