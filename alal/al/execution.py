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
}


@dataclass
class Profile:
    provider: str
    executors: dict[str, dict]
    routes: dict[str, str]  # task kind -> executor label
    source: str = ""

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
        if k not in ("provider", *TASK_KINDS):
            raise ConfigError(f"{where}: unknown key 'profile.{k}' (known: provider, sample, train, label)")
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
        for key in ("nodes", "workers_per_node", "cores_per_worker", "max_blocks"):
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
    return Profile(provider=provider, executors=executors, routes=routes, source=str(path))


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
            heartbeat_period=30,
            heartbeat_threshold=120,
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

    def __init__(self, run_dir: Path, *, profile: str = "local", workers: int = 0, python: str = ""):
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
            config = parsl_config(self.profile, run_dir)
            routes = self.profile.routes
            self.cores = 0
            self.description = (f"Parsl HighThroughputExecutor ({self.profile.provider}, profile {profile}): "
                                + ", ".join(f"{k} -> {v}" for k, v in routes.items()))
        self.dfk = parsl.DataFlowKernel(config)
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
        """Whether a ``kind`` task of ``cost`` cores may start next to the ``running`` (kind, cost) tasks."""
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
            self.dfk.cleanup()
        except Exception:  # noqa: BLE001 - shutting down must not hide the run's own result
            pass


def check_profile(profile: str) -> None:
    """Validate a profile early (before anything is written)."""
    if profile == "local":
        return
    p = load_profile(profile)
    parsl_config(p, Path("/tmp"))  # builds the Parsl objects; submits nothing


__all__ = ["Execution", "Profile", "load_profile", "parsl_config", "check_profile", "local_cores"]
