"""A private Slurm cluster for the tests: munged, slurmctld and slurmd from Debian's packages,
configured in a temporary directory, started and stopped by pid. Clients find it through
SLURM_CONF.

    with Cluster(cpus=8) as cl:                 # one node, "localhost"
        job, rc, out = cl.sbatch_wait(["slurm/single-node.sbatch", ...])
    with Cluster(cpus=4, nodes=2) as cl:        # two nodes, each its own network namespace
        ...

With nodes > 1, every node is a network namespace (`ip netns`) with its own address on a
veth link, and a UTS namespace with its own host name, so that MPI between ranks on two
nodes really goes over a network. slurmctld runs on the first node, and so do the
clients (sbatch, squeue: `ip netns exec`). Host names resolve through /etc/netns/NS/hosts,
which `ip netns exec` mounts over /etc/hosts; nothing else of the machine is changed. Where
`ip netns exec` cannot work (in a chroot, "/" is no mount point, so it cannot make its mount
namespace), processes enter the namespaces with nsenter, and the node names go into
/etc/hosts for the test's duration, marked and removed at stop (TF_TEST_NSENTER=1 forces
this way, to test it where the other works).

start() raises Unavailable with the reason when this cannot work here (not root, packages
missing, no namespaces)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class Unavailable(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_of(wd, job):
    """What job's script printed: taskfarm-JOB.log, the scripts' default --output, in wd."""
    try:
        with open(os.path.join(wd, f"taskfarm-{job}.log")) as f:
            return f.read()
    except OSError:
        return ""


def netns_mounted():
    """/run/netns is a mount point (`ip netns add` binds it onto itself; os.path.ismount
    cannot see a bind mount of a directory on its own file system)."""
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == "/run/netns" for line in f)
    except OSError:
        return False


def zombie(pid):
    """pid has exited and waits for its parent to reap it (or is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


class Cluster:
    def __init__(self, cpus=8, nodes=1, conf=""):
        self.cpus = cpus
        self.nnodes = nodes
        self.extra_conf = conf  # more slurm.conf lines (e.g. SlurmdTimeout=...)
        tag = f"{os.getpid() % 100000}"
        if nodes == 1:
            self.nodes = ["localhost"]  # resolves everywhere (PMIx stalls on names that do not)
            self.addrs = ["127.0.0.1"]
            self.netns = [None]
        else:
            net = 10 + os.getpid() % 200
            self.nodes = [f"tfnode{k + 1}" for k in range(nodes)]
            self.addrs = [f"10.251.{net}.{k + 1}" for k in range(nodes)]
            self.netns = [f"tf{tag}n{k + 1}" for k in range(nodes)]
        self.node = self.nodes[0] if nodes == 1 else f"{self.nodes[0][:-1]}[1-{nodes}]"
        self.dir = None
        self.conf = None
        self.pids = {}
        self.made_netns = []
        self.use_nsenter = False
        self.hosts_marker = f"# taskfarm test cluster {os.getpid()}"
        self.netns_was_mounted = netns_mounted()

    # ---- set-up ------------------------------------------------------------------------
    def check(self):
        if os.geteuid() != 0:
            raise Unavailable("not root: slurmd must run as root")
        progs = ["munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo"]
        if self.nnodes > 1:
            progs += ["ip", "unshare"]
        for prog in progs:
            if not shutil.which(prog) and not os.path.exists(f"/usr/sbin/{prog}"):
                raise Unavailable(f"{prog} not installed (apt-get install slurmctld slurmd "
                                  "slurm-client munge iproute2)")
        if self.nnodes == 1:
            try:
                socket.gethostbyname(self.nodes[0])
            except OSError:
                raise Unavailable(f"host name {self.nodes[0]} does not resolve (PMIx would "
                                  "stall): add it to /etc/hosts")

    def wrap(self, k, argv, hostname=False):
        """argv run on node k: in its network namespace, under its host name."""
        if self.netns[k] is None:
            return argv
        if hostname:
            argv = ["unshare", "-u", "sh", "-c", f'hostname {self.nodes[k]} && exec "$@"', "sh",
                    *argv]
        return self.enter(self.netns[k], argv)

    def enter(self, ns, argv):
        if self.use_nsenter:
            return ["nsenter", f"--net=/run/netns/{ns}", *argv]
        return ["ip", "netns", "exec", ns, *argv]

    def client(self, argv):
        return self.wrap(0, argv)

    def make_network(self):
        for ns in self.netns:
            self.ip("netns", "add", ns)
            self.made_netns.append(ns)
        probe = subprocess.run(["ip", "netns", "exec", self.netns[0], "true"], capture_output=True,
                               text=True)
        self.use_nsenter = probe.returncode != 0 or os.environ.get("TF_TEST_NSENTER") == "1"
        if self.use_nsenter and not shutil.which("nsenter"):
            raise Unavailable(f"ip netns exec fails ({probe.stderr.strip()}) and no nsenter")
        lines = "".join(f"{a} {n} {self.hosts_marker}\n" for n, a in zip(self.nodes, self.addrs))
        for ns in self.netns:
            self.run_in(ns, ["ip", "link", "set", "lo", "up"])
            if not self.use_nsenter:
                os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
                with open(f"/etc/netns/{ns}/hosts", "w") as f:
                    f.write("127.0.0.1 localhost\n" + lines)
        if self.use_nsenter:
            with open("/etc/hosts", "a") as f:
                f.write(lines)
        if self.nnodes != 2:
            raise Unavailable("the namespace network links exactly two nodes")
        a, b = (f"{ns}v" for ns in self.netns)
        self.ip("link", "add", a, "type", "veth", "peer", "name", b)
        for ns, dev, addr in zip(self.netns, (a, b), self.addrs):
            self.ip("link", "set", dev, "netns", ns)
            self.run_in(ns, ["ip", "addr", "add", f"{addr}/24", "dev", dev])
            self.run_in(ns, ["ip", "link", "set", dev, "up"])

    @staticmethod
    def ip(*argv):
        Cluster.must(["ip", *argv])

    def run_in(self, ns, argv):
        self.must(self.enter(ns, argv))

    @staticmethod
    def must(argv):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            raise Unavailable(f"{' '.join(argv)}: {r.stderr.strip()}")

    def write_config(self):
        d = self.dir
        for sub in ("munge", "state", "spool", "log", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for name in self.nodes:
            os.makedirs(os.path.join(d, "tmp", name), exist_ok=True)
        os.chmod(os.path.join(d, "munge"), 0o755)
        with open(os.path.join(d, "munge.key"), "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(os.path.join(d, "munge.key"), 0o400)
        mem = 1024
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(int(line.split()[1]) / 1024 * 0.9 / self.nnodes)
        self.ctld_port, self.slurmd_port = free_port(), free_port()
        nodes = "".join(f"NodeName={n} NodeAddr={a} CPUs={self.cpus} RealMemory={mem} "
                        "State=UNKNOWN\n" for n, a in zip(self.nodes, self.addrs))
        conf = f"""ClusterName=tftest
SlurmctldHost={self.nodes[0]}({self.addrs[0]})
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool/%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd-%n.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerParameters=batch_sched_delay=0
MinJobAge=4
EnforcePartLimits=ALL
TmpFS={d}/tmp/%n
{self.extra_conf}{nodes}PartitionName=main Nodes={",".join(self.nodes)} Default=YES MaxTime=INFINITE State=UP
"""
        self.conf = os.path.join(d, "slurm.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        with open(os.path.join(d, "cgroup.conf"), "w") as f:
            f.write("CgroupPlugin=cgroup/v1\n")
        self.env = dict(os.environ, SLURM_CONF=self.conf)

    def start(self):
        self.check()
        self.dir = tempfile.mkdtemp(prefix="tf-slurm-")
        try:
            if self.nnodes > 1:
                self.make_network()
            self.write_config()
            self.start_daemons()
        except Exception:
            self.stop()
            raise
        return self

    def start_daemons(self):
        d = self.dir
        subprocess.run(["/usr/sbin/munged", f"--socket={d}/munge/munge.sock",
                        f"--key-file={d}/munge.key", f"--pid-file={d}/munged.pid",
                        f"--log-file={d}/log/munged.log", f"--seed-file={d}/munge.seed",
                        "--force"], check=True, env=self.env)
        self.pids["munged"] = self.read_pid("munged.pid")
        subprocess.run(self.wrap(0, ["/usr/sbin/slurmctld", "-f", self.conf], hostname=True),
                       check=True, env=self.env)
        self.wait(lambda: "UP" in self.out(["scontrol", "ping"]), "slurmctld to answer")
        self.pids["slurmctld"] = self.read_pid("slurmctld.pid")
        for k, name in enumerate(self.nodes):
            subprocess.run(self.wrap(k, ["/usr/sbin/slurmd", "-f", self.conf, "-N", name],
                                     hostname=True), check=True, env=self.env)
            self.pids[f"slurmd-{name}"] = self.read_pid(f"slurmd-{name}.pid")
        self.wait(lambda: self.out(["sinfo", "-h", "-o", "%T"]).split() == ["idle"],
                  "every node to be idle")

    def read_pid(self, name, timeout=10):
        path = os.path.join(self.dir, name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(path) as f:
                    return int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        raise Unavailable(f"{name} never appeared: see {self.dir}/log")

    def out(self, argv):
        r = subprocess.run(self.client(argv), env=self.env, capture_output=True, text=True)
        return r.stdout + r.stderr

    def wait(self, cond, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.1)
        raise Unavailable(f"timed out waiting for {what}: see {self.dir}/log")

    # ---- use ---------------------------------------------------------------------------
    def sbatch_wait(self, argv, env=None, cwd=None, timeout=600):
        """sbatch --wait ARGV; returns (job id, exit code, stdout+stderr of sbatch)."""
        r = subprocess.run(self.client(["sbatch", "--wait", "--parsable", *argv]),
                           env=dict(self.env, **(env or {})), cwd=cwd, capture_output=True,
                           text=True, timeout=timeout)
        job = r.stdout.strip().split(";")[0].splitlines()[0] if r.stdout.strip() else ""
        return job, r.returncode, r.stdout + r.stderr

    def sbatch(self, argv, env=None, cwd=None):
        """sbatch ARGV without waiting; returns the job id."""
        r = subprocess.run(self.client(["sbatch", "--parsable", *argv]),
                           env=dict(self.env, **(env or {})), cwd=cwd, capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"sbatch failed: {r.stderr.strip()}")
        return r.stdout.strip().split(";")[0]

    def jobs(self):
        """{job id: state} of every job Slurm still lists (array elements as JOB_INDEX)."""
        out = subprocess.run(self.client(["squeue", "-h", "-o", "%i %T"]), env=self.env,
                             capture_output=True, text=True).stdout
        return dict(line.split() for line in out.splitlines() if line.strip())

    def wait_for(self, cond, what, timeout=120, every=0.2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = cond()
            if got:
                return got
            time.sleep(every)
        raise TimeoutError(f"timed out waiting for {what}; jobs: {self.jobs()}")

    def signal_batch(self, job, sig="TERM"):
        """What `#SBATCH --signal=B:TERM@margin` does before the time limit."""
        subprocess.run(self.client(["scancel", "--batch", f"--signal={sig}", job]), env=self.env,
                       check=True)

    def node_pids(self, k):
        """Every process of node k (k > 0 on a namespace cluster): those in its network
        namespace - its slurmd, the job's step daemons, mpirun's orted, the ranks, their tasks."""
        if self.netns[k] is None:
            raise ValueError("node_pids needs a node of its own (nodes > 1)")
        out = subprocess.run(["ip", "netns", "pids", self.netns[k]], capture_output=True,
                             text=True).stdout
        return [int(p) for p in out.split() if p.isdigit() and int(p) != os.getpid()]

    def kill_node(self, k, timeout=5):
        """What a node that dies does: SIGKILL to every process of node k at once, again until
        none is left (a process may fork meanwhile). Returns the pids killed."""
        killed = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [p for p in self.node_pids(k) if p not in killed]
            if not pids and not any(os.path.exists(f"/proc/{p}") and not zombie(p)
                                    for p in killed):
                return killed
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed += pids
            time.sleep(0.05)
        raise RuntimeError(f"node {self.nodes[k]}: processes left after SIGKILL: "
                           f"{self.node_pids(k)}")

    # ---- tear-down ---------------------------------------------------------------------
    def stop(self):
        if self.dir and self.conf:
            subprocess.run(self.client(["scancel", "--full", "-u", "root"]), env=self.env,
                           capture_output=True)
        for pid in self.pids.values():
            if pid and self.owns(pid):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(
                p and self.owns(p) for p in self.pids.values()):
            time.sleep(0.1)
        for pid in self.pids.values():
            if pid and self.owns(pid):
                os.kill(pid, signal.SIGKILL)
        for ns in self.made_netns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        if self.made_netns and self.use_nsenter:
            with open("/etc/hosts") as f:
                kept = [ln for ln in f if self.hosts_marker not in ln]
            with open("/etc/hosts", "w") as f:
                f.writelines(kept)
        # `ip netns add` made /run/netns a mount point; leave none behind that was not there
        if (self.made_netns and not self.netns_was_mounted and netns_mounted()
                and not os.listdir("/run/netns")):
            subprocess.run(["umount", "/run/netns"], capture_output=True)
        self.made_netns = []

    def owns(self, pid):
        """pid is still one of our daemons (its command line names our directory or conf)."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            return False
        return self.dir in cmd or (self.conf is not None and self.conf in cmd)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
