package main

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/kubernetes/pkg/controller"
	"k8s.io/kubernetes/pkg/controller/history"
)

// derivedObject is an object a controller creates from a manifest's object.
type derivedObject struct {
	obj  runtime.Object
	gvk  schema.GroupVersionKind
	name string
}

// longestHash is the longest hash a controller puts in a name: the
// StatefulSet controller's revision hash and the Deployment controller's
// pod-template-hash both encode a uint32 in decimal with
// rand.SafeEncodeString, up to 10 characters.
var longestHash = rand.SafeEncodeString(strconv.FormatUint(1<<32-1, 10))

// derive returns what the controllers create from obj, a defaulted external
// object, with the longest names they can give them: for a StatefulSet, its
// ControllerRevision, its first and last pods (with the revision label, the
// pod-name and pod-index labels, hostname and subdomain, and a volume per
// claim template) and their claims; for a Deployment, its ReplicaSet and a
// pod of it. Other kinds derive nothing.
func derive(obj runtime.Object) []derivedObject {
	// The API server gives every object it creates a UID, which the
	// controllers' owner references carry.
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		o = o.DeepCopy()
		o.UID = storedUID
		return deriveStatefulSet(o)
	case *appsv1.Deployment:
		o = o.DeepCopy()
		o.UID = storedUID
		return deriveDeployment(o)
	}
	return nil
}

// storedUID stands for the UID the API server gives a created object.
const storedUID = types.UID("00000000-0000-4000-8000-000000000000")

func deriveStatefulSet(set *appsv1.StatefulSet) []derivedObject {
	gvk := appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	ref := metav1.NewControllerRef(set, gvk)
	// The controller's own revision: its data is a patch of the template,
	// its name the set's with the hash of that data.
	rev, err := history.NewControllerRevision(set, gvk, set.Spec.Template.Labels, runtime.RawExtension{Raw: []byte(`{"spec":{"template":{}}}`)}, 1, nil)
	if err != nil {
		return nil
	}
	rev.Name = history.ControllerRevisionName(set.Name, longestHash)
	rev.Namespace = set.Namespace
	out := []derivedObject{{rev, appsv1.SchemeGroupVersion.WithKind("ControllerRevision"), rev.Name}}

	start, replicas := 0, 1
	if set.Spec.Ordinals != nil {
		start = int(set.Spec.Ordinals.Start)
	}
	if set.Spec.Replicas != nil {
		replicas = int(*set.Spec.Replicas)
	}
	ordinals := []int{start}
	if replicas > 1 {
		ordinals = append(ordinals, start+replicas-1)
	}
	for _, ordinal := range ordinals {
		pod, err := controller.GetPodFromTemplate(&set.Spec.Template, set, ref)
		if err != nil {
			continue
		}
		// As the controller's newStatefulSetPod, initIdentity and
		// updateStorage do.
		pod.Name = fmt.Sprintf("%s-%d", set.Name, ordinal)
		pod.GenerateName = ""
		pod.Namespace = set.Namespace
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
		pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinal)
		pod.Labels[appsv1.StatefulSetRevisionLabel] = rev.Name
		pod.Spec.Hostname = pod.Name
		pod.Spec.Subdomain = set.Spec.ServiceName
		for _, tmpl := range set.Spec.VolumeClaimTemplates {
			claim := tmpl.DeepCopy()
			claim.Name = fmt.Sprintf("%s-%s-%d", tmpl.Name, set.Name, ordinal)
			claim.Namespace = set.Namespace
			if claim.Labels == nil {
				claim.Labels = map[string]string{}
			}
			for k, v := range set.Spec.Selector.MatchLabels {
				claim.Labels[k] = v
			}
			claim.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"}
			out = append(out, derivedObject{claim, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), claim.Name})
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: tmpl.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name},
			}})
		}
		out = append(out, derivedObject{pod, corev1.SchemeGroupVersion.WithKind("Pod"), pod.Name})
	}
	return out
}

func deriveDeployment(d *appsv1.Deployment) []derivedObject {
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	// As the deployment controller's getNewReplicaSet: the template and
	// selector gain pod-template-hash, the name is the Deployment's with it.
	tmpl := d.Spec.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = longestHash
	sel := d.Spec.Selector.DeepCopy()
	if sel == nil {
		sel = &metav1.LabelSelector{}
	}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = longestHash
	rs := &appsv1.ReplicaSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + longestHash,
			Namespace:       d.Namespace,
			Labels:          tmpl.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, gvk)},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: d.Spec.Replicas, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: *tmpl},
	}
	out := []derivedObject{{rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), rs.Name}}
	rs = rs.DeepCopy()
	rs.UID = storedUID
	// The ReplicaSet's pods are named by the API server from a
	// generateName (BeforeCreate fills it in).
	pod, err := controller.GetPodFromTemplate(&rs.Spec.Template, rs, metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet")))
	if err == nil {
		pod.Namespace = d.Namespace
		out = append(out, derivedObject{pod, corev1.SchemeGroupVersion.WithKind("Pod"), pod.GenerateName})
	}
	return out
}
