package containers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nsagent/nsagent/inventory"
)

func TestMatchCgroup(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name string
		path string
		want cgroupMatch
		ok   bool
	}{
		{"docker cgroupfs", "/docker/" + id, cgroupMatch{Runtime: RuntimeDocker, ID: id, Cgroup: "/docker/" + id}, true},
		{"docker systemd", "/system.slice/docker-" + id + ".scope", cgroupMatch{Runtime: RuntimeDocker, ID: id, Cgroup: "/system.slice/docker-" + id + ".scope"}, true},
		{"cri containerd systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod11111111_2222_3333_4444_555555555555.slice/cri-containerd-" + id + ".scope",
			cgroupMatch{Runtime: RuntimeContainerd, ID: id, PodUID: "11111111-2222-3333-4444-555555555555",
				Cgroup: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod11111111_2222_3333_4444_555555555555.slice/cri-containerd-" + id + ".scope"}, true},
		{"kubepods cgroupfs", "/kubepods/burstable/pod11111111-2222-3333-4444-555555555555/" + id,
			cgroupMatch{Runtime: RuntimeUnknown, ID: id, PodUID: "11111111-2222-3333-4444-555555555555", Cgroup: "/kubepods/burstable/pod11111111-2222-3333-4444-555555555555/" + id}, true},
		{"crio", "/kubepods.slice/crio-" + id + ".scope", cgroupMatch{Runtime: RuntimeCRIO, ID: id, Cgroup: "/kubepods.slice/crio-" + id + ".scope"}, true},
		{"crio conmon", "/kubepods.slice/crio-conmon-" + id + ".scope", cgroupMatch{Runtime: RuntimeCRIO, ID: id, Conmon: true, Cgroup: "/kubepods.slice/crio-conmon-" + id + ".scope"}, true},
		{"podman sub-cgroup", "/machine.slice/libpod-" + id + ".scope/container", cgroupMatch{Runtime: RuntimePodman, ID: id, Cgroup: "/machine.slice/libpod-" + id + ".scope"}, true},
		{"podman conmon", "/machine.slice/libpod-conmon-" + id + ".scope", cgroupMatch{Runtime: RuntimePodman, ID: id, Conmon: true, Cgroup: "/machine.slice/libpod-conmon-" + id + ".scope"}, true},
		{"nsagent", "/nsagent/web/sub", cgroupMatch{Runtime: RuntimeNsagent, ID: "web", Cgroup: "/nsagent/web"}, true},
		{"nested docker in docker", "/docker/" + id + "/docker/" + strings.Repeat("f", 64),
			cgroupMatch{Runtime: RuntimeDocker, ID: strings.Repeat("f", 64), Cgroup: "/docker/" + id + "/docker/" + strings.Repeat("f", 64)}, true},
		{"host service", "/system.slice/ssh.service", cgroupMatch{}, false},
		{"root", "/", cgroupMatch{}, false},
		{"short id", "/docker/abc", cgroupMatch{}, false},
		{"upper-case hex is no id", "/docker/" + strings.ToUpper(id), cgroupMatch{}, false},
		{"nsagent parent alone", "/nsagent", cgroupMatch{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := matchCgroup(tt.path)
			if ok != tt.ok || got != tt.want {
				t.Errorf("matchCgroup(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseShimArgs(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want shimArgs
	}{
		{"v2", []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", "abc", "-address", "/run/containerd/containerd.sock"},
			shimArgs{Namespace: "moby", ID: "abc", Address: "/run/containerd/containerd.sock"}},
		{"v2 with equals", []string{"containerd-shim-runc-v2", "-namespace=k8s.io", "-id=p1", "-address=/a.sock", "-publish-binary", "/usr/bin/containerd"},
			shimArgs{Namespace: "k8s.io", ID: "p1", Address: "/a.sock"}},
		{"v1 takes the id from the workdir", []string{"containerd-shim", "-namespace", "moby", "-workdir", "/var/lib/containerd/io.containerd.runtime.v1.linux/moby/abc", "-address", "/run/containerd.sock", "-containerd-binary", "/usr/bin/containerd", "-runtime-root", "/var/run/docker/runtime-runc"},
			shimArgs{Namespace: "moby", ID: "abc", Address: "/run/containerd.sock", Workdir: "/var/lib/containerd/io.containerd.runtime.v1.linux/moby/abc", RuntimeRoot: "/var/run/docker/runtime-runc"}},
		{"truncated", []string{"containerd-shim-runc-v2", "-namespace"}, shimArgs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseShimArgs(tt.argv); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseConmonArgs(t *testing.T) {
	got := parseConmonArgs([]string{"/usr/bin/conmon", "--api-version", "1", "-c", "cid", "-u", "cid", "-r", "/usr/bin/crun", "-b", "/b", "-n", "web", "--exit-dir", "/x", "-s"})
	want := conmonArgs{ID: "cid", Name: "web", Bundle: "/b", Runtime: "/usr/bin/crun"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	got = parseConmonArgs([]string{"conmon", "--cid=c2", "--name=n2", "--bundle=/b2"})
	if want := (conmonArgs{ID: "c2", Name: "n2", Bundle: "/b2"}); got != want {
		t.Errorf("long form: got %+v, want %+v", got, want)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		p    inventory.Process
		want Role
	}{
		{"dockerd", inventory.Process{Comm: "dockerd", Cmdline: []string{"/usr/sbin/dockerd", "-H", "fd://"}}, RoleDockerd},
		{"containerd", inventory.Process{Comm: "containerd", Cmdline: []string{"containerd", "--config", "/x"}}, RoleContainerd},
		{"shim v2", inventory.Process{Comm: "containerd-shim", Cmdline: []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "moby"}}, RoleShim},
		{"shim v1", inventory.Process{Comm: "containerd-shim", Cmdline: []string{"containerd-shim", "-namespace", "moby"}}, RoleShim},
		{"runc init", inventory.Process{Comm: "runc:[2:INIT]", Cmdline: []string{"runc", "init"}}, RoleOCIRuntime},
		{"runc init renamed", inventory.Process{Comm: "runc:[1:CHILD]"}, RoleOCIRuntime},
		{"crun", inventory.Process{Comm: "crun", Cmdline: []string{"/usr/bin/crun", "create"}}, RoleOCIRuntime},
		{"conmon", inventory.Process{Comm: "conmon", Cmdline: []string{"/usr/bin/conmon"}}, RoleConmon},
		{"podman", inventory.Process{Comm: "podman", Cmdline: []string{"podman", "system", "service"}}, RolePodman},
		{"crio", inventory.Process{Comm: "crio", Cmdline: []string{"/usr/bin/crio"}}, RoleCRIO},
		{"kubelet", inventory.Process{Comm: "kubelet", Cmdline: []string{"/usr/bin/kubelet"}}, RoleKubelet},
		{"nsagent", inventory.Process{Comm: "nsagent", Cmdline: []string{"/usr/local/bin/nsagent", "serve"}}, RoleNsagent},
		{"kernel thread named like a runtime", inventory.Process{Comm: "containerd", Kernel: true}, RoleHost},
		{"a shell", inventory.Process{Comm: "bash", Cmdline: []string{"-bash"}}, RoleHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(&tt.p); got != tt.want {
				t.Errorf("classify = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestContainerdFor(t *testing.T) {
	docker := &inventory.Process{PID: 10, Cmdline: []string{"containerd", "--config", "/var/run/docker/containerd/containerd.toml"}}
	plain := &inventory.Process{PID: 20, Cmdline: []string{"/usr/bin/containerd"}}
	addr := &inventory.Process{PID: 30, Cmdline: []string{"containerd", "--address", "/run/k3s/containerd/containerd.sock"}}
	all := []*inventory.Process{docker, plain, addr}
	tests := []struct {
		name    string
		address string
		procs   []*inventory.Process
		want    int
	}{
		{"dockerd's, by config dir, /var/run spelled /run", "/var/run/docker/containerd/containerd.sock", all, 10},
		{"by --address", "unix:///run/k3s/containerd/containerd.sock", all, 30},
		{"only one", "/run/containerd/containerd.sock", []*inventory.Process{plain}, 20},
		{"ambiguous", "/run/containerd/containerd.sock", all, 0},
		{"none", "/run/containerd/containerd.sock", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := containerdFor(tt.address, tt.procs); got != tt.want {
				t.Errorf("containerdFor(%q) = %d, want %d", tt.address, got, tt.want)
			}
		})
	}
}

func TestDockerLimits(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	i := func(v int64) *int64 { return &v }
	tests := []struct {
		name string
		json string
		want Limits
	}{
		{"unset", `{"Memory":0,"PidsLimit":null,"NanoCpus":0}`, Limits{}},
		{"pids -1 is unlimited", `{"PidsLimit":-1}`, Limits{}},
		{"memory pids and --cpus", `{"Memory":8388608,"PidsLimit":50,"NanoCpus":1500000000}`,
			Limits{MemoryBytes: u(8388608), Pids: u(50), CPUQuotaMicros: i(150000), CPUPeriodMicros: 100000}},
		{"--cpu-quota with period", `{"CpuQuota":20000,"CpuPeriod":50000}`, Limits{CPUQuotaMicros: i(20000), CPUPeriodMicros: 50000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parseDockerHostConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if got := v.(*dockerHostConfig).limits(); !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
	if _, err := parseDockerHostConfig([]byte("{")); err == nil {
		t.Error("truncated hostconfig.json parsed without error")
	}
}

func TestParseRuncState(t *testing.T) {
	for _, start := range []string{`52584`, `"52584"`} {
		v, err := parseRuncState([]byte(`{"id":"c1","init_process_pid":42,"init_process_start":` + start +
			`,"config":{"labels":["bundle=/tmp/b"],"cgroups":{"memory":1048576,"pids_limit":10}}}`))
		if err != nil {
			t.Fatalf("start %s: %v", start, err)
		}
		s := v.(*runcState)
		if s.InitPID != 42 || s.startTicks() != 52584 || s.bundle() != "/tmp/b" {
			t.Errorf("start %s: got %+v start %d bundle %q", start, s, s.startTicks(), s.bundle())
		}
		l := s.limits()
		if l.MemoryBytes == nil || *l.MemoryBytes != 1048576 || l.Pids == nil || *l.Pids != 10 {
			t.Errorf("limits = %+v", l)
		}
	}
}
