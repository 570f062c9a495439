"""Where tasks run: Parsl apps, with a zero-config local default and cluster profiles (Slurm, LSF, PBS Pro).

Three kinds of task, each a Parsl ``python_app`` that starts one child process per unit of work
(``python -m alal.al.worker …``) with a hard time limit:

  label    a batch of labelling attempts (one child each; oracle.time_limit_s each)
  sample   a few trajectories in one child (sampler.time_limit_s per trajectory)
  train    one generation in one child (trainer.time_limit_s)

Why a child process under Parsl: a hang is killed at its limit even inside C code (GPAW, BLAS), a crash
(segfault, OOM) costs one attempt and not the worker, and a task process dies with its parent (no
orphans when the driver is killed). Results are files; run state lives in the run database, never in
Parsl's checkpoints (task arguments are random, so Parsl's memoization is off).

Local default (``execution.profile = "local"``): a Parsl ThreadPoolExecutor with one thread per core of
this machine; the loop keeps the cores its tasks use within that number.
Cluster profiles: a TOML file (``configs/cluster-slurm.toml``, ``configs/cluster-lsf.toml``) naming one or
more HighThroughputExecutors and which executor runs which task kind; GPUs are pinned per worker through
``available_accelerators``.

On a cluster, at start: the walltimes are checked against the task time limits and Slurm is asked whether it
accepts each executor's batch job (``sbatch --test-only``); Parsl's scripts are put on PATH when only this Python's
environment has them. Every batch job submitted is recorded in ``RUN/parsl/jobs.jsonl`` (removed at a clean exit,
when Parsl has cancelled its blocks); a driver killed with SIGKILL leaves it, and the next driver of the run cancels
the jobs it lists (and stops the orphaned interchange) before submitting its own.
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from alal.al.config import ConfigError

PROVIDERS = ("slurm", "lsf", "pbspro", "local")
TASK_KINDS = ("sample", "train", "label")
# Task kinds of other commands, routed only when a profile names them: ``validate`` (one piece of ``alal validate
# --execution PROFILE``, see validation/distributed.py) runs on the executor of ``label`` unless the profile says
# ``validate = "NAME"`` under [profile].
EXTRA_TASK_KINDS = ("validate",)

EXECUTOR_KEYS = {
    "account": (str, "", "allocation/project to charge (Slurm --account, LSF -P, PBS -A)"),
    "partition": (str, "", "Slurm partition, LSF or PBS queue"),
    "qos": (str, "", "Slurm QOS"),
    "nodes": (int, 1, "nodes per block (batch job)"),
    "walltime": (str, "01:00:00", "wall time of one batch job, HH:MM:SS"),
    "workers_per_node": (int, 1, "concurrent tasks per node"),
    "cores_per_worker": (int, 1, "cores given to one worker (threads of its task)"),
    "gpus_per_worker": (int, 0, "GPUs pinned to one worker (CUDA_VISIBLE_DEVICES via available_accelerators)"),
    "gpus_per_node": (int, 0, "GPUs to request per node (0 = workers_per_node × gpus_per_worker)"),
    "worker_init": (str, "", "shell commands run before the workers start (modules, venv activation)"),
    "scheduler_options": (str, "", "extra lines for the batch script (#SBATCH …, #BSUB …)"),
    "launcher_overrides": (str, "", "extra options for the launcher (srun / jsrun / mpiexec)"),
    "min_blocks": (int, 0, "batch jobs kept even when idle"),
    "init_blocks": (int, 1, "batch jobs submitted at start"),
    "max_blocks": (int, 1, "most batch jobs at once"),
    "heartbeat_threshold_s": (int, 120, "seconds without a heartbeat after which a worker pool counts as lost "
                                        "(its batch job cancelled, timed out or its node down): its tasks fail and "
                                        "the loop requeues them"),
}


@dataclass
class Profile:
    provider: str
    executors: dict[str, dict]
    routes: dict[str, str]  # task kind -> executor label
    source: str = ""
    # EXTRA_TASK_KINDS -> executor label (kept apart from ``routes``, which the active-learning loop reads)
    extra_routes: dict[str, str] = field(default_factory=dict)

    def route(self, kind: str) -> str:
        """The executor label of a task kind (an extra kind the profile does not name: that of ``label``)."""
        if kind in self.routes:
            return self.routes[kind]
        if kind in EXTRA_TASK_KINDS:
            return self.extra_routes.get(kind, self.routes["label"])
        raise ConfigError(f"unknown task kind '{kind}' (known: {', '.join(TASK_KINDS + EXTRA_TASK_KINDS)})")

    def capacity(self, label: str) -> int:
        e = self.executors[label]
        return max(1, e["nodes"] * e["workers_per_node"] * e["max_blocks"])


def load_profile(path: str | os.PathLike) -> Profile:
    """Read and validate a cluster profile (unknown keys and bad values are errors naming the key)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"cluster profile '{path}' does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cluster profile '{path}' is not valid TOML: {exc}") from None
    where = f"cluster profile '{path}'"
    unknown = set(raw) - {"profile", "executors"}
    if unknown:
        raise ConfigError(f"{where}: unknown section [{sorted(unknown)[0]}] (known: profile, executors)")
    prof = raw.get("profile", {})
    for k in prof:
        if k not in ("provider", *TASK_KINDS, *EXTRA_TASK_KINDS):
            raise ConfigError(f"{where}: unknown key 'profile.{k}' (known: provider, "
                              f"{', '.join(TASK_KINDS + EXTRA_TASK_KINDS)})")
    provider = prof.get("provider")
    if provider not in PROVIDERS:
        raise ConfigError(f"{where}: key 'profile.provider' must be one of {', '.join(PROVIDERS)} (got {provider!r})")
    execs_raw = raw.get("executors", {})
    if not execs_raw or not isinstance(execs_raw, dict):
        raise ConfigError(f"{where}: define at least one [executors.NAME] table")
    executors = {}
    for label, table in execs_raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: 'executors.{label}' must be a table")
        values = {}
        for key, (typ, default, _help) in EXECUTOR_KEYS.items():
            v = table.get(key, default)
            if typ is int and (isinstance(v, bool) or not isinstance(v, int)):
                raise ConfigError(f"{where}: key 'executors.{label}.{key}' must be an integer (got {v!r})")
            if typ is str and not isinstance(v, str):
                raise ConfigError(f"{where}: key 'executors.{label}.{key}' must be a string (got {v!r})")
            if typ is int and v < 0:
                raise ConfigError(f"{where}: key 'executors.{label}.{key}' must be >= 0 (got {v})")
            values[key] = v
        for key in table:
            if key not in EXECUTOR_KEYS:
                raise ConfigError(f"{where}: unknown key 'executors.{label}.{key}' (known: {', '.join(EXECUTOR_KEYS)})")
        for key in ("nodes", "workers_per_node", "cores_per_worker", "max_blocks", "heartbeat_threshold_s"):
            if values[key] < 1:
                raise ConfigError(f"{where}: key 'executors.{label}.{key}' must be >= 1")
        parts = values["walltime"].split(":")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ConfigError(f"{where}: key 'executors.{label}.walltime' must be HH:MM:SS (got {values['walltime']!r})")
        executors[label] = values
    routes = {}
    first = next(iter(executors))
    for kind in TASK_KINDS:
        label = prof.get(kind, first)
        if label not in executors:
            raise ConfigError(f"{where}: 'profile.{kind}' names executor '{label}', which is not defined")
        routes[kind] = label
    extra_routes = {}
    for kind in EXTRA_TASK_KINDS:
        if kind in prof:
            label = prof[kind]
            if not isinstance(label, str) or label not in executors:
                raise ConfigError(f"{where}: 'profile.{kind}' names executor '{label}', which is not defined")
            extra_routes[kind] = label
    return Profile(provider=provider, executors=executors, routes=routes, source=str(path),
                   extra_routes=extra_routes)


def parsl_config(profile: Profile, run_dir: Path):
    """Build (not load) the Parsl configuration of a cluster profile."""
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor

    executors = []
    for label, e in profile.executors.items():
        gpus = e["gpus_per_worker"]
        accel: int | list[str] = ()
        if gpus == 1:
            accel = e["workers_per_node"]
        elif gpus > 1:
            accel = [",".join(str(w * gpus + g) for g in range(gpus)) for w in range(e["workers_per_node"])]
        executors.append(HighThroughputExecutor(
            label=label,
            provider=_provider(profile.provider, e),
            max_workers_per_node=e["workers_per_node"],
            cores_per_worker=e["cores_per_worker"],
            available_accelerators=accel,
            heartbeat_period=max(1, min(30, e["heartbeat_threshold_s"] // 4)),
            heartbeat_threshold=e["heartbeat_threshold_s"],
        ))
    return Config(executors=executors, run_dir=str(Path(run_dir) / "parsl"), retries=0, app_cache=False,
                  initialize_logging=True) if _config_has_app_cache() else Config(
        executors=executors, run_dir=str(Path(run_dir) / "parsl"), retries=0, initialize_logging=True)


def _config_has_app_cache() -> bool:
    import inspect

    from parsl.config import Config

    return "app_cache" in inspect.signature(Config.__init__).parameters


def _provider(kind: str, e: dict):
    from parsl import launchers, providers

    gpus_node = e["gpus_per_node"] or e["workers_per_node"] * e["gpus_per_worker"]
    if kind == "slurm":
        return providers.SlurmProvider(
            partition=e["partition"] or None, account=e["account"] or None, qos=e["qos"] or None,
            nodes_per_block=e["nodes"], walltime=e["walltime"], worker_init=e["worker_init"],
            scheduler_options=e["scheduler_options"], min_blocks=e["min_blocks"], init_blocks=e["init_blocks"],
            max_blocks=e["max_blocks"], gpus_per_node=gpus_node or None, exclusive=False,
            launcher=launchers.SrunLauncher(overrides=e["launcher_overrides"]),
        )
    if kind == "lsf":
        return providers.LSFProvider(
            project=e["account"] or None, queue=e["partition"] or None, nodes_per_block=e["nodes"],
            walltime=e["walltime"], worker_init=e["worker_init"], scheduler_options=e["scheduler_options"],
            min_blocks=e["min_blocks"], init_blocks=e["init_blocks"], max_blocks=e["max_blocks"],
            bsub_redirection=True, request_by_nodes=True,
            launcher=launchers.JsrunLauncher(overrides=e["launcher_overrides"]),
        )
    if kind == "pbspro":
        return providers.PBSProProvider(
            account=e["account"] or None, queue=e["partition"] or None, nodes_per_block=e["nodes"],
            cpus_per_node=e["workers_per_node"] * e["cores_per_worker"], walltime=e["walltime"],
            worker_init=e["worker_init"], scheduler_options=e["scheduler_options"], min_blocks=e["min_blocks"],
            init_blocks=e["init_blocks"], max_blocks=e["max_blocks"],
            launcher=launchers.MpiExecLauncher(overrides=e["launcher_overrides"]),
        )
    return providers.LocalProvider(worker_init=e["worker_init"], min_blocks=e["min_blocks"],
                                   init_blocks=e["init_blocks"], max_blocks=e["max_blocks"])


def walltime_s(walltime: str) -> int:
    h, m, sec = (int(x) for x in walltime.split(":"))
    return h * 3600 + m * 60 + sec


def check_walltimes(profile: Profile, limits: dict[str, tuple[str, float]]) -> None:
    """Refuse a profile whose batch jobs are shorter than one task: ``limits`` maps a task kind to (the setting
    that bounds one task, seconds). Such a task would be killed by the scheduler every time, retried in the next
    batch job, killed again, and the run would spend its retry budget without a result."""
    for kind, (setting, limit) in limits.items():
        label = profile.route(kind)
        wall = profile.executors[label]["walltime"]
        if profile.provider != "local" and limit > walltime_s(wall):
            raise ConfigError(f"cluster profile '{profile.source}': executors.{label}.walltime = {wall} is shorter "
                              f"than one {kind} task ({setting} = {limit:g} s): raise the walltime or lower {setting}")


def preflight(profile: Profile) -> None:
    """Ask the scheduler whether it would accept each executor's batch job (Slurm: ``sbatch --test-only``, which
    submits nothing): a partition, account or QOS that Slurm rejects is one error naming the setting and the
    profile file, at start, instead of Parsl retrying a block that can never start while the tasks fail."""
    import shutil
    import subprocess

    if profile.provider != "slurm" or shutil.which("sbatch") is None:
        return
    for label, e in profile.executors.items():
        cmd = ["sbatch", "--test-only", f"--nodes={e['nodes']}", f"--time={e['walltime']}", "--job-name=alal-preflight",
               "--output=/dev/null", "--wrap=true"]
        named = []
        for key, opt in (("partition", "--partition"), ("account", "--account"), ("qos", "--qos")):
            if e[key]:
                cmd.append(f"{opt}={e[key]}")
                named.append(f"executors.{label}.{key} = '{e[key]}'")
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"cluster profile '{profile.source}': sbatch --test-only for executor '{label}' did not "
                              f"answer ({exc})") from None
        if r.returncode != 0:
            lines = [x.strip() for x in (r.stderr + r.stdout).splitlines() if x.strip()]
            why = next((x for x in reversed(lines) if "error" in x.lower()), lines[-1] if lines else f"exit {r.returncode}")
            raise ConfigError(f"cluster profile '{profile.source}': Slurm rejects the batch job of executor '{label}' "
                              f"({', '.join(named) or 'no partition named'}): {why}")


def parsl_scripts_on_path() -> bool:
    """Parsl starts ``interchange.py`` and ``process_worker_pool.py`` by name (from PATH): when this Python's
    environment (a venv not activated, ``.venv/bin/alal train`` on a login node) has them but PATH does not,
    prepend its ``bin`` to PATH for this process and what it starts (the local provider's workers; cluster workers
    get theirs from the profile's ``worker_init``). Returns whether PATH was changed."""
    import shutil

    bindir = os.path.dirname(sys.executable)
    if shutil.which("interchange.py") is None and os.path.exists(os.path.join(bindir, "interchange.py")):
        old = os.environ.get("PATH", "")
        os.environ["PATH"] = bindir + (os.pathsep + old if old else "")
        return True
    return False


# Batch jobs of a run: each block Parsl submits is recorded in RUN/parsl/jobs.jsonl (and the driver's interchange
# process), so that a driver killed with SIGKILL, whose Parsl never cancelled its blocks, leaves nothing running:
# the next driver of the run (--resume) cancels what the file lists before it submits its own.
JOBS_FILE = "jobs.jsonl"
CANCEL_COMMANDS = {"slurm": "scancel", "lsf": "bkill", "pbspro": "qdel"}


def _record(path: Path, rec: dict) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(rec) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _read_records(path: Path) -> list[dict]:
    import json

    out = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by the kill
    return out


def _record_submissions(executor, path: Path) -> None:
    """Wrap ``executor.provider.submit`` so every batch job id lands in ``path`` as soon as it exists."""
    provider = executor.provider
    submit = provider.submit

    def recorded(*args, **kwargs):
        job_id = submit(*args, **kwargs)
        if job_id is not None:
            _record(path, {"executor": executor.label, "job_id": str(job_id), "driver_pid": os.getpid(),
                           "at": time.time()})
        return job_id

    provider.submit = recorded


def cancel_leftovers(profile: Profile, run_dir: Path, echo=None) -> list[str]:
    """Cancel the batch jobs and stop the interchange processes that an earlier driver of this run recorded and
    left behind (a driver that exits normally cancels its own blocks; one killed with SIGKILL cannot). Returns the
    job ids handed to the scheduler's cancel command."""
    path = Path(run_dir) / "parsl" / JOBS_FILE
    records = _read_records(path)
    if not records:
        return []
    import signal

    jobs: dict[str, list[str]] = {}
    for r in records:
        if "job_id" in r and r.get("driver_pid") != os.getpid():
            jobs.setdefault(r["executor"], []).append(r["job_id"])
        pid = r.get("interchange_pid")
        if pid and pid != os.getpid() and _is_interchange(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    cancelled = []
    cancel = CANCEL_COMMANDS.get(profile.provider)
    ids = [j for label in jobs for j in jobs[label]]
    if cancel and ids:
        import subprocess

        if profile.provider == "slurm":  # only what is still queued or running (squeue forgets ended jobs)
            try:
                q = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(ids)], capture_output=True, text=True,
                                   timeout=60)
                if q.returncode == 0:
                    live = set(q.stdout.split())
                    ids = [j for j in ids if j in live]
                elif "invalid job id" in q.stderr.lower():
                    ids = []
            except (OSError, subprocess.TimeoutExpired):
                pass
    if cancel and ids:
        try:  # jobs that already ended are reported and ignored by the scheduler; the others are cancelled
            subprocess.run([cancel, *ids], capture_output=True, text=True, timeout=60)
            cancelled = ids
        except (OSError, subprocess.TimeoutExpired):
            pass  # best effort: the jobs end at their walltime anyway
    path.unlink(missing_ok=True)
    if cancelled and echo is not None:
        echo(f"resume: cancelled the batch jobs of an earlier driver of this run that may still run: "
             f"{', '.join(cancelled)}")
    return cancelled


def _is_interchange(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"interchange" in fh.read()
    except OSError:
        return False


def local_cores() -> int:
    try:
        import psutil

        n = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    except ImportError:  # pragma: no cover
        n = os.cpu_count() or 1
    try:
        n = min(n, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        pass
    return max(1, int(n))


# -------------------------------------------------------------------------------------------- apps
# Plain module-level functions (Parsl ships them by reference to remote workers).


def label_app(items: list[tuple[str, str]], time_limit_s: float, python: str, mpi_processes: int) -> list[str]:
    """Run labelling attempts one after another (each in its own child process); return result paths."""
    from alal.al.oracle import run_attempts

    run_attempts([(Path(i), Path(r)) for i, r in items], time_limit_s=time_limit_s, python=python or None,
                 mpi_processes=mpi_processes)
    return [r for _, r in items]


def worker_app(kind: str, task_path: str, time_limit_s: float, python: str, threads: int) -> dict:
    """Run ``python -m alal.al.worker KIND TASK`` with a hard time limit; return its exit status."""
    import subprocess

    from alal.al.oracle import _kill_group, _tail, spawn

    log = Path(task_path).with_suffix(".log")
    env = dict(os.environ)
    t = str(max(1, int(threads)))
    # passive OpenMP waiting: on a busy machine spinning threads steal the cores the task is waiting for
    env.update(OMP_NUM_THREADS=t, MKL_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t, TORCHANI_NO_WARN_EXTENSIONS="1")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    cmd = [python or sys.executable, "-m", "alal.al.worker", kind, task_path]
    t0 = time.time()
    with open(log, "ab") as fh:
        proc = spawn(cmd, stdout=fh, env=env)
        try:
            rc = proc.wait(timeout=time_limit_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            rc, timed_out = -9, True
    return {"rc": rc, "timed_out": timed_out, "wall_s": time.time() - t0, "log": str(log), "tail": _tail(log, 600)}


# --------------------------------------------------------------------------------------- execution


@dataclass
class Flight:
    """A submitted task: its future, the cores it holds while it runs, and what the loop needs back."""

    kind: str  # label | sample | train
    future: object
    cost: int
    info: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)


class Execution:
    """Submits the three task kinds to Parsl and tells the loop how much may run at once."""

    def __init__(self, run_dir: Path, *, profile: str = "local", workers: int = 0, python: str = "", echo=None):
        import logging

        import parsl
        from parsl.app.app import python_app
        from parsl.config import Config
        from parsl.executors import ThreadPoolExecutor

        logging.getLogger("parsl").setLevel(logging.WARNING)
        self.python = python
        self.local = profile == "local"
        if self.local:
            self.cores = workers or local_cores()
            kw = dict(app_cache=False) if _config_has_app_cache() else {}
            config = Config(executors=[ThreadPoolExecutor(label="local", max_threads=self.cores)],
                            run_dir=str(Path(run_dir) / "parsl"), retries=0, **kw)
            routes = {k: "local" for k in TASK_KINDS}
            self.profile = None
            self.description = f"Parsl ThreadPoolExecutor, {self.cores} cores (local default)"
        else:
            self.profile = load_profile(profile)
            parsl_scripts_on_path()
            cancel_leftovers(self.profile, run_dir, echo)
            config = parsl_config(self.profile, run_dir)
            for ex in config.executors:
                if ex.provider is not None:
                    _record_submissions(ex, Path(run_dir) / "parsl" / JOBS_FILE)
            routes = self.profile.routes
            self.cores = 0
            self.description = (f"Parsl HighThroughputExecutor ({self.profile.provider}, profile {profile}): "
                                + ", ".join(f"{k} -> {v}" for k, v in routes.items()))
        self.dfk = parsl.DataFlowKernel(config)
        self._jobs_file = None if self.local else Path(run_dir) / "parsl" / JOBS_FILE
        if self._jobs_file is not None:
            for ex in config.executors:
                proc = getattr(ex, "interchange_proc", None)
                if proc is not None:
                    _record(self._jobs_file, {"executor": ex.label, "interchange_pid": proc.pid,
                                              "driver_pid": os.getpid()})
        self._label = python_app(label_app, executors=[routes["label"]], data_flow_kernel=self.dfk)
        self._worker = {k: python_app(worker_app, executors=[routes[k]], data_flow_kernel=self.dfk)
                        for k in ("sample", "train")}
        self.routes = routes

    # capacity: local = cores shared by all kinds; cluster = workers of each kind's executor
    def slots(self, kind: str) -> int:
        if self.local:
            return self.cores
        return self.profile.capacity(self.routes[kind])

    def shares_slots(self) -> bool:
        return self.local

    def fits(self, kind: str, cost: int, running: list[tuple[str, int]]) -> bool:
        """Whether a ``kind`` task of ``cost`` cores may start next to the ``running`` (kind, cost) tasks.

        Local (one pool of cores for all kinds): sampling never takes the last core, and a training task does not
        wait for sampling tasks. Once the student's trajectories run for tens of ps, sampling tasks that held every
        core kept the labels of finished trajectories pending and the next generation waiting for them (measured
        on the discovery run of 2026-12-07); a generation that starts on cores shared with MD only runs slower.
        """
        if self.shares_slots():
            if kind == "train":
                running = [(k, c) for k, c in running if k != "sample"]
            elif kind == "sample" and self.slots(kind) >= 2:
                if sum(c for k, c in running if k == "sample") + cost > self.slots(kind) - 1:
                    return False
        used = sum(c for k, c in running if self.shares_slots() or k == kind)
        if used == 0:
            return True  # a task bigger than the machine still runs, alone
        return used + cost <= self.slots(kind)

    def default_train_threads(self) -> int:
        """Threads of a training task when trainer.threads = 0: half the local cores (the other half keeps
        sampling with the previous model; on a loaded or small machine, torch with more threads than free
        cores runs many times slower), or the cores of a worker of the training executor."""
        if self.local:
            return max(1, self.cores // 2)
        return self.profile.executors[self.routes["train"]]["cores_per_worker"]

    def submit_label(self, items: list[tuple[str, str]], time_limit_s: float, mpi_processes: int = 1):
        return self._label(items, time_limit_s, self.python, mpi_processes)

    def submit(self, kind: str, task_path: Path, time_limit_s: float, threads: int):
        return self._worker[kind](kind, str(task_path), time_limit_s, self.python, threads)

    def close(self) -> None:
        try:
            self.dfk.cleanup()  # cancels this driver's blocks
        except Exception:  # noqa: BLE001 - shutting down must not hide the run's own result
            return
        if self._jobs_file is not None:
            self._jobs_file.unlink(missing_ok=True)


def task_time_limits(cfg) -> dict[str, tuple[str, float]]:
    """The longest single task of each kind, as the loop submits it, and the setting that bounds it."""
    s = cfg.section("sampler")
    return {"label": ("oracle.time_limit_s", float(cfg["oracle.time_limit_s"])),
            "sample": ("sampler.time_limit_s", float(s["time_limit_s"])),
            "train": ("trainer.time_limit_s", float(cfg["trainer.time_limit_s"]))}


def check_profile(profile: str, cfg=None, *, scheduler: bool = False) -> None:
    """Validate a profile early (before anything is written): its keys, the Parsl objects it builds (nothing is
    submitted), with ``cfg`` the walltimes against the run's task time limits, and with ``scheduler`` whether
    the scheduler accepts its batch jobs (:func:`preflight`)."""
    if profile == "local":
        return
    p = load_profile(profile)
    parsl_config(p, Path("/tmp"))  # builds the Parsl objects; submits nothing
    if cfg is not None:
        check_walltimes(p, task_time_limits(cfg))
    if scheduler:
        preflight(p)


__all__ = ["Execution", "Profile", "load_profile", "parsl_config", "check_profile", "local_cores",
           "parsl_scripts_on_path", "cancel_leftovers", "check_walltimes", "preflight"]
