package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	dto "github.com/prometheus/client_model/go"
)

// monitoringDir holds the Prometheus and Grafana files shipped for
// operators; these tests keep them in step with what the code exports.
const monitoringDir = "../packaging/monitoring"

// scrapeJob is the job name both scrape setups give the exporter.
const scrapeJob = "wasmedge-shim"

// targetLabels are the labels Prometheus adds to every scraped series in
// the shipped scrape setups.
var targetLabels = []string{"job", "instance", "node"}

// ruleFile is a Prometheus rule file, as much of it as the tests check.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// scrapeFile is a Prometheus configuration holding scrape jobs.
type scrapeFile struct {
	ScrapeConfigs []struct {
		JobName             string `json:"job_name"`
		ScrapeInterval      string `json:"scrape_interval"`
		ScrapeTimeout       string `json:"scrape_timeout"`
		MetricsPath         string `json:"metrics_path"`
		HonorLabels         bool   `json:"honor_labels"`
		KubernetesSDConfigs []struct {
			Role string `json:"role"`
		} `json:"kubernetes_sd_configs"`
		RelabelConfigs []struct {
			SourceLabels []string `json:"source_labels"`
			Regex        string   `json:"regex"`
			Action       string   `json:"action"`
			TargetLabel  string   `json:"target_label"`
			Replacement  string   `json:"replacement"`
		} `json:"relabel_configs"`
	} `json:"scrape_configs"`
}

// serviceMonitor is the monitoring.coreos.com/v1 ServiceMonitor fields the
// shipped one uses; strict decoding rejects anything else.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
			HonorLabels   bool   `json:"honorLabels"`
			Relabelings   []struct {
				SourceLabels []string `json:"sourceLabels"`
				TargetLabel  string   `json:"targetLabel"`
			} `json:"relabelings"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// exportedLabels returns every series name the shim and the exporter can
// export, histograms expanded to _bucket/_sum/_count, with the label names
// each carries once scraped.
func exportedLabels(t *testing.T) map[string][]string {
	t.Helper()
	r := NewRegistry()
	r.AddInstance(InstanceInfo{Namespace: "k8s.io", ContainerID: "c1", PodName: "p", PodNamespace: "n", ContainerName: "c", Module: "/m.wasm"}, os.Getpid())
	r.SetInstanceMemory("k8s.io", "c1", "", 1, 1)
	r.SetCgroupReader(func(string, string) (uint64, uint64, bool) { return 1, 2, true })
	fams := gather(t, r.Gatherer())
	fams = append(fams, gather(t, NewExporter(t.TempDir(), 0).own)...)

	out := map[string][]string{}
	for _, f := range fams {
		labels := slices.Clone(targetLabels)
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		if f.GetType() == dto.MetricType_HISTOGRAM {
			out[f.GetName()+"_bucket"] = append(slices.Clone(labels), "le")
			out[f.GetName()+"_sum"] = labels
			out[f.GetName()+"_count"] = labels
			continue
		}
		out[f.GetName()] = labels
	}
	out["up"] = targetLabels
	return out
}

var (
	// metricRef finds series names the project defines.
	metricRef = regexp.MustCompile(`\b(wasmedge_[a-zA-Z0-9_]+|up)\b\s*(\{[^}]*\})?`)
	matcher   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	grouping  = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	// templateLabel finds $labels.NAME in alert templates.
	templateLabel = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// checkExpr reports names and labels in a PromQL expression that nothing
// exports, and returns the labels the expression's series can carry.
func checkExpr(exported map[string][]string, expr string) (labels []string, problems []string) {
	refs := metricRef.FindAllStringSubmatch(expr, -1)
	if len(refs) == 0 {
		problems = append(problems, "references no metric of this project")
	}
	for _, ref := range refs {
		name, selector := ref[1], ref[2]
		have, ok := exported[name]
		if !ok {
			problems = append(problems, "unknown metric "+name)
			continue
		}
		for _, l := range have {
			if !slices.Contains(labels, l) {
				labels = append(labels, l)
			}
		}
		for _, m := range matcher.FindAllStringSubmatch(selector, -1) {
			if !slices.Contains(have, m[1]) {
				problems = append(problems, fmt.Sprintf("%s has no label %s", name, m[1]))
			}
		}
	}
	for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !slices.Contains(labels, l) {
				problems = append(problems, "grouping by unknown label "+l)
			}
		}
	}
	return labels, problems
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(monitoringDir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(data, &rf); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	return rf
}

func TestAlertRules(t *testing.T) {
	exported := exportedLabels(t)
	rf := readRules(t)
	var names []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("group %s: a rule without alert name or expression", g.Name)
				continue
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a severity label, a summary and a description", r.Alert)
			}
			labels, problems := checkExpr(exported, r.Expr)
			for _, p := range problems {
				t.Errorf("%s: %s", r.Alert, p)
			}
			for _, text := range r.Annotations {
				for _, m := range templateLabel.FindAllStringSubmatch(text, -1) {
					if !slices.Contains(labels, m[1]) {
						t.Errorf("%s: annotation uses $labels.%s, which its series lack", r.Alert, m[1])
					}
				}
			}
			if strings.Contains(r.Expr, "up{") && !strings.Contains(r.Expr, `job="`+scrapeJob+`"`) {
				t.Errorf("%s: up must be narrowed to job %s", r.Alert, scrapeJob)
			}
		}
	}
	// What operators asked to be alerted on.
	for _, want := range []string{
		"WasmEdgeStartLatencyHigh", "WasmEdgeInstanceOOMKilled", "WasmEdgeInstancesCrashLooping",
		"WasmEdgeCompileCacheMissRateHigh", "WasmEdgeShimExporterDown",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("alerts.yaml lacks %s", want)
		}
	}
}

func TestScrapeConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(monitoringDir, "prometheus-scrape.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var sf scrapeFile
	if err := yaml.UnmarshalStrict(data, &sf); err != nil {
		t.Fatalf("prometheus-scrape.yaml: %v", err)
	}
	if len(sf.ScrapeConfigs) != 1 {
		t.Fatalf("%d scrape jobs, want 1", len(sf.ScrapeConfigs))
	}
	job := sf.ScrapeConfigs[0]
	if job.JobName != scrapeJob || job.MetricsPath != "/metrics" || !job.HonorLabels {
		t.Errorf("job %q path %q honor_labels %v: want %s, /metrics, true (the exporter's pod labels must win)", job.JobName, job.MetricsPath, job.HonorLabels, scrapeJob)
	}
	if len(job.KubernetesSDConfigs) != 1 || job.KubernetesSDConfigs[0].Role != "node" {
		t.Errorf("service discovery %+v, want the node role", job.KubernetesSDConfigs)
	}
	_, port, _ := net.SplitHostPort(DefaultExporterListen)
	var address, node bool
	for _, rc := range job.RelabelConfigs {
		if rc.TargetLabel == "__address__" && strings.HasSuffix(rc.Replacement, ":"+port) {
			address = true
		}
		if rc.TargetLabel == "node" && slices.Equal(rc.SourceLabels, []string{"__meta_kubernetes_node_name"}) {
			node = true
		}
	}
	if !address || !node {
		t.Errorf("relabeling must point __address__ at port %s (%v) and set node (%v)", port, address, node)
	}
}

// decodeDocuments splits a multi-document YAML file.
func decodeDocuments(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
}

func TestServiceMonitorManifests(t *testing.T) {
	var (
		ds  *appsv1.DaemonSet
		svc *corev1.Service
		sm  *serviceMonitor
	)
	for i, doc := range decodeDocuments(t, filepath.Join(monitoringDir, "servicemonitor.yaml")) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch tm.APIVersion + "/" + tm.Kind {
		case "apps/v1/DaemonSet":
			ds = &appsv1.DaemonSet{}
			obj = ds
		case "v1/Service":
			svc = &corev1.Service{}
			obj = svc
		case "monitoring.coreos.com/v1/ServiceMonitor":
			sm = &serviceMonitor{}
			obj = sm
		default:
			t.Fatalf("document %d: unexpected %s %s", i, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("document %d (%s): %v", i, tm.Kind, err)
		}
	}
	if ds == nil || svc == nil || sm == nil {
		t.Fatalf("want a DaemonSet, a Service and a ServiceMonitor; got %v %v %v", ds != nil, svc != nil, sm != nil)
	}

	pod := ds.Spec.Template
	if !matchLabels(ds.Spec.Selector.MatchLabels, pod.Labels) || !matchLabels(svc.Spec.Selector, pod.Labels) {
		t.Error("the DaemonSet's and the Service's selectors must select the exporter pods")
	}
	if !matchLabels(sm.Spec.Selector.MatchLabels, svc.Labels) || !slices.Contains(sm.Spec.NamespaceSelector.MatchNames, svc.Namespace) {
		t.Error("the ServiceMonitor must select the Service")
	}
	// The Operator names the job after the Service: the rules expect it.
	if svc.Name != scrapeJob {
		t.Errorf("Service %s, want %s (the job name alerts.yaml uses)", svc.Name, scrapeJob)
	}
	_, port, _ := net.SplitHostPort(DefaultExporterListen)
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	args := strings.Join(c.Command, " ")
	if !strings.Contains(args, "containerd-shim-wasmedge-v1 metrics serve") || !strings.Contains(args, "--listen=:"+port) ||
		!strings.Contains(args, "--dir="+DefaultMetricsDir) {
		t.Errorf("exporter command %q", args)
	}
	if len(c.Ports) != 1 || fmt.Sprint(c.Ports[0].ContainerPort) != port || c.Ports[0].Name != "metrics" {
		t.Errorf("container ports %+v, want metrics on %s", c.Ports, port)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("service ports %+v", svc.Spec.Ports)
	}
	// The whole of the shim's run directory: the metrics directory, and
	// bin/, from which the binary runs the server it embeds.
	runDir := filepath.Dir(DefaultMetricsDir)
	var mounted bool
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil && v.HostPath.Path == runDir {
			for _, m := range c.VolumeMounts {
				mounted = mounted || (m.Name == v.Name && m.MountPath == runDir && !m.ReadOnly)
			}
		}
	}
	if !mounted {
		t.Errorf("the host's %s must be mounted read-write at the same path", runDir)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("liveness probe must hit /healthz")
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || !sm.Spec.Endpoints[0].HonorLabels {
		t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
	}
	var node bool
	for _, rl := range sm.Spec.Endpoints[0].Relabelings {
		node = node || rl.TargetLabel == "node"
	}
	if !node {
		t.Error("the ServiceMonitor must set the node label alerts.yaml groups by")
	}
}

func matchLabels(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(monitoringDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	return d
}

// dashboardExprs returns every PromQL expression of the dashboard, keyed by
// where it is.
func dashboardExprs(d dashboard) map[string]string {
	out := map[string]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out[fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID)] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			if s, ok := q["query"].(string); ok {
				out["variable "+v.Name] = s
			}
		}
	}
	return out
}

func TestGrafanaDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Error("dashboard needs a title and a uid")
	}
	ids := map[int]bool{}
	var graphs int
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %d %q has no size", p.ID, p.Title)
		}
		if p.Type != "row" {
			graphs++
			if len(p.Targets) == 0 {
				t.Errorf("panel %d %q queries nothing", p.ID, p.Title)
			}
		}
	}
	if graphs < 8 {
		t.Errorf("%d panels: not much of a dashboard", graphs)
	}
	exported := exportedLabels(t)
	used := map[string]bool{}
	for where, expr := range dashboardExprs(d) {
		if expr == "" {
			t.Errorf("%s: empty expression", where)
			continue
		}
		_, problems := checkExpr(exported, expr)
		for _, p := range problems {
			t.Errorf("%s: %s", where, p)
		}
		for _, ref := range metricRef.FindAllStringSubmatch(expr, -1) {
			used[strings.TrimSuffix(strings.TrimSuffix(ref[1], "_bucket"), "_count")] = true
		}
	}
	// The dashboard shows every shim-wide family.
	for _, name := range []string{startupSecondsName, compileCacheName, instanceExitsName, "wasmedge_shim_instances"} {
		if !used[name] {
			t.Errorf("dashboard does not show %s", name)
		}
	}
}

// The expression checker itself must catch what it is for.
func TestCheckExpr(t *testing.T) {
	exported := map[string][]string{"wasmedge_x_total": {"job", "result"}}
	tests := []struct {
		expr         string
		wantProblems int
	}{
		{`sum by (result) (rate(wasmedge_x_total{result="hit"}[5m]))`, 0},
		{`rate(wasmedge_y_total[5m])`, 1},
		{`rate(wasmedge_x_total{phase="a"}[5m])`, 1},
		{`sum by (pod) (rate(wasmedge_x_total[5m]))`, 1},
		{`vector(1)`, 1},
	}
	for _, tt := range tests {
		if _, problems := checkExpr(exported, tt.expr); len(problems) != tt.wantProblems {
			t.Errorf("%s: problems %v, want %d", tt.expr, problems, tt.wantProblems)
		}
	}
}

// promtool finds promtool, which CI must have (.ci/install-deps puts it in
// /opt/promtool); elsewhere its absence skips the test.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	const installed = "/opt/promtool/promtool"
	if _, err := os.Stat(installed); err == nil {
		return installed
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("promtool is neither on PATH nor at " + installed + "; .ci/install-deps installs it")
	}
	t.Skip("promtool not installed")
	return ""
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtool(t *testing.T) {
	rules := filepath.Join(monitoringDir, "alerts.yaml")
	t.Run("check rules", func(t *testing.T) { runPromtool(t, "check", "rules", rules) })
	t.Run("test rules", func(t *testing.T) { runPromtool(t, "test", "rules", filepath.Join(monitoringDir, "alerts_test.yaml")) })
	t.Run("check config", func(t *testing.T) {
		runPromtool(t, "check", "config", "--syntax-only", filepath.Join(monitoringDir, "prometheus-scrape.yaml"))
	})
	// The dashboard's queries, with Grafana's variables filled in, as
	// recording rules: promtool then parses every one of them.
	t.Run("dashboard queries", func(t *testing.T) {
		grafanaVar := regexp.MustCompile(`\$\{?([a-zA-Z_]+)\}?`)
		var b strings.Builder
		b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
		exprs := dashboardExprs(readDashboard(t))
		wheres := slices.Sorted(func(yield func(string) bool) {
			for k := range exprs {
				if !yield(k) {
					return
				}
			}
		})
		for i, where := range wheres {
			expr := exprs[where]
			if strings.HasPrefix(expr, "label_values(") {
				// A Grafana function: check the selector inside it.
				expr = strings.TrimSuffix(strings.SplitN(strings.TrimPrefix(expr, "label_values("), ",", 2)[0], ")")
			}
			expr = grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
				if strings.Contains(v, "interval") {
					return "5m"
				}
				return ".*"
			})
			quoted, _ := json.Marshal(expr)
			fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", i, quoted)
		}
		path := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		runPromtool(t, "check", "rules", path)
	})
}
