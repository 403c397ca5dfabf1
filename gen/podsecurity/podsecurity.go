package podsecurity

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// PolicyVersion is the Pod Security Standards version the pod is evaluated
// at: the Kubernetes minor release of the k8s.io/pod-security-admission module
// in go.mod (a test holds the two together). A namespace that names this
// version in pod-security.kubernetes.io/enforce-version keeps the verdict
// true on later clusters, whose "latest" may add checks.
const PolicyVersion = "v1.37"

// The levels, strictest first, as the library spells them.
const (
	Restricted = api.LevelRestricted
	Baseline   = api.LevelBaseline
	Privileged = api.LevelPrivileged
)

// Evaluator holds the library's checks, built once by New and safe for
// concurrent use (the library's registry is read-only after construction).
type Evaluator struct {
	eval    policy.Evaluator
	version api.Version
}

// New builds the library's default checks into its evaluator.
func New() (*Evaluator, error) {
	v, err := api.ParseVersion(PolicyVersion)
	if err != nil {
		return nil, fmt.Errorf("podsecurity: policy version %q: %w", PolicyVersion, err)
	}
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("podsecurity: building the policy checks: %w", err)
	}
	return &Evaluator{eval: eval, version: v}, nil
}

// Refusal is one level that refuses the pod, with the library's reasons.
type Refusal struct {
	Level api.Level
	policy.AggregateCheckResult
}

// Result is the strictest level that admits a pod, and for each stricter
// level the reasons it refuses the pod.
type Result struct {
	// Level is the strictest level whose checks all allow the pod.
	Level api.Level
	// Version is the policy version evaluated (PolicyVersion).
	Version api.Version
	// Refusals holds the levels stricter than Level, next-stricter first
	// (for a privileged pod: baseline, then restricted, whose reasons
	// include baseline's). Empty for a restricted pod.
	Refusals []Refusal
}

// ErrNoPod is returned for an object that holds no pod to evaluate.
var ErrNoPod = errors.New("podsecurity: no pod spec")

// Pod evaluates a pod's metadata and spec at every level. A nil meta is
// evaluated as empty metadata; a nil spec is an error.
func (e *Evaluator) Pod(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, error) {
	if e == nil || e.eval == nil {
		return Result{}, errors.New("podsecurity: an Evaluator is made by New")
	}
	if spec == nil {
		return Result{}, ErrNoPod
	}
	if meta == nil {
		meta = &metav1.ObjectMeta{}
	}
	baseline := e.check(api.LevelBaseline, meta, spec)
	restricted := e.check(api.LevelRestricted, meta, spec)
	r := Result{Level: api.LevelRestricted, Version: e.version}
	switch {
	case !baseline.Allowed:
		// The restricted checks include the baseline ones, so a pod that
		// baseline refuses is refused by restricted too; should a future
		// library break that, the answer stays on the safe side.
		r.Level = api.LevelPrivileged
		r.Refusals = []Refusal{baseline, restricted}
		if restricted.Allowed {
			r.Refusals = r.Refusals[:1]
		}
	case !restricted.Allowed:
		r.Level = api.LevelBaseline
		r.Refusals = []Refusal{restricted}
	}
	return r, nil
}

func (e *Evaluator) check(level api.Level, meta *metav1.ObjectMeta, spec *corev1.PodSpec) Refusal {
	lv := api.LevelVersion{Level: level, Version: e.version}
	return Refusal{Level: level, AggregateCheckResult: policy.AggregateCheckResults(e.eval.EvaluatePod(lv, meta, spec))}
}

// Object evaluates the pod an object creates: a Pod itself, or the pod
// template of a workload, as the admission plugin extracts it. Kinds without a
// pod template, and nil objects, are refused.
func (e *Evaluator) Object(obj runtime.Object) (Result, error) {
	meta, spec, err := podOf(obj)
	if err != nil {
		return Result{}, err
	}
	return e.Pod(meta, spec)
}

// podOf returns the pod metadata and spec an object carries. It covers the
// kinds k8s.io/api/apps/v1 and core/v1 define with a pod template (the batch
// kinds are left out: this generator emits none, and linking them would
// grow the binary for nothing).
func podOf(obj runtime.Object) (*metav1.ObjectMeta, *corev1.PodSpec, error) {
	if v := reflect.ValueOf(obj); obj == nil || v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, nil, ErrNoPod
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.ObjectMeta, &o.Spec, nil
	case *corev1.PodTemplate:
		return &o.Template.ObjectMeta, &o.Template.Spec, nil
	case *corev1.ReplicationController:
		if o.Spec.Template == nil {
			return nil, nil, fmt.Errorf("%w: ReplicationController %q has no template", ErrNoPod, o.Name)
		}
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, nil
	case *appsv1.StatefulSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, nil
	case *appsv1.Deployment:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, nil
	case *appsv1.DaemonSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, nil
	case *appsv1.ReplicaSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, nil
	}
	return nil, nil, fmt.Errorf("%w in a %T", ErrNoPod, obj)
}

// Reasons is the library's text for why a level refuses the pod ("reason
// (detail), reason (detail)"), on one line: characters that are not
// printable, line breaks included, are escaped as Go escapes them, since
// details quote names taken from the pod.
func (r Refusal) Reasons() string {
	return oneLine(r.ForbiddenDetail())
}

// String is the human line: "Pod Security: restricted", or the level the pod
// needs and why the next stricter level refuses it, for example
// "Pod Security: privileged — non-default capabilities (container "x" must
// not include "SYS_ADMIN" in securityContext.capabilities.add)".
func (r Result) String() string {
	if len(r.Refusals) == 0 {
		return "Pod Security: " + string(r.Level)
	}
	return "Pod Security: " + string(r.Level) + " — " + r.Refusals[0].Reasons()
}

// Labels are the namespace labels that enforce the pod's level at the
// evaluated version, for a Namespace manifest.
func (r Result) Labels() map[string]string {
	return map[string]string{
		api.EnforceLevelLabel:   string(r.Level),
		api.EnforceVersionLabel: r.Version.String(),
	}
}

// oneLine escapes every rune that would break or hide in a one-line message.
func oneLine(s string) string {
	var b strings.Builder
	for _, c := range s {
		if unicode.IsPrint(c) {
			b.WriteRune(c)
			continue
		}
		q := strconv.QuoteRune(c) // e.g. '\n' or '\u2028'
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}
