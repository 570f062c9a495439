"""Real daemons for the cluster tests (``make test-cluster``, ``pytest -m cluster``): munge, a one-node Slurm
cluster on this host and a PostgreSQL server, each started in a temporary directory and stopped by pid.

Nothing here is a stand-in: ``slurmctld`` and ``slurmd`` from Debian's packages (installed by ``make
test-cluster`` when missing), ``munged`` for their authentication, and the ``postgres`` server of this machine.
Every daemon is started in its own session and registered, and :func:`stop_all` (a pytest finalizer and an
``atexit`` hook) stops it by pid: SIGTERM, then SIGKILL after a grace period; should the test process itself be
killed, each daemon gets its stop signal from the kernel (PR_SET_PDEATHSIG). Processes of Slurm jobs that
outlive ``scancel`` (a batch step, ``srun`` children) are found by the ``SLURM_CONF`` of this cluster in their
environment (only processes of this temporary cluster carry it) and killed by pid too.

When a daemon cannot be had (no root for Slurm, packages not installed, no ``postgres`` binary) the start
raises :class:`Unavailable` with one line saying why; the fixtures in ``conftest.py`` turn it into a skip.
"""

from __future__ import annotations

import atexit
import functools
import getpass
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

START_TIMEOUT_S = 120.0  # generous: a loaded 2-core machine can take long to bring slurmd up


class Unavailable(RuntimeError):
    """A live service cannot be started here; the message is the one-line reason."""


_STARTED: list["Daemon"] = []
_LOCK = threading.Lock()


def stop_all() -> None:
    """Stop every daemon this process started, newest first (idempotent)."""
    with _LOCK:
        daemons = list(reversed(_STARTED))
        _STARTED.clear()
    for d in daemons:
        try:
            d.stop()
        except Exception:  # noqa: BLE001 - teardown goes on with the others
            pass


atexit.register(stop_all)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_pid(pid: int, sig: int = signal.SIGTERM, grace_s: float = 15.0) -> None:
    """``sig`` to one pid, SIGKILL after ``grace_s`` if it is still there."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    end = time.time() + grace_s
    while time.time() < end:
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_for(check, timeout_s: float, what: str, log: Path | None = None, proc: subprocess.Popen | None = None):
    """Poll ``check()`` until it returns a true value; raise :class:`Unavailable` naming ``what`` at the timeout
    or when ``proc`` exits first (with the tail of ``log``)."""
    end = time.time() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            raise Unavailable(f"{what}: the daemon exited with code {proc.returncode}{_tail(log)}")
        if time.time() > end:
            raise Unavailable(f"{what}: not ready after {timeout_s:.0f} s{_tail(log)}")
        time.sleep(0.25)


def _tail(log: Path | None, n: int = 400) -> str:
    if log is None or not Path(log).is_file():
        return ""
    text = Path(log).read_text(errors="replace").strip().replace("\n", " | ")
    return f" (log {log}: …{text[-n:]})"


def _which(name: str, *extra_dirs: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in (*extra_dirs, "/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"):
        for p in sorted(glob.glob(os.path.join(d, name))):
            if os.access(p, os.X_OK):
                return p
    return None


def _die_with_parent(sig: int, uid: int | None = None, gid: int | None = None) -> None:
    """In the child before exec: switch to ``uid``/``gid`` if given, then ask for ``sig`` when the test process
    dies, even by SIGKILL (Linux prctl; after the switch, which would clear it)."""
    if uid is not None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(sig))  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the finalizers and atexit still stop it
        pass


class Daemon:
    """One started process: its Popen, log and how to stop it."""

    name = "daemon"
    stop_signal = signal.SIGTERM
    register = True  # stopped by stop_all on its own (False: its owner stops it)

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _spawn(self, cmd: list[str], log: Path, env: dict | None = None, user: str | None = None) -> subprocess.Popen:
        self.log = log
        fh = open(log, "ab")
        uid = gid = None
        if user is not None:
            pw = pwd.getpwnam(user)
            uid, gid = pw.pw_uid, pw.pw_gid
        try:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True,
                                         preexec_fn=functools.partial(_die_with_parent, self.stop_signal, uid, gid))
        finally:
            fh.close()
        if self.register:
            with _LOCK:
                _STARTED.append(self)
        return self.proc

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is not None:  # exited and reaped: its pid may belong to another process by now
            self.proc = None
            return
        kill_pid(self.proc.pid, self.stop_signal)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None


class _Proc(Daemon):
    def __init__(self, name: str, stop_signal: int = signal.SIGTERM, register: bool = True):
        super().__init__()
        self.name, self.stop_signal, self.register = name, stop_signal, register


# ------------------------------------------------------------------------------------------------ munge


class Munge(Daemon):
    """``munged`` with its socket in ``root``; the system key when there is one, else a key made here."""

    name = "munged"

    def __init__(self, root: Path):
        super().__init__()
        self.root = Path(root)
        self.socket = self.root / "munge.socket"

    def start(self) -> "Munge":
        munged = _which("munged")
        if munged is None:
            raise Unavailable("munged is not installed (apt-get install munge; make test-cluster does it as root)")
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # clients of every user reach the socket
        key = Path("/etc/munge/munge.key")
        if not (key.is_file() and os.access(key, os.R_OK)):
            keydir = self.root / "key"
            keydir.mkdir(mode=0o700, exist_ok=True)
            key = keydir / "munge.key"
            key.write_bytes(os.urandom(1024))
            os.chmod(key, 0o400)
        self._spawn([munged, "--foreground", "--force", f"--socket={self.socket}", f"--key-file={key}",
                     f"--pid-file={self.root / 'munged.pid'}", f"--log-file={self.root / 'munged.log'}",
                     f"--seed-file={self.root / 'munged.seed'}", "--num-threads=2"],
                    self.root / "munged.out")
        munge = _which("munge")

        def ready():
            if not self.socket.exists():
                return False
            if munge is None:
                return True
            return subprocess.run([munge, "-n", "-S", str(self.socket)], capture_output=True).returncode == 0

        _wait_for(ready, START_TIMEOUT_S, "munged", self.log, self.proc)
        return self


# ------------------------------------------------------------------------------------------------ slurm


def _mem_mb() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 1024


class SlurmCluster:
    """A one-node Slurm cluster on this host: ``slurmctld`` and ``slurmd`` as root, slurm.conf, state, spool and
    pid files in ``root``, authentication through our own :class:`Munge`. ``env`` has ``SLURM_CONF`` for the
    clients (sbatch, squeue, scancel, srun); finished jobs are written to ``jobcomp.txt`` (jobcomp/filetxt),
    the record that remains without slurmdbd."""

    partition = "alal"

    def __init__(self, root: Path, munge: Munge):
        self.root = Path(root)
        self.munge = munge
        self.node = socket.gethostname().split(".")[0] or "localhost"
        self.conf = self.root / "slurm.conf"
        self.jobcomp = self.root / "jobcomp.txt"
        self.cpus = os.cpu_count() or 1
        self.ctld = _Proc("slurmctld", register=False)  # stopped by self.stop, after the jobs
        self.slurmd = _Proc("slurmd", register=False)
        self._seen: set[str] = set()
        self._poller: threading.Thread | None = None
        self._poll_stop = threading.Event()

    # -- set up

    def write_conf(self) -> None:
        r = self.root
        mem = max(256, int(_mem_mb() * 0.8))
        lines = [
            "ClusterName=alaltest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={self.munge.socket}",
            f"StateSaveLocation={r / 'state'}", f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}", f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'slurmctld.log'}", f"SlurmdLogFile={r / 'slurmd.log'}",
            "SlurmctldDebug=info", "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
            "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
            "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/filetxt", f"JobCompLoc={self.jobcomp}",
            "ReturnToService=2", "MailProg=/bin/true", "SlurmctldTimeout=60", "SlurmdTimeout=120",
            "InactiveLimit=0", "KillWait=5", "MinJobAge=300",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={mem} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    @property
    def env(self) -> dict:
        """This process's environment with ``SLURM_CONF`` of this cluster (for sbatch, squeue, srun, Parsl)."""
        return dict(os.environ, SLURM_CONF=str(self.conf))

    def start(self) -> "SlurmCluster":
        if os.geteuid() != 0:
            raise Unavailable(f"a live Slurm cluster needs root (slurmd starts jobs as their user); "
                              f"running as {getpass.getuser()}")
        missing = [b for b in ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo", "srun")
                   if _which(b) is None]
        if missing:
            raise Unavailable(f"Slurm is not installed ({', '.join(missing)} missing): "
                              f"apt-get install slurmctld slurmd slurm-client munge (make test-cluster does it as root)")
        for d in ("state", "spool"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        self.write_conf()
        env = self.env
        self.ctld._spawn([_which("slurmctld"), "-D", "-i", "-f", str(self.conf)], self.root / "slurmctld.out", env=env)
        _wait_for(lambda: self._ok("scontrol", "ping") and "UP" in self._out("scontrol", "ping"), START_TIMEOUT_S,
                  "slurmctld", self.root / "slurmctld.log", self.ctld.proc)
        self.slurmd._spawn([_which("slurmd"), "-D", "-f", str(self.conf), "-N", self.node], self.root / "slurmd.out",
                           env=env)

        def idle():
            state = self._out("sinfo", "-h", "-N", "-p", self.partition, "-o", "%t").strip()
            if state.startswith(("down", "drain", "drng", "fail")):
                self._ok("scontrol", "update", f"nodename={self.node}", "state=resume")
            return state.startswith("idle")

        _wait_for(idle, START_TIMEOUT_S, f"slurmd (node {self.node} idle in partition {self.partition})",
                  self.root / "slurmd.log", self.slurmd.proc)
        return self

    def _run(self, *cmd: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(list(cmd), capture_output=True, text=True, env=self.env, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(list(cmd), 124, "", "timeout")

    def _ok(self, *cmd: str) -> bool:
        return self._run(*cmd).returncode == 0

    def _out(self, *cmd: str) -> str:
        r = self._run(*cmd)
        return r.stdout if r.returncode == 0 else ""

    # -- looking at jobs

    def squeue(self) -> list[dict]:
        """The jobs in the queue now: id, name, state (PD, R, CG, …), partition, node list."""
        out = self._out("squeue", "-h", "-o", "%i|%j|%t|%P|%N")
        jobs = []
        for line in out.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 5:
                jobs.append(dict(zip(("id", "name", "state", "partition", "nodes"), parts)))
        return jobs

    def finished_jobs(self) -> list[dict]:
        """Jobs that have ended, from jobcomp.txt (one ``Key=Value …`` line per job)."""
        if not self.jobcomp.is_file():
            return []
        jobs = []
        for line in self.jobcomp.read_text().splitlines():
            rec = {}
            for field in line.split():
                k, _, v = field.partition("=")
                rec[k] = v
            if "JobId" in rec:
                jobs.append(rec)
        return jobs

    def watch(self, period_s: float = 1.0) -> None:
        """Poll squeue in a background thread; :meth:`job_ids_seen` then lists every job seen running."""
        if self._poller is not None:
            return
        self._poll_stop.clear()

        def loop():
            while not self._poll_stop.is_set():
                for j in self.squeue():
                    if j["state"] in ("R", "CG"):
                        self._seen.add(j["id"])
                self._poll_stop.wait(period_s)

        self._poller = threading.Thread(target=loop, name="squeue-watch", daemon=True)
        self._poller.start()

    def unwatch(self) -> None:
        self._poll_stop.set()
        if self._poller is not None:
            self._poller.join(timeout=10)
        self._poller = None

    def job_ids_seen(self) -> set[str]:
        """Ids of the jobs seen running by :meth:`watch` and of every finished job in jobcomp.txt."""
        return set(self._seen) | {j["JobId"] for j in self.finished_jobs()}

    def cancel_all(self, timeout_s: float = 60.0) -> None:
        """scancel every job of this cluster and wait until the queue is empty."""
        if self.ctld.proc is None:
            return
        ids = [j["id"] for j in self.squeue()]
        if ids:
            self._run("scancel", *ids)
            end = time.time() + timeout_s
            while self.squeue() and time.time() < end:
                time.sleep(0.5)

    # -- tear down

    def _job_processes(self) -> list[int]:
        """Pids of processes that carry this cluster's SLURM_CONF (slurmstepd, job steps), daemons excluded."""
        marker = f"SLURM_CONF={self.conf}".encode()
        own = {os.getpid(), self.ctld.pid, self.slurmd.pid}
        pids = []
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) in own:
                continue
            try:
                with open(f"/proc/{p}/environ", "rb") as fh:
                    if marker in fh.read().split(b"\0"):
                        pids.append(int(p))
            except OSError:
                continue
        return pids

    def stop(self) -> None:
        self.unwatch()
        try:
            self.cancel_all(timeout_s=30)
        except Exception:  # noqa: BLE001
            pass
        self.slurmd.stop()
        self.ctld.stop()
        for pid in self._job_processes():  # what scancel left (it should leave nothing)
            kill_pid(pid, signal.SIGKILL, grace_s=5)


# --------------------------------------------------------------------------------------------- postgres


class Postgres(Daemon):
    """A PostgreSQL server: initdb in ``root``, a free port on 127.0.0.1, the unix socket in ``root``, trust
    authentication, run as a non-root user (postgres refuses root): the system's ``postgres`` user, else one
    made with ``useradd``, else ``nobody``. :meth:`new_database` gives each test its own database."""

    name = "postgres"
    stop_signal = signal.SIGINT  # fast shutdown: disconnect clients, no wait

    def __init__(self, root: Path):
        super().__init__()
        self.root = Path(root)
        self.port = 0
        self.user: str | None = None
        self._n = 0
        self._cmd: list[str] = []

    @staticmethod
    def binaries() -> dict[str, str]:
        dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        found = {}
        for b in ("initdb", "postgres"):
            p = _which(b, *dirs)
            if p is None:
                raise Unavailable(f"PostgreSQL's '{b}' is not installed (apt-get install postgresql)")
            found[b] = p
        return found

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None  # an ordinary user runs the server as itself
        for user in ("postgres", "alal-postgres"):
            try:
                pwd.getpwnam(user)
                return user
            except KeyError:
                continue
        if shutil.which("useradd"):
            r = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                                "alal-postgres"], capture_output=True, text=True)
            if r.returncode == 0:
                return "alal-postgres"
        return "nobody"

    def start(self) -> "Postgres":
        try:
            import psycopg2  # noqa: F401
            import ase_db_backends  # noqa: F401
        except ImportError as exc:
            raise Unavailable(f"{exc.name} is not installed (pip install 'alal[postgres]'; make install does it)") from None
        bins = self.binaries()
        self.user = self._run_as()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        pgroot = self.root / "pg"
        pgroot.mkdir(exist_ok=True)
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            os.chown(pgroot, pw.pw_uid, pw.pw_gid)
        os.chmod(pgroot, 0o700)
        data = pgroot / "data"
        init = _Proc("initdb")
        init._spawn([bins["initdb"], "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync",
                     "--no-locale"], self.root / "initdb.log", user=self.user)
        try:
            rc = init.proc.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            init.stop()
            raise Unavailable(f"initdb: not done after {START_TIMEOUT_S:.0f} s{_tail(self.root / 'initdb.log')}")
        if rc != 0:
            raise Unavailable(f"initdb failed (exit {rc}){_tail(self.root / 'initdb.log')}")
        self.port = free_port()
        self._cmd = [bins["postgres"], "-D", str(data), "-p", str(self.port), "-k", str(pgroot),
                     "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                     "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=64MB"]
        self._serve()
        return self

    def _serve(self) -> None:
        was = self.register
        if self in _STARTED:
            self.register = False  # already registered by the first start
        try:
            self._spawn(self._cmd, self.root / "postgres.log", user=self.user)
        finally:
            self.register = was
        _wait_for(self._connects, START_TIMEOUT_S, "postgres", self.log, self.proc)

    def stop_server(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected); :meth:`start_server` brings it back."""
        self.stop()

    def start_server(self) -> None:
        """Start a stopped server again on the same port and data directory (databases kept); returns when it
        accepts connections. Call it from the main thread: the server gets its stop signal when the thread that
        started it ends (PR_SET_PDEATHSIG is per thread)."""
        if self.proc is None:
            self._serve()

    def restart(self, down_s: float = 0.0) -> None:
        """:meth:`stop_server`, ``down_s`` seconds down, :meth:`start_server` (main thread only, see there)."""
        self.stop_server()
        time.sleep(down_s)
        self.start_server()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _connects(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.url(), connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def execute(self, sql: str) -> None:
        import psycopg2

        con = psycopg2.connect(self.url(), connect_timeout=10)
        try:
            con.autocommit = True
            con.cursor().execute(sql)
        finally:
            con.close()

    def new_database(self, prefix: str = "t") -> str:
        """CREATE DATABASE with a fresh name; its URL."""
        with _LOCK:
            self._n += 1
            name = f"{prefix}_{os.getpid()}_{self._n}".lower()
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------------------------------------ setup


class Services:
    """One temporary directory for the daemons of a test session; started lazily, each at most once."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="alal-live-"))
        os.chmod(self.root, 0o755)
        self._munge: Munge | None = None
        self._slurm: SlurmCluster | None = None
        self._pg: Postgres | None = None
        self._why: dict[str, str] = {}

    def _once(self, key: str, make):
        if key in self._why:
            raise Unavailable(self._why[key])
        try:
            return make()
        except Unavailable as exc:
            self._why[key] = str(exc)
            raise

    def munge(self) -> Munge:
        def make():
            if self._munge is None:
                m = Munge(self.root / "munge")
                self._munge = m
                m.start()
            return self._munge
        return self._once("munge", make)

    def slurm(self) -> SlurmCluster:
        def make():
            if self._slurm is None:
                if os.geteuid() != 0:  # before munged: no daemon is started for a cluster that cannot be had
                    raise Unavailable(f"a live Slurm cluster needs root (slurmd starts jobs as their user); "
                                      f"running as {getpass.getuser()}")
                c = SlurmCluster(self.root / "slurm", self.munge())
                self._slurm = c
                with _LOCK:
                    _STARTED.append(c)  # stopped (jobs cancelled, then the daemons) by stop_all
                c.start()
            return self._slurm
        return self._once("slurm", make)

    def postgres(self) -> Postgres:
        def make():
            if self._pg is None:
                p = Postgres(self.root / "postgres")
                self._pg = p
                p.start()
            return self._pg
        return self._once("postgres", make)

    def close(self) -> None:
        stop_all()
        shutil.rmtree(self.root, ignore_errors=True)
