"""Shared figure style: one colour and label per potential, consistent across every figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KNOWN = {
    "ani-al": ("ANI-Al", "#d62728"),
    "eam-mishin1999": ("EAM Mishin 1999", "#1f77b4"),
    "eam-mendelev2008": ("EAM Mendelev 2008", "#2ca02c"),
    "eam-zhou2001": ("EAM Zhou 2001", "#9467bd"),
    "emt": ("EMT (ASE)", "#7f7f7f"),
}
EXTRA_COLOURS = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
DFT_STYLE = dict(marker="o", mfc="none", mec="black", ls="none", color="black")
EXPERIMENT_COLOUR = "black"


def label(name: str) -> str:
    return KNOWN.get(name, (name, None))[0]


def colour(name: str, order: list[str] | None = None) -> str:
    if name in KNOWN:
        return KNOWN[name][1]
    unknown = [n for n in (order or [name]) if n not in KNOWN]
    idx = unknown.index(name) if name in unknown else 0
    return EXTRA_COLOURS[idx % len(EXTRA_COLOURS)]


def new_figure(width: float = 7.0, height: float = 4.2, ncols: int = 1, nrows: int = 1, **kw):
    plt.rcParams.update({"font.size": 9, "axes.grid": True, "grid.alpha": 0.3, "savefig.dpi": 150})
    return plt.subplots(nrows, ncols, figsize=(width, height), **kw)


def save(fig, path) -> None:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
