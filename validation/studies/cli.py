"""`alal md-study liquid-density|diffusion`: MD protocol studies on one potential, from independent seeds."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from validation.studies.liquid_density import T_DEFAULT_K, VARIANTS

    p.add_argument("study", choices=["liquid-density", "diffusion"],
                   help="liquid-density: the density at one temperature from the quick tier's protocol and from variants "
                        "that each change one factor (" + ", ".join(v.name for v in VARIANTS[1:]) + "), independent seeds; "
                        "diffusion: the liquid's self-diffusion coefficient at 980, 1020, 1060 K against neutron scattering, "
                        "with the Yeh-Hummer finite-size correction")
    p.add_argument("--potential", default="ani-al", help="registry name or model path (default ani-al)")
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
