"""`alal md-study liquid-density|diffusion|melt-curve`: MD protocol studies, from independent seeds."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from validation.studies.liquid_density import T_DEFAULT_K, VARIANTS

    p.add_argument("study", choices=["liquid-density", "diffusion", "melt-curve"],
                   help="liquid-density: the density at one temperature from the quick tier's protocol and from variants "
                        "that each change one factor (" + ", ".join(v.name for v in VARIANTS[1:]) + "), independent seeds; "
                        "diffusion: the liquid's self-diffusion coefficient at 980, 1020, 1060 K against neutron scattering, "
                        "with the Yeh-Hummer finite-size correction; melt-curve: Tm(P) from solid-liquid coexistence at 0-50 GPa "
                        "for one or more potentials")
    p.add_argument("--potential", default=None, help="registry name or model path (default ani-al); melt-curve: comma-separated "
                   "names (default ani-al,eam-mendelev2008,eam-mishin1999)")
    p.add_argument("--pressures", default=None, help="melt-curve: comma-separated pressures in GPa (default 0,5,10,20,30,50)")
    p.add_argument("--nph-ps", type=float, default=None, help="melt-curve: coexistence (NPH) length per attempt (default 10 ps; the last 40 %% averaged)")
    p.add_argument("--out", default=None, help="output folder (default reports/studies/STUDY); a rerun continues the pieces "
                   "already there")
    p.add_argument("--seeds", type=int, default=3, help="independent seeds per variant (default 3)")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--T-K", type=float, default=None, help=f"liquid-density: temperature (default {T_DEFAULT_K:g} K); "
                   "diffusion: one temperature instead of 980, 1020 and 1060 K")
    p.add_argument("--variants", default=None, help="liquid-density: comma-separated variant names (default all; the baseline "
                   "is always run)")
    p.add_argument("--production-ps", type=float, default=None, help="production length per seed (default 10 ps)")
    p.add_argument("--equil-ps", type=float, default=None, help="equilibration length per seed (liquid-density: NPT, default "
                   "3 ps; diffusion: NPT, default 4 ps)")
    p.add_argument("--melt-ps", type=float, default=None, help="melt length per seed at 2000 K (default 1.5 ps)")
    p.add_argument("--nvt-equil-ps", type=float, default=None, help="diffusion: NVT equilibration at the NPT volume (default 1 ps)")
    p.add_argument("--quiet", action="store_true")


def run(args) -> int:
    from dataclasses import replace

    echo = (lambda m: None) if args.quiet else (lambda m: print(m, flush=True))
    out = Path(args.out or f"reports/studies/{args.study}")
    if args.study == "melt-curve":
        return _melt_curve(args, out, echo)
    args.potential = args.potential or "ani-al"
    if args.pressures is not None or args.nph_ps is not None:
        from alal.errors import AlalError

        raise AlalError("--pressures and --nph-ps are for the melt-curve study")
    if args.study == "diffusion":
        return _diffusion(args, out, echo)

    from alal.errors import AlalError
    from validation.studies.liquid_density import BASELINE, T_DEFAULT_K, VARIANTS, Lengths, study

    by_name = {v.name: v for v in VARIANTS}
    if args.variants:
        names = [n.strip() for n in args.variants.split(",") if n.strip()]
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise AlalError(f"--variants: unknown {', '.join(unknown)} (choose from {', '.join(by_name)})")
        variants = tuple(by_name[n] for n in dict.fromkeys([BASELINE.name, *names]))
    else:
        variants = VARIANTS
    lengths = Lengths()
    if args.production_ps is not None:
        lengths = replace(lengths, production_ps=args.production_ps)
    if args.equil_ps is not None:
        lengths = replace(lengths, equil_ps=args.equil_ps)
    if args.melt_ps is not None:
        lengths = replace(lengths, melt_ps=args.melt_ps)
    study(args.potential, out, variants=variants, n_seeds=args.seeds, first_seed=args.first_seed,
          T_K=args.T_K if args.T_K is not None else T_DEFAULT_K, lengths=lengths, echo=echo)
    print((out / "liquid_density.md").read_text())
    return 0


def _diffusion(args, out: Path, echo) -> int:
    from dataclasses import replace

    from alal.errors import AlalError
    from validation.studies.diffusion import TEMPERATURES_K, Protocol, study

    if args.variants:
        raise AlalError("--variants is for the liquid-density study")
    protocol = Protocol()
    for arg, key in (("production_ps", "production_ps"), ("equil_ps", "npt_ps"), ("melt_ps", "melt_ps"),
                     ("nvt_equil_ps", "nvt_equil_ps")):
        if getattr(args, arg) is not None:
            protocol = replace(protocol, **{key: getattr(args, arg)})
    temps = (args.T_K,) if args.T_K is not None else TEMPERATURES_K
    study(args.potential, out, temperatures=temps, n_seeds=args.seeds, first_seed=args.first_seed, protocol=protocol,
          echo=echo)
    print((out / "diffusion.md").read_text())
    return 0


def _melt_curve(args, out: Path, echo) -> int:
    from alal.errors import AlalError
    from validation.studies.melt_curve import POTENTIALS, PRESSURES_GPA, protocol, study

    for arg in ("variants", "production_ps", "equil_ps", "melt_ps", "nvt_equil_ps", "T_K"):
        if getattr(args, arg) is not None:
            raise AlalError(f"--{arg.replace('_', '-')} is not a melt-curve option")
    names = [n.strip() for n in args.potential.split(",") if n.strip()] if args.potential else list(POTENTIALS)
    try:
        pressures = ([float(x) for x in args.pressures.split(",") if x.strip()] if args.pressures is not None
                     else list(PRESSURES_GPA))
    except ValueError as exc:
        raise AlalError(f"--pressures: comma-separated numbers in GPa, not '{args.pressures}'") from exc
    # a shorter or longer NPH run keeps the default's averaging share (the last 40 %)
    settings = protocol(**({"nph_ps": args.nph_ps, "average_last_ps": 0.4 * args.nph_ps} if args.nph_ps is not None else {}))
    study(names, out, pressures=pressures, n_seeds=args.seeds, first_seed=args.first_seed, settings=settings, echo=echo)
    print((out / "melt_curve.md").read_text())
    return 0
