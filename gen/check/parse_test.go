package check

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestParseKubernetesKinds holds apiVersion and kind, read from the
// positions' YAML node rather than a separate decode, to what a strict
// decode needs: quoted values select the type too, an unknown kind and a
// document that is not a mapping are errors at the document's line.
func TestParseKubernetesKinds(t *testing.T) {
	k, err := ParseKubernetes("k.yaml", []byte("# head\n---\n\"apiVersion\": 'v1'\nkind: \"ConfigMap\"\nmetadata: {name: c}\ndata: {A: \"1\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Docs) != 1 || k.Docs[0].Start != 3 || k.Docs[0].Name != "c" {
		t.Fatalf("docs %+v", k.Docs)
	}
	if cm, ok := k.Docs[0].Object.(*corev1.ConfigMap); !ok || cm.Data["A"] != "1" {
		t.Errorf("object %#v", k.Docs[0].Object)
	}
	for _, tc := range []struct{ doc, want string }{
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", `k.yaml:3: unsupported apiVersion/kind "v1/Pod"`},
		{"kind: ConfigMap\n", `k.yaml:3: unsupported apiVersion/kind "/ConfigMap"`},
		{"- apiVersion: v1\n  kind: ConfigMap\n", "k.yaml:3: a Kubernetes document is a mapping with apiVersion and kind"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nbogus: 1\n", `k.yaml:6: ConfigMap`},
	} {
		_, err := ParseKubernetes("k.yaml", []byte("# head\n---\n"+tc.doc))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want prefix %q", tc.doc, err, tc.want)
		}
	}
}
