"""The active-learning configuration: a TOML file validated against one schema.

Every key has a type, a default and a check; an unknown key, a wrong type or a bad range is an
:class:`~alal.errors.AlalError` naming the key (``sampler.t_max_ps``). Units are in the key names.
``python -m alal.al.config`` prints the schema with defaults (the README's table is generated from it).

Ranges ``[low, high]`` are two-element arrays; the sampler draws uniformly from them with a recorded seed.
"""

from __future__ import annotations

import copy
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from alal.errors import AlalError


class ConfigError(AlalError):
    """A bad configuration file or value (the message names the key)."""


@dataclass(frozen=True)
class Key:
    default: Any
    kind: str  # "int" | "float" | "str" | "bool" | "range" | "list_int" | "list_str" | "auto_int" | "table"
    help: str
    check: Callable[[Any], str | None] | None = None  # returns an error text or None
    choices: tuple | None = None


def _positive(v):
    return None if v > 0 else "must be > 0"


def _non_negative(v):
    return None if v >= 0 else "must be >= 0"


def _fraction(v):
    return None if 0 <= v < 1 else "must be in [0, 1)"


def _between(lo, hi):
    def check(v):
        if isinstance(v, (list, tuple)):
            bad = [x for x in v if not (lo <= x <= hi)]
            return None if not bad else f"values must lie in [{lo}, {hi}]"
        return None if lo <= v <= hi else f"must lie in [{lo}, {hi}]"

    return check


def _range_within(lo, hi, *, strictly_positive=False):
    def check(v):
        a, b = v
        if a > b:
            return f"must be [low, high] with low <= high (got [{a}, {b}])"
        if a < lo or b > hi:
            return f"must lie within [{lo}, {hi}] (got [{a}, {b}])"
        if strictly_positive and a <= 0:
            return "must be > 0"
        return None

    return check


INF = math.inf

SCHEMA: dict[str, dict[str, Key]] = {
    "run": {
        "name": Key("al-run", "str", "a label for the run (reports, model names)"),
        "seed": Key(20210301, "int", "master seed; every random choice derives its own seed from it and records it", _non_negative),
        "element": Key("Al", "str", "the one element of the potential (the Jacobian trainer supports one element)"),
        "database": Key("", "str", "the run database: '' = RUN/ase.db (SQLite), or a postgresql://USER@HOST:PORT/DB URL "
                        "(pip install 'alal[postgres]'); the label journal stays in RUN/journal"),
    },
    "builder": {
        "side_A": Key([10.5, 17.0], "range", "each side of the orthorhombic cell, uniform in [low, high] (paper: 10.5-17.0 Å)",
                      _range_within(1.0, 200.0, strictly_positive=True)),
        "density_g_cm3": Key([1.80, 4.05], "range", "target mass density, uniform in [low, high] (paper: 1.80-4.05 g/cm³)",
                             _range_within(0.01, 30.0, strictly_positive=True)),
        "r_min_A": Key(1.8, "float", "a placement closer than this to any atom (periodic images included) is rejected", _positive),
        "max_tries_per_atom": Key(20000, "int", "placement attempts per atom before the cell is redrawn", _positive),
    },
    "oracle": {
        "kind": Key("emt", "str", "label source: 'emt' (ASE EMT; demos, tests), 'gpaw' (plane-wave DFT) or 'potential' (any potential "
                    "alal can load, named by oracle.name: a teacher standing in for DFT)", choices=("emt", "gpaw", "potential")),
        "name": Key("", "str", "oracle.kind = 'potential': a registry name (ani-al, eam-mishin1999, ...), a model directory, "
                    "'package.module:callable' returning an ASE calculator, or an entry point of alal.potentials; evaluated in float64"),
        "time_limit_s": Key(600.0, "float", "wall-time limit of one labelling attempt; past it the attempt is killed and recorded as a timeout", _positive),
        "max_attempts": Key(3, "int", "attempts per structure (retries after SCF failures, NaN and timeouts)", _positive),
        "threads": Key(1, "int", "BLAS/OpenMP threads of one labelling process", _positive),
        "mpi_processes": Key(1, "int", "GPAW: MPI ranks per label (needs mpiexec and a GPAW built with MPI; 1 = serial)", _positive),
    },
    "oracle.gpaw": {
        "xc": Key("PBE", "str", "exchange-correlation functional"),
        "ecut_eV": Key(400.0, "float", "plane-wave cutoff", _positive),
        "kpt_density_per_inv_A": Key(3.5, "float", "Monkhorst-Pack density, k-points per Å⁻¹ (ASE convention: n_i = ceil(2π·density/|a_i|))", _positive),
        "kpts_gamma": Key(True, "bool", "Gamma-centred k-mesh"),
        "smearing": Key("marzari-vanderbilt", "str", "occupation smearing", choices=("fermi-dirac", "marzari-vanderbilt", "methfessel-paxton")),
        "smearing_width_eV": Key(0.1, "float", "smearing width", _positive),
        "mixer_beta": Key(0.05, "float", "density-mixing parameter (Pulay)", _between(1e-4, 1.0)),
        "mixer_nmaxold": Key(5, "int", "densities kept by the Pulay mixer", _positive),
        "mixer_weight": Key(50.0, "float", "mixer metric weight", _positive),
        "maxiter": Key(300, "int", "SCF iterations before the attempt counts as not converged", _positive),
        "convergence_energy_eV": Key(5e-4, "float", "SCF energy convergence (GPAW: eV per valence electron)", _positive),
        "convergence_density": Key(1e-4, "float", "SCF density convergence", _positive),
        "retry_mixer_beta_factor": Key(0.5, "float", "after an SCF failure, the next attempt multiplies mixer_beta by this and doubles maxiter", _between(0.01, 1.0)),
        "retry_smearing_factor": Key(2.0, "float", "from the third attempt on, the smearing width is also multiplied by this", _between(1.0, 10.0)),
    },
    "oracle.faults": {
        "rate": Key(0.0, "float", "fault injection (tests): probability that an attempt fails on purpose", _between(0.0, 1.0)),
        "kinds": Key(["exception", "nan", "hang"], "list_str", "which faults to inject: exception, nan, hang, scf",
                     lambda v: None if set(v) <= {"exception", "nan", "hang", "scf"} and v else "must be a non-empty subset of exception, nan, hang, scf"),
        "seed": Key(0, "int", "seed of the fault draws (a draw depends on seed, structure and attempt)", _non_negative),
        "only_first_attempt": Key(True, "bool", "inject faults only into first attempts (so retries can succeed)"),
    },
    "model": {
        "n_members": Key(8, "int", "networks in the ensemble, each from its own random initialisation", _between(1, 64)),
        "hidden_layers": Key([96, 96, 64], "list_int", "hidden layer widths (input 96 = the ANI-Al AEV, output 1)",
                             lambda v: None if v and all(x > 0 for x in v) else "must be a non-empty list of positive widths"),
        "celu_alpha": Key(0.1, "float", "CELU activation alpha", _positive),
        "aev": Key("ani-al", "str", "AEV settings: 'ani-al' = radial 7.0 Å, 32 shifts 1.25-6.82 Å, η_R 43.9 Å⁻²; angular 5.0 Å, 8 shifts, 8 sections, η_A 6.5, ζ 69.4", choices=("ani-al",)),
    },
    "trainer": {
        "energy_loss": Key("total", "str", "energy term of the loss: 'total' = (Ê−E)² on total energies in eV² (paper Eq. 1); 'per_atom' = ((Ê−E)/N)²", choices=("total", "per_atom")),
        "force_weight_A2": Key(0.01, "float", "ℓ0 of Eq. 1 in Å²: the force term is (ℓ0/N)·Σ_j|f̂_j−f_j|² with forces in eV/Å", _non_negative),
        "learning_rate": Key(1e-3, "float", "Adam learning rate", _positive),
        "min_learning_rate": Key(1e-5, "float", "the learning rate is not reduced below this", _positive),
        "lr_decay_factor": Key(0.5, "float", "multiply a member's learning rate by this when its validation loss stalls", _between(0.01, 1.0)),
        "lr_patience_epochs": Key(10, "int", "epochs without validation improvement before the learning rate is reduced", _positive),
        "patience_epochs": Key(30, "int", "early stopping: a member stops after this many epochs without validation improvement", _positive),
        "max_epochs": Key(400, "int", "epoch limit per generation", _positive),
        "max_epochs_warm_start": Key(0, "int", "epoch limit of a warm-started generation (0 = max_epochs)", _non_negative),
        "batch_size": Key(16, "int", "structures per Adam step", _positive),
        "val_fraction": Key(0.1, "float", "labels in the validation split (assigned from the structure hash; stable across generations)", _fraction),
        "test_fraction": Key(0.1, "float", "labels in the test split (never trained on)", _fraction),
        "warm_start": Key(True, "bool", "start each member from the previous generation's weights"),
        "threads": Key(0, "int", "torch threads of a training task (0 = half the local cores, or a cluster worker's cores)", _non_negative),
        "device": Key("cpu", "str", "torch device of training ('cpu', 'cuda')"),
        "implementation": Key("fast", "str", "'fast': structures packed once, stopped members skipped; 'current': the earlier trainer (same minibatches and loss; kept for comparison)", choices=("fast", "current")),
        "time_limit_s": Key(7200.0, "float", "wall-time limit of one training task", _positive),
        "max_attempts": Key(2, "int", "attempts per generation before the run stops (the previous model keeps serving meanwhile)", _positive),
    },
    "sampler": {
        "timestep_fs": Key(1.0, "float", "MD time step (paper: 1 fs)", _between(0.05, 10.0)),
        "friction_per_fs": Key(0.01, "float", "Langevin friction", _positive),
        "T_start_K": Key([10.0, 1000.0], "range", "initial background temperature range (Eq. 2)", _range_within(0.0, 1e5)),
        "T_end_K": Key([10.0, 600.0], "range", "final background temperature range (Eq. 2)", _range_within(0.0, 1e5)),
        "T_mod_K": Key([0.0, 2000.0], "range", "modulation amplitude range (Eq. 2)", _range_within(0.0, 1e5)),
        "t0_ps": Key([10.0, 50.0], "range", "modulation period range (Eq. 2)", _range_within(1e-6, 1e6, strictly_positive=True)),
        "t_max_ps": Key(250.0, "float", "maximum trajectory length; also the t_max of Eq. 2", _positive),
        "check_every_steps": Key(10, "int", "uncertainty (and blow-up) check interval, MD steps", _positive),
        "rho_threshold_eV": Key(0.01, "float", "stop when ρ = σ_E/√N exceeds this (eV per √atom; ANI-1x used 0.23 kcal/mol ≈ 0.0100 eV; "
                                "0 = off, then force_spread_threshold_eV_A must be set)", _non_negative),
        "rho_threshold_final_eV": Key(0.0, "float", "threshold ladder: tighten ρ_threshold step by step down to this (0 = a fixed "
                                      "threshold, the paper's); see alal.al.stopping.ThresholdLadder", _non_negative),
        "start_grace_ps": Key(0.0, "float", "start grace (not in the paper): for this long after a trajectory's random start, ρ is "
                              "checked against start_grace_rho_threshold_eV instead (0 = off, the paper); see "
                              "alal.al.uncertainty.rho_threshold_at", _non_negative),
        "start_grace_rho_threshold_eV": Key(0.0, "float", "the start grace's ρ threshold (0 = rho_threshold_eV, a ladder's first rung)",
                                            _non_negative),
        "rho_tighten_factor": Key(0.7, "float", "threshold ladder: each rung is the one before times this", _between(0.05, 0.99)),
        "force_spread_threshold_eV_A": Key(0.0, "float", "also stop when the per-atom force spread (force_spread_statistic over atoms) "
                                           "exceeds this (0 = off)", _non_negative),
        "force_spread_statistic": Key("max", "str", "which force spread force_spread_threshold_eV_A applies to: the maximum over atoms "
                                      "(DP-GEN's model deviation) or the mean over atoms", choices=("max", "mean")),
        "blowup_min_distance_A": Key(1.5, "float", "a nearest-neighbour distance below this (periodic images included) ends the trajectory", _positive),
        "blowup_max_force_eV_A": Key(50.0, "float", "any |F| above this ends the trajectory", _positive),
        "label_blowups": Key(False, "bool", "send the last frame before a blow-up to the oracle"),
        "trajectories_per_task": Key(2, "int", "trajectories run one after another in one sampling task", _positive),
        "dtype": Key("float32", "str", "precision of MD inference", choices=("float32", "float64")),
        "time_limit_s": Key(3600.0, "float", "wall-time limit of one trajectory (a task gets trajectories_per_task times this)", _positive),
        "threads": Key(1, "int", "torch threads of a sampling task", _positive),
        "device": Key("cpu", "str", "torch device of MD inference"),
        "batch_size": Key(32, "int", "trajectories advanced together, one engine call per MD step (batched sampler)", _positive),
    },
    "loop": {
        "bootstrap_structures": Key(400, "int", "random cells labelled before generation 0 (paper: ~400)", _positive),
        "retrain_every_labels": Key(50, "int", "K: retrain when this many new labels arrived since the last training", _positive),
        "stop_window": Key(16, "int", "M: the stop rule looks at the last M finished trajectories", _positive),
        "stop_median_ps": Key(250.0, "float", "t_stop: stop when the median time-to-uncertainty of the last M trajectories reaches this", _positive),
        "tighten_median_ps": Key(0.0, "float", "threshold ladder: go down a rung when the median time-to-uncertainty of the last M "
                                 "trajectories at the current rung reaches this (0 = stop_median_ps)", _non_negative),
        "max_labels": Key(100000, "int", "label budget (bootstrap included)", _positive),
        "max_generations": Key(1000, "int", "generation budget (generation 0 included)", _positive),
        "max_wall_h": Key(1e6, "float", "wall-time budget of the driver (hours, summed over resumes)", _positive),
        "max_failure_fraction": Key(0.25, "float", "stop when failed labelling attempts exceed this fraction of all attempts", _between(0.0, 1.0)),
        "min_attempts_for_failure_stop": Key(20, "int", "the failure fraction is judged only after this many attempts", _positive),
        "max_pending_labels": Key(0, "int", "do not start new trajectories while this many labels are pending (0 = retrain_every_labels)", _non_negative),
        "max_labels_ahead": Key(0, "int", "do not start new trajectories while this many labels (pending included) have arrived since "
                                "the data of the newest training (running or done): sampling waits for the model to catch up "
                                "instead of spending the budget with a stale model (0 = no limit)", _non_negative),
    },
    "diversity": {
        "enabled": Key(True, "bool", "drop near-duplicate candidates before labelling (farthest-point selection on ANI descriptors)"),
        "min_distance": Key(0.02, "float", "candidates closer than this in descriptor distance (per-atom AEV histogram, relative) are duplicates", _non_negative),
    },
    "execution": {
        "profile": Key("local", "str", "'local' (Parsl thread pool sized to this machine; zero config) or the path of a cluster profile TOML"),
        "workers": Key(0, "int", "local: concurrent tasks (0 = physical cores)", _non_negative),
        "python": Key("", "str", "interpreter for task processes ('' = the driver's)"),
    },
    "study.table1": {
        "fcc_cells": Key(3, "int", "FCC supercell repeats of the 4-atom cube (3 → 108 atoms, as the paper)", _between(1, 10)),
        "fcc_lattice_A": Key(4.05, "float", "FCC lattice constant of the heat-cool trajectory", _positive),
        "fcc_T_K": Key([300.0, 1500.0], "range", "heat from low to high and cool back (paper: 300 → 1500 → 300 K)", _range_within(0.0, 1e5)),
        "fcc_duration_ps": Key(30.0, "float", "length of the heat-cool trajectory", _positive),
        "fcc_snapshots": Key(300, "int", "equally spaced snapshots of the heat-cool trajectory (paper: 300)", _positive),
        "liquid_T_K": Key([1200.0, 1600.0, 2000.0], "list_float", "liquid temperatures", None),
        "liquid_density_g_cm3": Key([2.2, 2.35, 2.5], "list_float", "liquid densities (they set the pressures)", None),
        "liquid_snapshots": Key(250, "int", "liquid snapshots in total (paper: 250)", _positive),
        "liquid_equilibration_ps": Key(2.0, "float", "melting and equilibration before liquid snapshots are taken", _positive),
        "liquid_spacing_ps": Key(0.2, "float", "time between liquid snapshots", _positive),
        "timestep_fs": Key(2.0, "float", "MD time step", _between(0.05, 10.0)),
        "md_driver": Key("auto", "str", "who drives the FCC/Melt MD: 'lammps-eam' (Mendelev 2008 EAM in LAMMPS, Al only, fast), 'model' (the AL model, as the paper's Fig. 6), 'oracle'; 'auto' = lammps-eam for Al, model otherwise", choices=("auto", "lammps-eam", "oracle", "model")),
        "seed": Key(7, "int", "seed of the FCC/Melt trajectories", _non_negative),
    },
}

# On resume these may change (the change is applied and recorded in the manifest); any other change is refused.
RESUME_MUTABLE = {
    "loop.*", "execution.*", "trainer.max_epochs", "trainer.patience_epochs", "trainer.threads", "trainer.device",
    "trainer.time_limit_s", "trainer.max_attempts", "trainer.max_epochs_warm_start", "trainer.batch_size", "trainer.learning_rate", "trainer.min_learning_rate",
    "trainer.lr_decay_factor", "trainer.lr_patience_epochs", "trainer.warm_start", "trainer.energy_loss", "trainer.force_weight_A2",
    "trainer.implementation",
    "sampler.*", "diversity.*", "oracle.time_limit_s", "oracle.max_attempts", "oracle.threads", "oracle.mpi_processes",
    "oracle.faults.*", "run.name", "study.table1.*",
}


def _type_check(section: str, key: str, spec: Key, value: Any) -> Any:
    name = f"{section}.{key}"

    def bad(expected: str):
        raise ConfigError(f"config key '{name}': expected {expected}, got {value!r}")

    k = spec.kind
    if k == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            bad("an integer")
    elif k == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad("a number")
        value = float(value)
        if not math.isfinite(value):
            bad("a finite number")
    elif k == "str":
        if not isinstance(value, str):
            bad("a string")
    elif k == "bool":
        if not isinstance(value, bool):
            bad("true or false")
    elif k == "range":
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)):
            bad("[low, high] (two numbers)")
        value = [float(x) for x in value]
    elif k == "list_int":
        if not isinstance(value, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in value):
            bad("a list of integers")
    elif k == "list_float":
        if (not isinstance(value, list) or not value
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)):
            bad("a non-empty list of numbers")
        value = [float(x) for x in value]
        if any(x <= 0 for x in value):
            raise ConfigError(f"config key '{name}': values must be > 0")
    elif k == "list_str":
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            bad("a list of strings")
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"config key '{name}': '{value}' is not one of {', '.join(map(str, spec.choices))}")
    if spec.check is not None:
        msg = spec.check(value)
        if msg:
            raise ConfigError(f"config key '{name}' {msg}")
    return value


def defaults() -> dict[str, dict[str, Any]]:
    return {sec: {k: copy.deepcopy(s.default) for k, s in keys.items()} for sec, keys in SCHEMA.items()}


def _flatten_sections(raw: dict, where: str) -> dict[str, dict]:
    """Turn nested TOML tables into {"oracle.gpaw": {...}}, rejecting unknown sections and keys."""
    out: dict[str, dict] = {}

    def is_group(name: str) -> bool:  # "study" holds only sub-tables ([study.table1])
        return any(k.startswith(name + ".") for k in SCHEMA)

    def walk(prefix: str, table: dict):
        values = {}
        for key, value in table.items():
            full = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                if full in SCHEMA or is_group(full):
                    walk(full, value)
                    continue
                raise ConfigError(f"{where}: unknown section [{full}] (known: {', '.join(SCHEMA)})")
            if not prefix:
                raise ConfigError(f"{where}: key '{key}' must be inside a section such as [run]")
            if prefix not in SCHEMA:
                raise ConfigError(f"{where}: key '{full}' is not known ([{prefix}] only holds sub-sections)")
            if key not in SCHEMA[prefix]:
                known = ", ".join(SCHEMA[prefix])
                raise ConfigError(f"{where}: unknown key '{full}' (known in [{prefix}]: {known})")
            values[key] = value
        if prefix:
            out[prefix] = values

    walk("", raw)
    return out


@dataclass
class ALConfig:
    """A validated configuration: ``cfg.section("sampler")["t_max_ps"]`` or ``cfg["sampler.t_max_ps"]``."""

    values: dict[str, dict[str, Any]]
    source: str = ""

    def section(self, name: str) -> dict[str, Any]:
        return self.values[name]

    def __getitem__(self, dotted: str) -> Any:
        section, _, key = dotted.rpartition(".")
        return self.values[section][key]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.values)

    def oracle_settings(self) -> dict[str, Any]:
        """What defines a label (changes here make labels incomparable): the oracle kind and its physics."""
        o = self.values["oracle"]
        settings = {"kind": o["kind"]}
        if o["kind"] == "potential":
            from alal.al.oracle import potential_identity

            settings.update(potential_identity(o["name"]))
        if o["kind"] == "gpaw":
            g = self.values["oracle.gpaw"]
            settings.update({k: g[k] for k in g if not k.startswith("retry_")})
        return settings


def from_dict(raw: dict, *, where: str = "config") -> ALConfig:
    values = defaults()
    for section, table in _flatten_sections(raw, where).items():
        for key, value in table.items():
            values[section][key] = _type_check(section, key, SCHEMA[section][key], value)
    _cross_checks(values, where)
    return ALConfig(values=values, source=where)


def _cross_checks(v: dict, where: str) -> None:
    s, loop, tr = v["sampler"], v["loop"], v["trainer"]
    if loop["stop_median_ps"] > s["t_max_ps"]:
        raise ConfigError(
            f"{where}: loop.stop_median_ps ({loop['stop_median_ps']}) exceeds sampler.t_max_ps ({s['t_max_ps']}): "
            "trajectories end at t_max, so the stop rule could never be met"
        )
    if s["rho_threshold_eV"] <= 0 and s["force_spread_threshold_eV_A"] <= 0:
        raise ConfigError(f"{where}: sampler.rho_threshold_eV and sampler.force_spread_threshold_eV_A are both 0: nothing would ever "
                          "stop a trajectory as uncertain (set at least one)")
    if s["rho_threshold_final_eV"] > s["rho_threshold_eV"]:
        raise ConfigError(f"{where}: sampler.rho_threshold_final_eV ({s['rho_threshold_final_eV']}) exceeds sampler.rho_threshold_eV "
                          f"({s['rho_threshold_eV']}): the threshold ladder only tightens")
    if s["rho_threshold_final_eV"] > 0 and s["rho_threshold_eV"] <= 0:
        raise ConfigError(f"{where}: sampler.rho_threshold_final_eV needs sampler.rho_threshold_eV > 0 (the ladder's first rung)")
    if s["start_grace_ps"] > 0:
        if s["rho_threshold_eV"] <= 0:
            raise ConfigError(f"{where}: sampler.start_grace_ps needs sampler.rho_threshold_eV > 0 (the grace loosens the ρ check)")
        if 0 < s["start_grace_rho_threshold_eV"] < s["rho_threshold_eV"]:
            raise ConfigError(f"{where}: sampler.start_grace_rho_threshold_eV ({s['start_grace_rho_threshold_eV']}) is below "
                              f"sampler.rho_threshold_eV ({s['rho_threshold_eV']}): the start grace only loosens the check")
        if s["start_grace_ps"] >= s["t_max_ps"]:
            raise ConfigError(f"{where}: sampler.start_grace_ps ({s['start_grace_ps']}) is not below sampler.t_max_ps "
                              f"({s['t_max_ps']}): the whole trajectory would be in grace")
    laddered = 0 < s["rho_threshold_final_eV"] < s["rho_threshold_eV"]
    if laddered and loop["tighten_median_ps"] > s["t_max_ps"]:
        raise ConfigError(f"{where}: loop.tighten_median_ps ({loop['tighten_median_ps']}) exceeds sampler.t_max_ps ({s['t_max_ps']}): "
                          "the threshold ladder could never go down a rung")
    if 0 < loop["max_labels_ahead"] < loop["retrain_every_labels"]:
        raise ConfigError(
            f"{where}: loop.max_labels_ahead ({loop['max_labels_ahead']}) is below loop.retrain_every_labels "
            f"({loop['retrain_every_labels']}): sampling would stop before enough labels arrive for the next training")
    if tr["val_fraction"] + tr["test_fraction"] >= 0.9:
        raise ConfigError(f"{where}: trainer.val_fraction + trainer.test_fraction must leave labels to train on (< 0.9)")
    if tr["val_fraction"] <= 0:
        raise ConfigError(f"{where}: trainer.val_fraction must be > 0 (early stopping needs a validation split)")
    if tr["min_learning_rate"] > tr["learning_rate"]:
        raise ConfigError(f"{where}: trainer.min_learning_rate exceeds trainer.learning_rate")
    b = v["builder"]
    if b["r_min_A"] >= b["side_A"][0] / 2:
        raise ConfigError(f"{where}: builder.r_min_A must be below half the smallest cell side")
    if s["check_every_steps"] * s["timestep_fs"] * 1e-3 > s["t_max_ps"]:
        raise ConfigError(f"{where}: sampler.check_every_steps × timestep_fs exceeds sampler.t_max_ps")
    if v["run"]["element"] != "Al" and v["oracle"]["kind"] == "emt":
        from ase.calculators.emt import parameters

        if v["run"]["element"] not in parameters:
            raise ConfigError(f"{where}: run.element '{v['run']['element']}' has no EMT parameters")
    if v["oracle"]["kind"] == "potential" and not v["oracle"]["name"].strip():
        raise ConfigError(f"{where}: oracle.kind = 'potential' needs oracle.name (e.g. \"ani-al\", a model directory "
                          "or 'package.module:callable')")
    if v["oracle"]["kind"] != "potential" and v["oracle"]["name"]:
        raise ConfigError(f"{where}: oracle.name is only used with oracle.kind = 'potential' (kind is "
                          f"'{v['oracle']['kind']}')")
    t1 = v["study.table1"]
    if len(t1["liquid_T_K"]) == 0 or len(t1["liquid_density_g_cm3"]) == 0:
        raise ConfigError(f"{where}: study.table1 needs liquid temperatures and densities")


def load(path: str | os.PathLike) -> ALConfig:
    """Read and validate a TOML configuration file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file '{path}' is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file '{path}' is not a text file") from None
    return from_dict(raw, where=f"config '{path}'")


def diff(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """Keys whose values differ between two resolved configurations: [(dotted key, old, new)]."""
    changes = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                changes.append((f"{section}.{key}", a.get(key), b.get(key)))
    return changes


def is_resume_mutable(dotted: str) -> bool:
    section = dotted.rpartition(".")[0]
    return dotted in RESUME_MUTABLE or f"{section}.*" in RESUME_MUTABLE


def schema_table() -> str:
    """Markdown table of every key (for the README)."""
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            lines.append(f"| `{section}.{key}` | `{spec.default}` | {spec.help} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(schema_table())


def undotted(values: dict) -> dict:
    """{"oracle.gpaw": {...}} -> {"oracle": {"gpaw": {...}}}: the manifest's dotted sections in the TOML shape."""
    out: dict = {}
    for section, table in values.items():
        node = out
        for part in section.split("."):
            node = node.setdefault(part, {})
        node.update(table)
    return out
