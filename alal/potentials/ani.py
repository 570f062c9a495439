"""ASE calculator for ANI ensembles (the published ANI-Al and models our trainer writes).

The calculator is engine-agnostic: an *engine* turns a structure into per-member energies, mean forces and
mean stress. ``engine="torchani"`` is the reference implementation (torchani's own modules);
``engine="alal"`` is the fast engine in :mod:`alal.potentials.engine` when it is available.

Besides ``energy``, ``forces`` and ``stress`` the calculator returns, in ``calc.results``:
  ``member_energies``  (n_members,) total energy of each ensemble member, eV
  ``energy_std``       standard deviation of the member energies, eV (the ensemble spread)
  ``energies``         per-atom energies (ensemble mean), eV, when the engine provides them
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from alal.errors import AlalError
from alal.potentials.ani_model import ANIModel
from alal.potentials.engine.result import EngineResult
from alal.potentials.inputs import check_structure


class TorchaniEngine:
    """Reference engine: torchani's AEV computer and networks, autograd for forces and stress."""

    name = "torchani"

    def __init__(self, model: ANIModel, *, dtype: str = "float64", device: str = "cpu"):
        import torch

        from alal.potentials.ani_model import to_torchani

        self.torch = torch
        self.model = model
        self.dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
        self.device = torch.device(device)
        self.ani = to_torchani(model, dtype=self.dtype, device=str(self.device))
        self.ani.eval()
        self.unit = model.energy_unit_eV
        self.species_index = {sp: i for i, sp in enumerate(model.species)}

    def evaluate(self, atoms, *, forces: bool = True, stress: bool = False, member_forces: bool = False) -> EngineResult:
        torch = self.torch
        numbers = torch.tensor(atoms.get_atomic_numbers(), dtype=torch.long, device=self.device).unsqueeze(0)
        coords = torch.tensor(atoms.get_positions(), dtype=self.dtype, device=self.device).unsqueeze(0)
        pbc_any = bool(np.any(atoms.pbc))
        cell = torch.tensor(atoms.cell.array, dtype=self.dtype, device=self.device) if pbc_any else None
        pbc = torch.tensor(atoms.pbc, dtype=torch.bool, device=self.device) if pbc_any else None
        if stress and not all(atoms.pbc):
            raise AlalError("stress needs a structure periodic in all three directions")
        coords.requires_grad_(forces or member_forces)
        strain = None
        if stress:
            strain = torch.zeros(3, 3, dtype=self.dtype, device=self.device, requires_grad=True)
            deform = torch.eye(3, dtype=self.dtype, device=self.device) + 0.5 * (strain + strain.T)
            coords_d = coords @ deform
            cell_d = cell @ deform
        else:
            coords_d, cell_d = coords, cell
        out = self.ani((numbers, coords_d), cell=cell_d, pbc=pbc, ensemble_values=True)
        member_e = out.energies.reshape(-1) * self.unit  # (M,)
        mean_e = member_e.mean()
        result = EngineResult(member_energies=member_e.detach().cpu().double().numpy())
        wrt = [t for t, want in ((coords, forces or member_forces), (strain, stress)) if want]
        if wrt:
            grads = torch.autograd.grad(mean_e, wrt, retain_graph=member_forces)
            k = 0
            if forces or member_forces:
                result.forces = -grads[0][0].detach().cpu().double().numpy()
                k = 1
            if stress:
                volume = abs(float(np.linalg.det(atoms.cell.array)))
                result.stress = grads[k].detach().cpu().double().numpy() / volume
        if member_forces:
            mf = []
            for m in range(member_e.shape[0]):
                (g,) = torch.autograd.grad(member_e[m], coords, retain_graph=m < member_e.shape[0] - 1)
                mf.append(-g[0].detach().cpu().double().numpy())
            result.member_forces = np.stack(mf)
        return result


def make_engine(model: ANIModel, engine: str, dtype: str, device: str, **options):
    """``options`` go to the fast engine (e.g. ``skin``, ``backend``); the torchani engine takes none."""
    if engine == "torchani":
        if options:
            raise AlalError(f"the torchani engine takes no engine options (got {', '.join(options)})")
        return TorchaniEngine(model, dtype=dtype, device=device)
    if engine == "alal":
        try:
            from alal.potentials.engine import FastANIEngine
        except ImportError as exc:  # the fast engine is optional until it lands
            raise AlalError(f"the fast ANI engine is not available ({exc}); use engine='torchani'") from exc
        return FastANIEngine(model, dtype=dtype, device=device, **options)
    raise AlalError(f"unknown ANI engine '{engine}' (choose 'alal' or 'torchani')")


class ANICalculator(Calculator):
    """ASE calculator over an ANI ensemble; see the module docstring for the extra results."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(self, model: ANIModel, *, engine: str = "torchani", dtype: str = "float64", device: str = "cpu",
                 member_forces: bool = False, engine_options: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        if dtype not in ("float32", "float64"):
            raise AlalError(f"dtype must be 'float32' or 'float64', not '{dtype}'")
        self.model = model
        self.engine_name = engine
        self.dtype = dtype
        self.device = device
        self.want_member_forces = member_forces
        self.engine = make_engine(model, engine, dtype, device, **(engine_options or {}))

    @property
    def n_members(self) -> int:
        return self.model.n_members

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if not getattr(self.engine, "checks_structure", False):
            # engines that check inputs themselves (the fast engine, from its own neighbour list) skip this:
            # check_structure's ASE neighbour list costs as much as a whole fast force evaluation
            check_structure(atoms, tuple(self.model.species))
        want_stress = "stress" in properties
        res = self.engine.evaluate(
            atoms,
            forces=True,
            stress=want_stress,
            member_forces=self.want_member_forces,
        )
        energy = float(np.mean(res.member_energies))
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["member_energies"] = res.member_energies
        self.results["energy_std"] = float(np.std(res.member_energies))
        if res.forces is not None:
            if not np.all(np.isfinite(res.forces)):
                raise AlalError("the ANI engine returned non-finite forces")
            self.results["forces"] = res.forces
        if res.stress is not None:
            s = res.stress
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        if res.member_forces is not None:
            self.results["member_forces"] = res.member_forces
            spread = np.linalg.norm(res.member_forces.std(axis=0), axis=1)  # per-atom force spread, eV/Å
            self.results["force_std_per_atom"] = spread
        if res.atomic_energies is not None:
            self.results["energies"] = res.atomic_energies.mean(axis=0)
            self.results["member_atomic_energies"] = res.atomic_energies
