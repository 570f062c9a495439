"""The ensemble's networks stacked for one batched pass, with a hand-written backward to the AEV.

All M members see the same AEVs, so the first layers of every member form one (F -> M*h1) matrix: one
GEMM. Deeper layers are block-diagonal: one batched GEMM (``baddbmm``) per layer. The backward needs only
the input gradient (no weight gradients), so it is one ``bmm`` per layer plus the activation derivative,
computed from the stored activation: celu'(z) = min(celu(z)/alpha + 1, 1). No autograd graph is built.
Per-atom, per-member outputs come out of the forward pass for free; per-member input gradients cost one
batched GEMM more than the mean's.
"""

from __future__ import annotations

import numpy as np
import torch

from alal.potentials.ani_model import ANIModel


class SpeciesStack:
    """One species' M networks as stacked tensors."""

    def __init__(self, layers_per_member: list[list[tuple[np.ndarray, np.ndarray]]], dtype, device):
        M = len(layers_per_member)
        n_layers = len(layers_per_member[0])
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device)  # noqa: E731
        first = [member[0] for member in layers_per_member]
        self.M = M
        self.h1 = first[0][0].shape[0]
        self.w1 = t(np.concatenate([w for w, _ in first], axis=0))  # (M*h1, F)
        self.b1 = t(np.concatenate([b for _, b in first], axis=0))  # (M*h1,)
        self.w1_members = self.w1.view(M, self.h1, -1)  # (M, h1, F) for per-member input gradients
        self.deeper = []  # [(W^T (M, in, out), b (M, 1, out), W (M, out, in))]
        for k in range(1, n_layers):
            w = t(np.stack([member[k][0] for member in layers_per_member]))  # (M, out, in)
            b = t(np.stack([member[k][1] for member in layers_per_member]))  # (M, out)
            self.deeper.append((w.transpose(1, 2).contiguous(), b.unsqueeze(1).contiguous(), w.contiguous()))


class EnsembleNetworks:
    def __init__(self, model: ANIModel, dtype: torch.dtype, device: torch.device):
        if model.activation != "celu":
            raise ValueError(f"activation '{model.activation}' is not supported (celu only)")
        self.alpha = float(model.celu_alpha)
        self.n_members = model.n_members
        self.stacks = [
            SpeciesStack([member[sp] for member in model.members], dtype, device) for sp in model.species
        ]

    def _celu_grad(self, a: torch.Tensor) -> torch.Tensor:
        return (a * (1.0 / self.alpha) + 1.0).clamp_(max=1.0)

    def evaluate(self, aev: torch.Tensor, species: torch.Tensor | None, *, grad: str | None):
        """Outputs (M, N) of every member for every atom, and, when ``grad`` is ``"mean"`` or ``"members"``,
        d(output summed over atoms)/d(AEV): (1, N, F) averaged over members, or (M, N, F) per member.
        ``species`` None means every atom is species 0."""
        N, F = aev.shape
        out = aev.new_empty((self.n_members, N))
        grads = None
        if grad is not None:
            grads = aev.new_zeros((1 if grad == "mean" else self.n_members, N, F))
        for s, stack in enumerate(self.stacks):
            if species is None:
                if s > 0:
                    break
                idx = None
                x = aev
            else:
                idx = torch.nonzero(species == s).flatten()
                if idx.numel() == 0:
                    continue
                x = aev.index_select(0, idx)
            o, gx = self._species_pass(stack, x, grad)
            if idx is None:
                out.copy_(o)
                if gx is not None:
                    grads.copy_(gx)
            else:
                out[:, idx] = o
                if gx is not None:
                    grads[:, idx] = gx
        return out, grads

    def _species_pass(self, st: SpeciesStack, x: torch.Tensor, grad: str | None):
        n = x.shape[0]
        M = st.M
        z = torch.addmm(st.b1, x, st.w1.t())  # (n, M*h1)
        a = torch.nn.functional.celu(z, alpha=self.alpha)
        h = a.view(n, M, st.h1).transpose(0, 1)  # (M, n, h1)
        acts = [h]
        for wt, b, _w in st.deeper[:-1]:
            h = torch.nn.functional.celu(torch.baddbmm(b, h, wt), alpha=self.alpha)
            acts.append(h)
        wt_last, b_last, w_last = st.deeper[-1]
        out = torch.baddbmm(b_last, h, wt_last).squeeze(2)  # (M, n)
        if grad is None:
            return out, None
        # backward of sum_atoms(output_m) for each member m
        d = w_last.expand(M, n, w_last.shape[2]) * self._celu_grad(acts[-1])  # (M, n, h_last)
        for (_wt, _b, w), act in zip(reversed(st.deeper[:-1]), reversed(acts[:-1])):
            d = torch.bmm(d, w) * self._celu_grad(act)
        if grad == "mean":
            flat = d.transpose(0, 1).reshape(n, M * st.h1)  # (n, M*h1)
            gx = torch.mm(flat, st.w1).unsqueeze(0) * (1.0 / M)
        else:
            gx = torch.bmm(d, st.w1_members)  # (M, n, F)
        return out, gx
