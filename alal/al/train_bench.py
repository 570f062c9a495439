"""Throughput of the ensemble trainer: the current and the fast path, and the bound set by the networks.

The unit is member-atoms per second: atoms of the training split times the members still training, per
second of epoch wall time (training steps and validation). A member that stopped early counts for nothing
in either path (the current path still computes it; that is the waste the fast path removes).

The bound, :func:`networks_bound_member_atoms_per_s`, is the time of the networks alone on the same AEVs
and batches: forward, dE/dAEV with a graph, and the backward pass of the energy plus a force-like term
through that graph (the double backward) — no Jacobian contraction, batch assembly or optimizer step.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from alal.al.trainer import Ensemble, PackedStructure, Sample, TrainSettings, train
from alal.potentials.ani_model import AEVParameters


def split(samples: list[Sample], val_fraction: float = 0.1) -> tuple[list[Sample], list[Sample]]:
    """Fixed train/validation split: every ``1/val_fraction``-th structure validates."""
    step = max(int(round(1 / val_fraction)), 2)
    return [s for i, s in enumerate(samples) if i % step], [s for i, s in enumerate(samples) if not i % step]


def networks_bound_member_atoms_per_s(samples: list[Sample], settings: TrainSettings, *, repeats: int = 2) -> float:
    """Member-atoms/s of the ensemble's network forward + double backward alone, in training-sized batches.

    Best of ``repeats`` passes over ``samples``.
    """
    import torch

    dims = [samples[0].features.aev.shape[1], *settings.hidden_layers, 1]
    M = settings.n_members
    ens = Ensemble(dims, M, settings.celu_alpha, list(range(M)), torch, settings.device)
    params = [p for m in range(M) for p in ens.parameters(m)]
    bs = settings.batch_size
    aevs = [torch.as_tensor(np.concatenate([s.features.aev for s in samples[k: k + bs]]), device=settings.device)
            for k in range(0, len(samples), bs)]
    gen = torch.Generator().manual_seed(0)
    # a fixed direction for dE/dAEV stands in for the force residual pushed through the Jacobian
    directions = [torch.randn(M, *a.shape, generator=gen).to(settings.device) * 1e-2 for a in aevs]
    n_atoms = sum(a.shape[0] for a in aevs)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for a, v in zip(aevs, directions):
            x = a.unsqueeze(0).expand(M, -1, -1).clone().requires_grad_(True)
            e = ens.atomic_energies(x)
            (g,) = torch.autograd.grad(e.sum(), x, create_graph=True)
            for p in params:
                p.grad = None
            (e.sum() + (g * v).sum()).backward()
        best = min(best, time.perf_counter() - t0)
    return M * n_atoms / best


def packed_bytes_per_atom(samples: list[Sample]) -> float:
    """Memory of the fast path's packed tensors (AEV, Jacobian, indices, labels) per atom of ``samples``."""
    import torch

    n = samples[0].features.aev.shape[1]
    shift, scale = torch.zeros(n), torch.ones(n)
    total = sum(PackedStructure(s, torch, "cpu", 0.0, shift, scale).nbytes() for s in samples)
    return total / sum(s.n_atoms for s in samples)


def benchmark_trainer(samples: list[Sample], settings: TrainSettings, *, epochs: int,
                      aev: AEVParameters | None = None, element: str = "Al") -> dict:
    """Train ``epochs`` epochs with each path on the same split, seeds and data seed; throughput and losses.

    Returns ``{"current": {...}, "fast": {...}, "networks_bound_member_atoms_per_s": x, ...}`` where each
    path has ``member_atoms_per_s`` and ``seconds_per_epoch`` (steady state: epochs after the first, which
    also builds the current path's per-structure layouts), ``first_epoch_s``, ``train_wall_s`` (the whole
    call, packing included), ``final_val_loss`` (mean over members of the best validation loss, eV²),
    ``val_loss_per_member``, ``epochs`` and ``networks_bound_member_atoms_per_s`` (the same bound for
    both: it does not depend on the path).
    """
    aev = aev or AEVParameters.ani_al()
    tr, va = split(samples)
    n_train_atoms = sum(s.n_atoms for s in tr)
    seeds = list(range(settings.n_members))
    bound = networks_bound_member_atoms_per_s(tr, settings)
    out: dict = {"n_train": len(tr), "n_val": len(va), "n_train_atoms": n_train_atoms,
                 "networks_bound_member_atoms_per_s": bound, "packed_bytes_per_atom": packed_bytes_per_atom(tr)}
    for impl in ("current", "fast"):
        s = dataclasses.replace(settings, implementation=impl, max_epochs=epochs)
        _, report = train(tr, va, s, aev=aev, element=element, seeds=seeds, data_seed=0)
        active_at_start = [settings.n_members] + [h["active"] for h in report.history[:-1]]
        epoch_s = [h["epoch_s"] for h in report.history]
        steady = slice(1, None) if len(epoch_s) > 1 else slice(None)
        out[impl] = {
            "member_atoms_per_s": n_train_atoms * sum(active_at_start[steady]) / sum(epoch_s[steady]),
            "seconds_per_epoch": float(np.mean(epoch_s[steady])),
            "first_epoch_s": epoch_s[0],
            "train_wall_s": report.wall_s,
            "final_val_loss": float(np.mean(report.best_val_loss)),
            "val_loss_per_member": report.best_val_loss,
            "epochs": report.epochs,
            "networks_bound_member_atoms_per_s": bound,
        }
    return out
