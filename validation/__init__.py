"""alal's validation suite. Python entry point: :func:`validate`; command line: ``alal validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def validate(potentials: Any, properties: list[str] | str | None = None, tier: str = "quick",
             out: str | Path | None = None, *, seed: int = 20210301, report: bool = True, quiet: bool = False,
             potential_options: dict | None = None, against: Any = None, execution: str | Path | None = None) -> dict:
    """Validate one or more potentials; return the results dict (the content of ``results.json``).

    ``potentials``: a registry name (``"ani-al"``), a model path, ``"package.module:callable"``, an entry point
    of the group ``alal.potentials``, an ASE calculator, a zero-argument factory returning one, or a list of
    these, or a dict ``label -> any of these`` (labels become the keys in the results). ``properties``: names
    (list or comma-separated string; default: every property of the tier). With ``out``, writes
    ``results.json``, ``report.html``, ``report.pdf`` (unless ``report=False``), ``alal.log`` and
    ``structures/`` there, exactly like ``alal validate --out``. ``against``: a reference potential (any of the
    forms above) that every other potential is compared with, property by property, with tolerances and
    verdicts (``results["potentials"][label]["against"][oracle]``; ``alal validate --against``). ``execution``: a
    cluster profile (TOML, e.g. ``configs/cluster-slurm.toml``) whose ``validate`` executor runs each independent
    piece as a Parsl task (``alal validate --execution``; see :mod:`validation.distributed`); the results are the
    same as without it. Potentials must then be given as strings (names, paths, ``module:callable``).

    Example::

        from ase.calculators.emt import EMT
        from validation import validate
        results = validate({"my-emt": EMT()}, ["eos", "elastic"], out="reports/mine")
        results["potentials"]["my-emt"]["elastic"]["C11_GPa"]
    """
    from validation.runner import run_validation

    if isinstance(properties, str):
        properties = [p.strip() for p in properties.split(",") if p.strip()]
    log = (lambda message: None) if quiet else (lambda message: print(message, flush=True))
    return run_validation(potentials, properties, out=Path(out) if out is not None else None, tier=tier,
                          seed=seed, render=report, log=log, potential_options=potential_options,
                          against=against, execution=execution)


__all__ = ["validate"]
