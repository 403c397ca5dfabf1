package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	cueerrors "cuelang.org/go/cue/errors"
	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/cmd/internal/version"
	"github.com/lighthouse-project/lighthouse/gen/build"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// errSilent marks a failure already reported (for example a drift diff),
// so Main only sets the exit code.
var errSilent = fmt.Errorf("silent")

// Main runs the CLI with os.Args and returns the exit code; tests register
// it as a testscript command.
func Main() int {
	if p := os.Getenv("LIGHTHOUSE_CPUPROFILE"); p != "" {
		stop := startProfile(p)
		defer stop()
	}
	cmd := newRootCmd()
	if err := cmd.Execute(); err != nil {
		if err != errSilent {
			verbose, _ := cmd.PersistentFlags().GetBool("verbose")
			printError(cmd.ErrOrStderr(), err, verbose)
		}
		return 1
	}
	return 0
}

// startProfile writes a CPU profile of the run to path (the hidden
// LIGHTHOUSE_CPUPROFILE, for the performance work in BENCHMARKS.md: a run
// lasts tens of milliseconds, so profiles of many runs are merged with
// `go tool pprof`: a single run has only a few samples at 100 Hz).
func startProfile(path string) (stop func()) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lighthouse-gen: cpu profile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "lighthouse-gen: cpu profile:", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// printError shows every CUE error with its position in the spec relative
// to the working directory (verbose adds the schema's positions, which
// only a schema author needs); other errors as they are.
func printError(w io.Writer, err error, verbose bool) {
	wd, _ := os.Getwd()
	if _, ok := err.(cueerrors.Error); ok {
		if verbose {
			fmt.Fprint(w, spec.DetailsVerbose(err, wd))
		} else {
			fmt.Fprint(w, spec.Details(err, wd))
		}
		return
	}
	if fe, ok := err.(*build.FindingsError); ok {
		for _, f := range fe.Findings {
			fmt.Fprintln(w, f)
		}
		fmt.Fprintf(w, "lighthouse-gen: %d finding(s) in the artifacts as emitted; nothing was written\n", len(fe.Findings))
		return
	}
	fmt.Fprintln(w, "lighthouse-gen:", err)
}

// flags are shared by every command that reads a spec.
type flags struct {
	spec    string
	out     string
	context string
	tags    []string
}

// options are the build options of the flags. The build context is
// --context or the Go module root holding --out; an --out outside every
// Go module without --context is an error, so no artifact names a
// context nobody chose.
func (f *flags) options() (build.Options, error) {
	o := build.Options{Spec: f.spec, Tags: f.tags, Out: f.out, Context: f.context, Version: version.Version}
	if o.Context == "" {
		root, ok := build.ModuleRoot(f.out)
		if !ok {
			return o, fmt.Errorf("--out %s is not inside a Go module, so the Docker build context is unknown: pass --context DIR, a folder that holds %s and what the Dockerfile copies (the Go module with dockerfile_mode=multistage, bin/<binary> with prebuilt)", f.out, f.out)
		}
		o.Context = root
	}
	return o, nil
}

const rootLong = `lighthouse-gen compiles one CUE service spec into the four artifacts that run
it: Dockerfile, start.sh, compose.yaml and kubernetes.yaml.

Without --spec it uses the bridge's spec embedded in the binary, so in a
checkout "lighthouse-gen build" regenerates deploy/.`

func newRootCmd() *cobra.Command {
	f := &flags{}
	root := &cobra.Command{
		Use:           "lighthouse-gen",
		Short:         "Compile a CUE service spec into container and Kubernetes artifacts",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&f.spec, "spec", "", "spec folder (one CUE package); default: the embedded bridge spec")
	pf.StringVar(&f.out, "out", "deploy", "output folder of the artifacts")
	pf.StringVar(&f.context, "context", "", "Docker build context, a folder holding --out; default: the Go module root holding --out")
	pf.Bool("verbose", false, "with a spec error, also print the positions in the embedded schema")
	pf.StringArrayVarP(&f.tags, "tag", "t", nil, "CUE tag key=value, as cue -t (for example runtime_base=..., dockerfile_mode=prebuilt)")
	root.AddCommand(newBuildCmd(f), newVetCmd(f), newDiffCmd(f), newAuditCmd(f), newExplainCmd(f), newVerifyCmd(f), newInitCmd(), version.NewCommand("lighthouse-gen"))
	return root
}
