package packaging

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/packaging/installer"
)

// manifestFiles are every Kubernetes manifest the package ships.
var manifestFiles = []string{
	"kubernetes/runtimeclass.yaml",
	"kubernetes/installer/rbac.yaml",
	"kubernetes/installer/daemonset.yaml",
	"kubernetes/installer/uninstall-daemonset.yaml",
	"examples/deployment.yaml",
	"examples/service.yaml",
	"examples/hpa.yaml",
	"examples/networkpolicy.yaml",
}

// apiTypes maps apiVersion/kind to the real API type a document must
// decode into; anything else is a typo or an API that does not exist.
var apiTypes = map[string]func() any{
	"v1/Namespace":                                    func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                               func() any { return &corev1.ServiceAccount{} },
	"v1/Service":                                      func() any { return &corev1.Service{} },
	"apps/v1/DaemonSet":                               func() any { return &appsv1.DaemonSet{} },
	"apps/v1/Deployment":                              func() any { return &appsv1.Deployment{} },
	"node.k8s.io/v1/RuntimeClass":                     func() any { return &nodev1.RuntimeClass{} },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
	"autoscaling/v2/HorizontalPodAutoscaler":          func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":              func() any { return &networkingv1.NetworkPolicy{} },
}

// object is one decoded manifest document.
type object struct {
	file string
	obj  any
}

// decodeManifests strictly decodes every document of files: unknown or
// duplicated fields fail, as does a kind the API does not have.
func decodeManifests(files ...string) ([]object, error) {
	var out []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				return nil, fmt.Errorf("%s document %d: %w", f, i, err)
			}
			if tm.APIVersion == "" && tm.Kind == "" {
				if strings.TrimSpace(stripComments(string(doc))) != "" {
					return nil, fmt.Errorf("%s document %d has no apiVersion/kind", f, i)
				}
				continue
			}
			newObj, ok := apiTypes[tm.APIVersion+"/"+tm.Kind]
			if !ok {
				return nil, fmt.Errorf("%s document %d: unknown type %s %s", f, i, tm.APIVersion, tm.Kind)
			}
			obj := newObj()
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				return nil, fmt.Errorf("%s document %d (%s): %w", f, i, tm.Kind, err)
			}
			out = append(out, object{file: f, obj: obj})
		}
	}
	return out, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func mustDecode(t *testing.T, files ...string) []object {
	t.Helper()
	objs, err := decodeManifests(files...)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// only returns the objects of type T.
func only[T any](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	objs := mustDecode(t, manifestFiles...)
	if len(objs) != 11 {
		t.Fatalf("decoded %d objects, want 11", len(objs))
	}
	for _, o := range objs {
		meta := objectMeta(o.obj)
		where := fmt.Sprintf("%s %T %s", o.file, o.obj, meta.Name)
		for _, msg := range validation.IsDNS1123Subdomain(meta.Name) {
			t.Errorf("%s: name: %s", where, msg)
		}
		if meta.Namespace != "" {
			for _, msg := range validation.IsDNS1123Label(meta.Namespace) {
				t.Errorf("%s: namespace: %s", where, msg)
			}
		}
		checkLabels(t, where, meta.Labels)
	}
}

// TestDecodingCatchesMistakes shows the strict decoding is not a formality.
func TestDecodingCatchesMistakes(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: x}\nhandlr: wasmedge\n",
		"unknown kind":  "apiVersion: node.k8s.io/v1\nkind: RuntimeKlass\nmetadata: {name: x}\n",
		"wrong type":    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n",
		"duplicate key": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: ClusterIP, type: NodePort}\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		os.WriteFile(p, []byte(doc), 0o644)
		if _, err := decodeManifests(p); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func objectMeta(obj any) metav1.ObjectMeta {
	switch o := obj.(type) {
	case *corev1.Namespace:
		return o.ObjectMeta
	case *corev1.ServiceAccount:
		return o.ObjectMeta
	case *corev1.Service:
		return o.ObjectMeta
	case *appsv1.DaemonSet:
		return o.ObjectMeta
	case *appsv1.Deployment:
		return o.ObjectMeta
	case *nodev1.RuntimeClass:
		return o.ObjectMeta
	case *rbacv1.ClusterRole:
		return o.ObjectMeta
	case *rbacv1.ClusterRoleBinding:
		return o.ObjectMeta
	case *autoscalingv2.HorizontalPodAutoscaler:
		return o.ObjectMeta
	case *networkingv1.NetworkPolicy:
		return o.ObjectMeta
	}
	panic(fmt.Sprintf("no metadata accessor for %T", obj))
}

func checkLabels(t *testing.T, where string, set map[string]string) {
	t.Helper()
	for k, v := range set {
		for _, msg := range validation.IsQualifiedName(k) {
			t.Errorf("%s: label key %q: %s", where, k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			t.Errorf("%s: label %q value %q: %s", where, k, v, msg)
		}
	}
}

// checkPodTemplate applies the API server's rules a typo would break:
// selector matches the template, names are DNS labels, mounts name volumes,
// probe ports name container ports.
func checkPodTemplate(t *testing.T, where string, selector *metav1.LabelSelector, tmpl corev1.PodTemplateSpec) {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil || sel.Empty() {
		t.Fatalf("%s: selector %v: %v", where, selector, err)
	}
	if !sel.Matches(labels.Set(tmpl.Labels)) {
		t.Errorf("%s: selector %s does not match template labels %v", where, sel, tmpl.Labels)
	}
	checkLabels(t, where+" template", tmpl.Labels)
	checkLabels(t, where+" nodeSelector", tmpl.Spec.NodeSelector)
	volumes := map[string]bool{}
	for _, v := range tmpl.Spec.Volumes {
		volumes[v.Name] = true
	}
	if len(tmpl.Spec.Containers) == 0 {
		t.Fatalf("%s: no containers", where)
	}
	for _, c := range tmpl.Spec.Containers {
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			t.Errorf("%s container %q: %s", where, c.Name, msg)
		}
		if c.Image == "" {
			t.Errorf("%s container %q: no image", where, c.Name)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s container %q: memory request and limit are required", where, c.Name)
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("%s container %q mounts unknown volume %q", where, c.Name, m.Name)
			}
		}
		ports := map[string]bool{}
		for _, p := range c.Ports {
			ports[p.Name] = true
			if p.ContainerPort < 1 || p.ContainerPort > 65535 {
				t.Errorf("%s container %q: port %d", where, c.Name, p.ContainerPort)
			}
		}
		for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
			if probe != nil && probe.TCPSocket != nil && probe.TCPSocket.Port.StrVal != "" && !ports[probe.TCPSocket.Port.StrVal] {
				t.Errorf("%s container %q: probe names unknown port %q", where, c.Name, probe.TCPSocket.Port.StrVal)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath != "spec.nodeName" && !strings.HasPrefix(e.ValueFrom.FieldRef.FieldPath, "metadata.") {
				t.Errorf("%s container %q: env %s from unsupported field %q", where, c.Name, e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		}
	}
}

func TestRuntimeClassMatchesInstaller(t *testing.T) {
	rcs := only[*nodev1.RuntimeClass](mustDecode(t, "kubernetes/runtimeclass.yaml"))
	if len(rcs) != 1 {
		t.Fatalf("%d RuntimeClasses", len(rcs))
	}
	rc := rcs[0]
	for _, msg := range validation.IsDNS1123Label(rc.Handler) {
		t.Errorf("handler %q: %s", rc.Handler, msg)
	}
	if rc.Handler != installer.DefaultRuntimeName {
		t.Errorf("handler %q, but the installer registers %q", rc.Handler, installer.DefaultRuntimeName)
	}
	if rc.Scheduling == nil || rc.Scheduling.NodeSelector[installer.LabelKey] != installer.LabelValue {
		t.Errorf("scheduling %+v does not select the label the installer sets (%s=%s)", rc.Scheduling, installer.LabelKey, installer.LabelValue)
	}
	if rc.Overhead == nil || rc.Overhead.PodFixed.Memory().IsZero() {
		t.Errorf("no pod overhead for the shim process")
	}
}

func TestInstallerDaemonSets(t *testing.T) {
	objs := mustDecode(t, "kubernetes/installer/rbac.yaml", "kubernetes/installer/daemonset.yaml", "kubernetes/installer/uninstall-daemonset.yaml")
	accounts := map[string]bool{}
	for _, sa := range only[*corev1.ServiceAccount](objs) {
		accounts[sa.Namespace+"/"+sa.Name] = true
	}
	namespaces := map[string]bool{}
	for _, ns := range only[*corev1.Namespace](objs) {
		namespaces[ns.Name] = true
	}
	roles := map[string]*rbacv1.ClusterRole{}
	for _, r := range only[*rbacv1.ClusterRole](objs) {
		roles[r.Name] = r
	}
	bound := map[string]bool{}
	for _, b := range only[*rbacv1.ClusterRoleBinding](objs) {
		role, ok := roles[b.RoleRef.Name]
		if !ok || b.RoleRef.Kind != "ClusterRole" || b.RoleRef.APIGroup != rbacv1.GroupName {
			t.Fatalf("binding %s refers to missing role %+v", b.Name, b.RoleRef)
		}
		if !allows(role, "nodes", "patch") || !allows(role, "nodes", "get") {
			t.Errorf("role %s cannot get and patch nodes (needed for the label)", role.Name)
		}
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.ServiceAccountKind {
				bound[s.Namespace+"/"+s.Name] = true
			}
		}
	}
	entrypoint := dockerfileEntrypoint(t)
	modes := map[string]bool{}
	for _, ds := range only[*appsv1.DaemonSet](objs) {
		where := "DaemonSet " + ds.Name
		checkPodTemplate(t, where, ds.Spec.Selector, ds.Spec.Template)
		spec := ds.Spec.Template.Spec
		key := ds.Namespace + "/" + spec.ServiceAccountName
		if !namespaces[ds.Namespace] || !accounts[key] || !bound[key] {
			t.Errorf("%s: service account %s is not defined and bound in rbac.yaml", where, key)
		}
		c := spec.Containers[0]
		if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
			t.Errorf("%s: must be privileged to edit the host", where)
		}
		if len(c.Args) == 0 {
			t.Fatalf("%s: no args", where)
		}
		modes[c.Args[0]] = true
		if !slices.Contains(c.Args, "-wait") {
			t.Errorf("%s: without -wait the pod exits and the DaemonSet restarts it forever", where)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.Exec == nil || c.ReadinessProbe.Exec.Command[0] != entrypoint {
			t.Errorf("%s: readiness probe must run %s probe", where, entrypoint)
		}
		var hostRoot bool
		for _, v := range spec.Volumes {
			if v.HostPath != nil && v.HostPath.Path == "/" {
				for _, m := range c.VolumeMounts {
					hostRoot = hostRoot || (m.Name == v.Name && m.MountPath == "/host" && !m.ReadOnly)
				}
			}
		}
		if !hostRoot {
			t.Errorf("%s: the host's / must be mounted writable at /host (-host-root's default)", where)
		}
		nodeName := false
		for _, e := range c.Env {
			nodeName = nodeName || (e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName")
		}
		if !nodeName {
			t.Errorf("%s: NODE_NAME must come from spec.nodeName (the node to label)", where)
		}
	}
	if !modes["install"] || !modes["uninstall"] {
		t.Errorf("want an install and an uninstall DaemonSet, have %v", modes)
	}
}

func allows(role *rbacv1.ClusterRole, resource, verb string) bool {
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func TestExamplesReferToEachOther(t *testing.T) {
	objs := mustDecode(t, "kubernetes/runtimeclass.yaml", "examples/deployment.yaml", "examples/service.yaml", "examples/hpa.yaml", "examples/networkpolicy.yaml")
	rc := only[*nodev1.RuntimeClass](objs)[0]
	deploy := only[*appsv1.Deployment](objs)[0]
	svc := only[*corev1.Service](objs)[0]
	hpa := only[*autoscalingv2.HorizontalPodAutoscaler](objs)[0]
	np := only[*networkingv1.NetworkPolicy](objs)[0]

	checkPodTemplate(t, "Deployment "+deploy.Name, deploy.Spec.Selector, deploy.Spec.Template)
	pod := deploy.Spec.Template
	if pod.Spec.RuntimeClassName == nil || *pod.Spec.RuntimeClassName != rc.Name {
		t.Errorf("Deployment runtimeClassName %q, want %q", ptr.Deref(pod.Spec.RuntimeClassName, ""), rc.Name)
	}
	podLabels := labels.Set(pod.Labels)
	containerPorts := map[string]int32{}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			containerPorts[p.Name] = p.ContainerPort
		}
	}

	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, pod.Labels)
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.StrVal != "" {
			if _, ok := containerPorts[p.TargetPort.StrVal]; !ok {
				t.Errorf("Service targetPort %q is no container port", p.TargetPort.StrVal)
			}
		}
	}

	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != deploy.Name {
		t.Errorf("HPA targets %+v, not the Deployment", ref)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 1 || *hpa.Spec.MinReplicas > hpa.Spec.MaxReplicas {
		t.Errorf("HPA replicas %v..%d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	for _, m := range hpa.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
			for _, c := range pod.Spec.Containers {
				if _, ok := c.Resources.Requests[m.Resource.Name]; !ok {
					t.Errorf("HPA scales on %s utilization, but container %q requests no %s", m.Resource.Name, c.Name, m.Resource.Name)
				}
			}
		}
	}

	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || sel.Empty() || !sel.Matches(podLabels) {
		t.Errorf("NetworkPolicy selects %v, not the pods", np.Spec.PodSelector)
	}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			found := false
			for _, cp := range containerPorts {
				found = found || p.Port.IntValue() == int(cp)
			}
			if !found {
				t.Errorf("NetworkPolicy admits port %s, which no container listens on", p.Port.String())
			}
		}
	}
}
