// Package deploy_test checks nsagent's deployment files against the real
// tools and types: the Kubernetes manifests decode strictly into the
// Kubernetes API types (and the ServiceMonitor into the Prometheus
// Operator's), the systemd unit passes systemd-analyze verify, the
// Prometheus configs pass promtool check config, the compose file passes
// docker-compose config, and the nsagent command line of each starts the
// real binary and answers the readiness probe.
package deploy_test

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifests decodes every document of deploy/kubernetes/*.yaml strictly
// (unknown fields and wrong types are errors) into its API type.
func manifests(t *testing.T) map[string]any {
	t.Helper()
	files, _ := filepath.Glob("kubernetes/*.yaml")
	out := map[string]any{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil || tm.Kind == "" {
				t.Fatalf("%s document %d: no kind: %v", f, i, err)
			}
			var obj any
			switch tm.Kind {
			case "Namespace":
				obj = &corev1.Namespace{}
			case "ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "Service":
				obj = &corev1.Service{}
			case "DaemonSet":
				obj = &appsv1.DaemonSet{}
			case "ClusterRole":
				obj = &rbacv1.ClusterRole{}
			case "ClusterRoleBinding":
				obj = &rbacv1.ClusterRoleBinding{}
			case "ServiceMonitor":
				obj = &monitoringv1.ServiceMonitor{}
			case "Kustomization":
				obj = &struct {
					metav1.TypeMeta `json:",inline"`
					Resources       []string `json:"resources"`
				}{}
			default:
				t.Fatalf("%s: kind %s has no type in this test", f, tm.Kind)
			}
			if err := strictDecode([]byte(doc), obj); err != nil {
				t.Fatalf("%s (%s): %v", f, tm.Kind, err)
			}
			out[tm.Kind+"/"+filepath.Base(f)] = obj
		}
	}
	return out
}

// strictDecode decodes YAML as the API server does: field names are case
// sensitive (encoding/json's are not), and unknown or duplicate fields are
// errors.
func strictDecode(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func TestKubernetesManifests(t *testing.T) {
	m := manifests(t)
	ds := m["DaemonSet/daemonset.yaml"].(*appsv1.DaemonSet)
	svc := m["Service/service.yaml"].(*corev1.Service)
	sm := m["ServiceMonitor/servicemonitor.yaml"].(*monitoringv1.ServiceMonitor)
	spec := ds.Spec.Template.Spec
	if !spec.HostPID {
		t.Error("DaemonSet: hostPID must be true")
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("DaemonSet: %d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	// Each host filesystem is a read-only hostPath mount passed with its flag.
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	for flag, host := range map[string]string{"--path.procfs": "/proc", "--path.sysfs": "/sys", "--path.cgroupfs": "/sys/fs/cgroup", "--path.rootfs": "/"} {
		var mountPath string
		for _, vm := range c.VolumeMounts {
			if hostPaths[vm.Name] == host {
				mountPath = vm.MountPath
				if !vm.ReadOnly {
					t.Errorf("host %s mounted writable", host)
				}
			}
		}
		if mountPath == "" || !slices.Contains(c.Args, flag+"="+mountPath) {
			t.Errorf("host %s: mounted at %q, args %v lack %s=%s", host, mountPath, c.Args, flag, mountPath)
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("resources %s: request %v limit %v", r, req.String(), lim.String())
		}
	}
	rp := c.ReadinessProbe
	if rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Path != "/healthz" {
		t.Fatal("DaemonSet: readiness probe must GET /healthz")
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == rp.HTTPGet.Port.String() }) {
		t.Errorf("readiness probe port %s is not a container port", rp.HTTPGet.Port.String())
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("DaemonSet: want read-only root and all capabilities dropped: %+v", sc)
	}
	// The Service selects the DaemonSet's pods; the ServiceMonitor the Service.
	for k, v := range svc.Spec.Selector {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the pods", k, v)
		}
	}
	if svc.Spec.Ports[0].TargetPort.String() != c.Ports[0].Name {
		t.Errorf("Service targetPort %s, container port %s", svc.Spec.Ports[0].TargetPort.String(), c.Ports[0].Name)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selector %s=%s does not match the Service", k, v)
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name {
		t.Errorf("ServiceMonitor endpoint port does not name the Service's port")
	}
	// The plain scrape job keeps exactly this Service's port.
	prom, _ := os.ReadFile("prometheus/kubernetes.yml")
	if !strings.Contains(string(prom), "regex: "+svc.Name+";"+svc.Spec.Ports[0].Name) {
		t.Errorf("prometheus/kubernetes.yml does not keep %s;%s", svc.Name, svc.Spec.Ports[0].Name)
	}
	// The real nsagent accepts the DaemonSet's arguments and answers the
	// probe, with the pod's IP on loopback and the host paths unmapped.
	args := slices.Clone(c.Args)
	for i, a := range args {
		for _, p := range []string{"procfs", "sysfs", "cgroupfs", "rootfs"} {
			if strings.HasPrefix(a, "--path."+p+"=") {
				args[i] = "--path." + p + "=" + map[string]string{"procfs": "/proc", "sysfs": "/sys", "cgroupfs": "/sys/fs/cgroup", "rootfs": "/"}[p]
			}
		}
	}
	serveAnswers(t, args, rp.HTTPGet.Path)
	// A typo is refused: the decode is strict.
	var d appsv1.DaemonSet
	if err := strictDecode([]byte("apiVersion: apps/v1\nkind: DaemonSet\nspec:\n  template:\n    spec:\n      hostPid: true\n"), &d); err == nil {
		t.Error("strict decode accepted hostPid")
	}
}

// serveAnswers starts nsagent with args, its listen address moved to a
// free loopback port, and waits for path to answer 200.
func serveAnswers(t *testing.T, args []string, path string) {
	t.Helper()
	testutil.RequireRoot(t)
	bin := testutil.NSAgentBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args = slices.Clone(args)
	for i, a := range args {
		if strings.HasPrefix(a, "--web.listen-address=") {
			args[i] = "--web.listen-address=" + addr
		}
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	testutil.Start(t, cmd)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nsagent %v: %s never answered: %v\n%s", args, path, err, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSystemdUnit runs systemd-analyze verify on the unit (which needs no
// running systemd) with the built binary at the unit's ExecStart path, in
// a private mount namespace so the host's /usr/local/bin is untouched.
// systemd-analyze exits 0 on unknown keys and bad values, so any output is
// a failure too.
func TestSystemdUnit(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "systemd-analyze")
	testutil.RequireCommand(t, "unshare")
	bin := testutil.NSAgentBinary(t)
	unit, err := filepath.Abs("systemd/nsagent.service")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(unit)
	verify := func(unitFile string) (string, error) {
		out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
			`mount -t tmpfs tmpfs /usr/local/bin && cp "$1" /usr/local/bin/nsagent && exec systemd-analyze verify "$2"`,
			"sh", bin, unitFile).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(unit); err != nil || out != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check bites: a misspelt key is reported.
	bad := filepath.Join(t.TempDir(), "nsagent.service")
	_ = os.WriteFile(bad, bytes.Replace(raw, []byte("ProtectSystem="), []byte("ProtectSystm="), 1), 0o644)
	if out, _ := verify(bad); !strings.Contains(out, "ProtectSystm") {
		t.Errorf("a misspelt key went unreported: %q", out)
	}
	// Ambient and bounding capabilities are the same three, and only them.
	var amb, bound string
	var execArgs []string
	cont := false
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "AmbientCapabilities="):
			amb = strings.TrimPrefix(line, "AmbientCapabilities=")
		case strings.HasPrefix(line, "CapabilityBoundingSet="):
			bound = strings.TrimPrefix(line, "CapabilityBoundingSet=")
		case strings.HasPrefix(line, "ExecStart=") || cont:
			f := strings.Fields(strings.TrimPrefix(line, "ExecStart="))
			cont = len(f) > 0 && f[len(f)-1] == `\`
			if cont {
				f = f[:len(f)-1]
			}
			execArgs = append(execArgs, f...)
		}
	}
	if amb != "CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_NET_ADMIN" || bound != amb {
		t.Errorf("capabilities: ambient %q, bounding %q", amb, bound)
	}
	if len(execArgs) < 2 || execArgs[0] != "/usr/local/bin/nsagent" {
		t.Fatalf("ExecStart: %v", execArgs)
	}
	serveAnswers(t, execArgs[1:], "/healthz")
}

// TestPrometheusConfigs runs promtool check config on each scrape config.
// Debian's promtool is built without Kubernetes service discovery, so
// kubernetes.yml is checked by a promtool that has it when one is given
// ($PROMTOOL_K8S), and otherwise with its kubernetes_sd_configs swapped
// for a static target (the rest of the job still checked for real).
func TestPrometheusConfigs(t *testing.T) {
	promtool := testutil.RequireCommand(t, "promtool")
	files, _ := filepath.Glob("prometheus/*.yml")
	if len(files) < 3 {
		t.Fatalf("prometheus configs: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			tool, file := promtool, f
			if strings.Contains(f, "kubernetes") {
				if k := os.Getenv("PROMTOOL_K8S"); k != "" {
					tool = k
				} else {
					raw, _ := os.ReadFile(f)
					swapped := regexp.MustCompile(`(?s)\n    kubernetes_sd_configs:.*?\n    relabel_configs:`).
						ReplaceAllString(string(raw), "\n    static_configs:\n      - targets: ['127.0.0.1:19100']\n    relabel_configs:")
					if swapped == string(raw) {
						t.Fatal("no kubernetes_sd_configs block to swap")
					}
					file = filepath.Join(t.TempDir(), "kubernetes.yml")
					_ = os.WriteFile(file, []byte(swapped), 0o644)
					t.Log("Debian's promtool has no kubernetes_sd_configs: checked with a static target in its place (set PROMTOOL_K8S for a full check)")
				}
			}
			out, err := exec.Command(tool, "check", "config", file).CombinedOutput()
			if err != nil {
				t.Errorf("promtool check config %s: %v\n%s", f, err, out)
			}
		})
	}
}

// TestCompose validates the compose file with docker-compose's schema and
// starts nsagent with the compose service's command line.
func TestCompose(t *testing.T) {
	dc := testutil.RequireCommand(t, "docker-compose")
	out, err := exec.Command(dc, "-f", "compose/compose.yaml", "config", "-q").CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	var doc struct {
		Services map[string]struct {
			Command []string `json:"command"`
		} `json:"services"`
	}
	raw, _ := os.ReadFile("compose/compose.yaml")
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"nsagent", "prometheus", "grafana"} {
		if _, ok := doc.Services[s]; !ok {
			t.Errorf("compose: no %s service", s)
		}
	}
	args := slices.Clone(doc.Services["nsagent"].Command)
	for i, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--path.") && strings.HasPrefix(v, "/host/") {
			args[i] = k + "=" + map[string]string{"/host/proc": "/proc", "/host/sys": "/sys", "/host/cgroup": "/sys/fs/cgroup", "/host/root": "/"}[v]
		}
	}
	serveAnswers(t, args, "/healthz")
}
