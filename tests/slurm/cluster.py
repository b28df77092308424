"""A private single-node Slurm cluster for the tests (issue 6, work in progress): munged,
slurmctld and slurmd from Debian's packages, configured in a temporary directory, started
and stopped by pid. Clients find it through SLURM_CONF.

    with Cluster(cpus=8) as cl:
        job = cl.sbatch_wait(["slurm/single-node.sbatch", ...])

Skips (raises Unavailable with the reason) when not root or the packages are missing."""
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


class Cluster:
    def __init__(self, cpus=8, node=None):
        self.cpus = cpus
        self.node = node or "localhost"  # always resolves (PMIx stalls on names that do not)
        self.dir = None
        self.pids = {}

    # ---- set-up ------------------------------------------------------------------------
    def check(self):
        if os.geteuid() != 0:
            raise Unavailable("not root: slurmd must run as root")
        for prog in ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo"):
            if not shutil.which(prog) and not os.path.exists(f"/usr/sbin/{prog}"):
                raise Unavailable(f"{prog} not installed (apt-get install slurmctld slurmd "
                                  "slurm-client munge)")
        try:
            socket.gethostbyname(self.node)
        except OSError:
            raise Unavailable(f"host name {self.node} does not resolve (PMIx would stall)")

    def write_config(self):
        d = self.dir
        for sub in ("munge", "state", "spool", "log", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chmod(os.path.join(d, "munge"), 0o755)
        with open(os.path.join(d, "munge.key"), "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(os.path.join(d, "munge.key"), 0o400)
        mem = 1024
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(int(line.split()[1]) / 1024 * 0.9)
        self.ctld_port, self.slurmd_port = free_port(), free_port()
        conf = f"""ClusterName=tftest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
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
TmpFS={d}/tmp
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={mem} State=UNKNOWN
PartitionName=main Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
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
        self.write_config()
        d = self.dir
        subprocess.run(["/usr/sbin/munged", f"--socket={d}/munge/munge.sock",
                        f"--key-file={d}/munge.key", f"--pid-file={d}/munged.pid",
                        f"--log-file={d}/log/munged.log", f"--seed-file={d}/munge.seed",
                        "--force"], check=True, env=self.env)
        self.pids["munged"] = self.read_pid("munged.pid")
        subprocess.run(["/usr/sbin/slurmctld", "-f", self.conf], check=True, env=self.env)
        self.wait(lambda: "UP" in self.out(["scontrol", "ping"]), "slurmctld to answer")
        self.pids["slurmctld"] = self.read_pid("slurmctld.pid")
        subprocess.run(["/usr/sbin/slurmd", "-f", self.conf, "-N", self.node], check=True,
                       env=self.env)
        self.pids["slurmd"] = self.read_pid("slurmd.pid")
        self.wait(lambda: "idle" in self.out(["sinfo", "-h", "-o", "%T"]), "the node to be idle")
        return self

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
        r = subprocess.run(argv, env=self.env, capture_output=True, text=True)
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
        r = subprocess.run(["sbatch", "--wait", "--parsable", *argv], env=dict(self.env, **(env or {})),
                           cwd=cwd, capture_output=True, text=True, timeout=timeout)
        job = r.stdout.strip().split(";")[0].splitlines()[0] if r.stdout.strip() else ""
        return job, r.returncode, r.stdout + r.stderr

    def sbatch(self, argv, env=None, cwd=None):
        """sbatch ARGV without waiting; returns the job id."""
        r = subprocess.run(["sbatch", "--parsable", *argv], env=dict(self.env, **(env or {})),
                           cwd=cwd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"sbatch failed: {r.stderr.strip()}")
        return r.stdout.strip().split(";")[0]

    def jobs(self):
        """{job id: state} of every job Slurm still lists."""
        out = subprocess.run(["squeue", "-h", "-o", "%i %T"], env=self.env, capture_output=True,
                             text=True).stdout
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
        subprocess.run(["scancel", "--batch", f"--signal={sig}", job], env=self.env, check=True)

    # ---- tear-down ---------------------------------------------------------------------
    def stop(self):
        if not self.dir:
            return
        subprocess.run(["scancel", "--full", "-u", "root"], env=self.env, capture_output=True)
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.get(name)
            if pid and self.owns(pid):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(
                p and self.owns(p) for p in self.pids.values()):
            time.sleep(0.1)
        for pid in self.pids.values():
            if pid and self.owns(pid):
                os.kill(pid, signal.SIGKILL)

    def owns(self, pid):
        """pid is still one of our daemons (its command line names our directory or conf)."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            return False
        return self.dir in cmd or self.conf in cmd

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
