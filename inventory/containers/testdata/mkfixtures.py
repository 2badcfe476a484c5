#!/usr/bin/env python3
"""Writes the fixture hosts under testdata/<name>/{proc,cgroup,root}.

Each is a host as nsagent reads it: a procfs tree (stat, status, cmdline,
cgroup, ns/* and cwd as symlinks whose targets readlink returns as-is), a
cgroup v2 tree with limits, and the runtimes' metadata under root/. Run it
from this directory after changing it; the golden files are then rewritten
by `go test ./inventory/containers -run Golden -update`.
"""
import json, os, shutil

HOST = dict(mnt=4026531841, net=4026531840, pid=4026531836, uts=4026531838,
            ipc=4026531839, user=4026531837, cgroup=4026531835, time=4026531834)
DOCKER_CAPS = "00000000a80425fb"
ALL_CAPS = "000001ffffffffff"  # cap_last_cap 40


def hexid(seed):
    return (seed * 64)[:64]


class Host:
    def __init__(self, name):
        self.dir = name
        shutil.rmtree(name, ignore_errors=True)
        for d in ("proc/sys/kernel", "cgroup", "root/etc"):
            os.makedirs(os.path.join(name, d))
        self.write("proc/sys/kernel/cap_last_cap", "40\n")
        self.write("root/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        self.cgroup("/", root=True)

    def write(self, rel, data):
        p = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(data)

    def json(self, rel, obj):
        self.write(rel, json.dumps(obj, indent=1, sort_keys=True) + "\n")

    def cgroup(self, path, root=False, memory="max", cpu="max 100000", pids="max", procs=()):
        d = "cgroup" + ("" if path == "/" else path)
        self.write(d + "/cgroup.controllers", "cpu memory pids\n")
        self.write(d + "/cgroup.procs", "".join("%d\n" % p for p in procs))
        if not root:
            self.write(d + "/memory.max", memory + "\n")
            self.write(d + "/cpu.max", cpu + "\n")
            self.write(d + "/pids.max", pids + "\n")
            self.write(d + "/memory.current", "1048576\n")
            self.write(d + "/pids.current", "%d\n" % len(procs))

    def proc(self, pid, ppid, argv, cgroup, ns=None, start=1000, caps="000001ffffffffff",
             seccomp=0, nnp=0, cwd=None, fds=None, state="S"):
        d = "proc/%d" % pid
        comm = os.path.basename(argv[0])[:15]
        self.write(d + "/stat", "%d (%s) %s %d %d %d 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n"
                   % (pid, comm, state, ppid, pid, pid, start))
        self.write(d + "/cmdline", "\0".join(argv) + "\0")
        self.write(d + "/status", "Name:\t%s\nCapEff:\t%s\nNoNewPrivs:\t%d\nSeccomp:\t%d\nSeccomp_filters:\t%d\n"
                   % (comm, caps, nnp, seccomp, 1 if seccomp == 2 else 0))
        self.write(d + "/cgroup", "0::%s\n" % cgroup)
        nsd = os.path.join(self.dir, d, "ns")
        os.makedirs(nsd)
        for t, ino in dict(HOST, **(ns or {})).items():
            os.symlink("%s:[%d]" % (t, ino), os.path.join(nsd, t))
        if cwd:
            os.symlink(cwd, os.path.join(self.dir, d, "cwd"))
        if fds:
            os.makedirs(os.path.join(self.dir, d, "fd"))
            for fd, target in fds.items():
                os.symlink(target, os.path.join(self.dir, d, "fd", str(fd)))


def k8s():
    """A Kubernetes node: containerd's CRI plugin, systemd cgroup driver."""
    h = Host("k8s")
    sb, app, side, gone = hexid("a1"), hexid("b2"), hexid("c3"), hexid("d4")
    uid = "6f1c9a0e-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
    pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice" % uid.replace("-", "_")
    task = "/run/containerd/io.containerd.runtime.v2.task/k8s.io/"
    h.proc(1, 0, ["/sbin/init"], "/init.scope")
    h.proc(500, 1, ["/usr/bin/containerd"], "/system.slice/containerd.service")
    h.proc(600, 1, ["/usr/bin/kubelet", "--container-runtime-endpoint=unix:///run/containerd/containerd.sock"],
           "/system.slice/kubelet.service", fds={7: "net:[4026532999]", 8: "/dev/null"})
    shim = ["/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", sb, "-address", "/run/containerd/containerd.sock"]
    h.proc(1000, 1, shim, "/system.slice/containerd.service", cwd=task + sb)
    podns = dict(net=4026532300, uts=4026532301, ipc=4026532302)
    h.proc(1010, 1000, ["/pause"], pod + "/cri-containerd-%s.scope" % sb,
           ns=dict(podns, mnt=4026532303, pid=4026532304), start=2000, caps=DOCKER_CAPS, seccomp=2)
    appns = dict(podns, mnt=4026532310, pid=4026532311)
    h.proc(1020, 1000, ["nginx: master process nginx -g daemon off;"], pod + "/cri-containerd-%s.scope" % app,
           ns=appns, start=2100, caps=DOCKER_CAPS, seccomp=2)
    h.proc(1021, 1020, ["nginx: worker process"], pod + "/cri-containerd-%s.scope" % app,
           ns=appns, start=2101, caps=DOCKER_CAPS, seccomp=2)
    h.proc(1030, 1000, ["sh"], pod + "/cri-containerd-%s.scope" % app,  # kubectl exec
           ns=appns, start=5000, caps=DOCKER_CAPS, seccomp=2)
    sidens = dict(podns, mnt=4026532320, pid=4026532321)
    h.proc(1040, 1000, ["/bin/envoy", "-c", "/etc/envoy.yaml"], pod + "/cri-containerd-%s.scope" % side,
           ns=sidens, start=2200, caps=DOCKER_CAPS, seccomp=2)
    shim2 = ["/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", gone, "-address", "/run/containerd/containerd.sock"]
    h.proc(1100, 1, shim2, "/system.slice/containerd.service", cwd=task + gone)
    h.proc(1200, 700, ["nsenter", "-t", "1020", "-n", "-m", "sh"], "/user.slice/user-0.slice/session-1.scope",
           ns=dict(net=4026532300, mnt=4026532310), start=6000)
    h.proc(700, 1, ["-bash"], "/user.slice/user-0.slice/session-1.scope")
    h.cgroup("/init.scope", procs=[1])
    h.cgroup("/system.slice")
    h.cgroup("/system.slice/containerd.service", procs=[500, 1000, 1100])
    h.cgroup("/system.slice/kubelet.service", procs=[600])
    h.cgroup("/user.slice")
    h.cgroup("/user.slice/user-0.slice")
    h.cgroup("/user.slice/user-0.slice/session-1.scope", procs=[700, 1200])
    h.cgroup("/kubepods.slice")
    h.cgroup("/kubepods.slice/kubepods-burstable.slice")
    h.cgroup(pod)
    h.cgroup(pod + "/cri-containerd-%s.scope" % sb, procs=[1010])
    h.cgroup(pod + "/cri-containerd-%s.scope" % app, memory="134217728", cpu="50000 100000", pids="1024", procs=[1020, 1021, 1030])
    # The sidecar asked for 64 MiB; its cgroup has no limit.
    h.cgroup(pod + "/cri-containerd-%s.scope" % side, procs=[1040])
    common = {"io.kubernetes.cri.sandbox-id": sb, "io.kubernetes.cri.sandbox-name": "web-7d4b9c",
              "io.kubernetes.cri.sandbox-namespace": "shop", "io.kubernetes.cri.sandbox-uid": uid}
    h.json("root" + task + sb + "/config.json", {"ociVersion": "1.0.2", "annotations": dict(common, **{
        "io.kubernetes.cri.container-type": "sandbox"}), "linux": {"cgroupsPath": "kubepods-burstable-pod:cri-containerd:" + sb}})
    h.json("root" + task + app + "/config.json", {"ociVersion": "1.0.2", "annotations": dict(common, **{
        "io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.container-name": "nginx",
        "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.25"}),
        "linux": {"resources": {"memory": {"limit": 134217728}, "cpu": {"quota": 50000, "period": 100000}, "pids": {"limit": 1024}}}})
    h.json("root" + task + side + "/config.json", {"ociVersion": "1.0.2", "annotations": dict(common, **{
        "io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.container-name": "envoy",
        "io.kubernetes.cri.image-name": "docker.io/envoyproxy/envoy:v1.29"}),
        "linux": {"resources": {"memory": {"limit": 67108864}}}})


def podman():
    """Rootful podman with conmon and crun, plus an nsagent workload."""
    h = Host("podman")
    web, priv = hexid("e5"), hexid("f6")
    store = "/var/lib/containers/storage/overlay-containers/"
    h.proc(1, 0, ["/sbin/init"], "/init.scope")
    for pid, cid, name, caps, seccomp, mem in ((2000, web, "web", DOCKER_CAPS, 2, "268435456"),
                                                (3000, priv, "debug", ALL_CAPS, 0, "max")):
        conmon = ["/usr/bin/conmon", "--api-version", "1", "-c", cid, "-u", cid, "-r", "/usr/bin/crun",
                  "-b", store + cid + "/userdata", "-p", "/run/containers/storage/overlay-containers/%s/userdata/pidfile" % cid,
                  "-n", name, "--exit-dir", "/run/libpod/exits", "-s"]
        h.proc(pid, 1, conmon, "/machine.slice/libpod-conmon-%s.scope" % cid)
        ns = dict(mnt=pid * 1000 + 1, pid=pid * 1000 + 2, net=pid * 1000 + 3, uts=pid * 1000 + 4, ipc=pid * 1000 + 5,
                  cgroup=pid * 1000 + 6)
        h.proc(pid + 10, pid, ["/usr/sbin/nginx" if name == "web" else "/bin/sh"],
               "/machine.slice/libpod-%s.scope/container" % cid, ns=ns, start=3000 + pid, caps=caps, seccomp=seccomp)
        h.cgroup("/machine.slice/libpod-conmon-%s.scope" % cid, procs=[pid])
        h.cgroup("/machine.slice/libpod-%s.scope" % cid, memory=mem)
        h.cgroup("/machine.slice/libpod-%s.scope/container" % cid, procs=[pid + 10])
        spec = {"ociVersion": "1.0.2", "annotations": {"io.container.manager": "libpod"}}
        if mem != "max":
            spec["linux"] = {"resources": {"memory": {"limit": int(mem)}}}
        h.json("root" + store + cid + "/userdata/config.json", spec)
    h.cgroup("/init.scope", procs=[1])
    h.cgroup("/machine.slice")
    # An nsagent workload: its own cgroup under /nsagent and a state file.
    h.proc(4000, 1, ["nsagent", "launch", "--name", "demo", "--mem", "16M", "--", "sleep", "1000"], "/user.slice")
    h.proc(4001, 4000, ["sleep", "1000"], "/nsagent/wl-1", ns=dict(mnt=4026533001, pid=4026533002, uts=4026533003),
           start=9000, seccomp=2, nnp=1, caps="0000000000000000")
    h.cgroup("/user.slice", procs=[4000])
    h.cgroup("/nsagent")
    h.cgroup("/nsagent/wl-1", memory="16777216", pids="64", procs=[4001])
    h.json("root/run/nsagent/wl-1.json", {"id": "wl-1", "name": "demo", "pid": 4001})


def crio():
    """CRI-O on a Kubernetes node, systemd driver: conmon in its own scope."""
    h = Host("crio")
    sb, app = hexid("17"), hexid("28")
    uid = "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9"
    pod = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice" % uid.replace("-", "_")
    store = "/run/containers/storage/overlay-containers/"
    h.proc(1, 0, ["/sbin/init"], "/init.scope")
    h.proc(300, 1, ["/usr/bin/crio"], "/system.slice/crio.service")
    h.proc(310, 1, ["/usr/bin/kubelet"], "/system.slice/kubelet.service")
    podns = dict(net=4026532400, uts=4026532401, ipc=4026532402)
    for pid, cid, name, argv, extra in ((3100, sb, "k8s_POD_redis-0_db_%s_0" % uid, ["/pause"], {}),
                                        (3200, app, "k8s_redis_redis-0_db_%s_0" % uid, ["redis-server", "*:6379"], {})):
        conmon = ["/usr/bin/conmon", "-b", store + cid + "/userdata", "-c", cid, "--exit-dir", "/var/run/crio/exits",
                  "-n", name, "-r", "/usr/bin/runc", "--runtime-arg", "--root=/run/runc"]
        h.proc(pid, 1, conmon, pod + "/crio-conmon-%s.scope" % cid)
        h.proc(pid + 10, pid, argv, pod + "/crio-%s.scope" % cid,
               ns=dict(podns, mnt=pid * 1000 + 1, pid=pid * 1000 + 2), start=4000 + pid, caps=DOCKER_CAPS, seccomp=2)
        h.cgroup(pod + "/crio-conmon-%s.scope" % cid, procs=[pid])
        ann = {"io.container.manager": "cri-o", "io.kubernetes.pod.name": "redis-0", "io.kubernetes.pod.namespace": "db",
               "io.kubernetes.pod.uid": uid, "io.kubernetes.cri-o.SandboxID": sb,
               "io.kubernetes.container.name": "POD" if cid == sb else "redis",
               "io.kubernetes.cri-o.ContainerType": "sandbox" if cid == sb else "container"}
        if cid == app:
            ann["io.kubernetes.cri-o.ImageName"] = "docker.io/library/redis:7"
        h.json("root" + store + cid + "/userdata/config.json", {"ociVersion": "1.0.2", "annotations": ann})
    h.cgroup(pod + "/crio-%s.scope" % sb, procs=[3110])
    h.cgroup(pod + "/crio-%s.scope" % app, cpu="20000 100000", procs=[3210])
    h.cgroup("/init.scope", procs=[1])
    h.cgroup("/system.slice")
    h.cgroup("/system.slice/crio.service", procs=[300])
    h.cgroup("/system.slice/kubelet.service", procs=[310])
    h.cgroup("/kubepods.slice")
    h.cgroup("/kubepods.slice/kubepods-besteffort.slice")
    h.cgroup(pod)


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    k8s()
    podman()
    crio()
