"""ANI ensemble models as plain data: read NeuroChem files, read/write alal model directories, build torchani.

One in-memory representation (:class:`ANIModel`) serves every consumer: the fast engine, the torchani
reference path, and the trainer (which writes model directories in the same format).

An alal model directory holds
  ``alal_model.json``  format tag, species, AEV parameters, self energies, activation, layer sizes, provenance
  ``weights.npz``      arrays ``m{member}.{species}.W{layer}`` (out x in) and ``m{member}.{species}.b{layer}``
Energies of a model directory are in eV (``energy_unit_eV`` = 1); NeuroChem networks output Hartree
(``energy_unit_eV`` = 27.211386...). Total energy = energy_unit_eV * (sum_i NN_species(i)(AEV_i) + sum_i sae_i).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from alal.errors import AlalError

HARTREE_TO_EV = 27.211386024367243  # the value torchani uses (torchani.units.HARTREE_TO_EV)
MODEL_FORMAT = "alal-ani-v1"
MODEL_JSON = "alal_model.json"
WEIGHTS_NPZ = "weights.npz"


@dataclass
class AEVParameters:
    """ANI atomic environment vector settings (Smith et al. 2017 modified Behler-Parrinello functions)."""

    radial_cutoff: float
    angular_cutoff: float
    radial_eta: float
    radial_shifts: list[float]
    angular_eta: float
    angular_zeta: float
    angular_shifts: list[float]
    angle_sections: list[float]

    @classmethod
    def ani_al(cls) -> "AEVParameters":
        """The ANI-Al settings (rAl-7.0R_32-5.0A_a8-8.params): 32 radial + 8x8 angular terms = 96 inputs."""
        return cls(
            radial_cutoff=7.0,
            angular_cutoff=5.0,
            radial_eta=43.9,
            radial_shifts=[float(x) for x in np.linspace(1.25, 6.8203125, 32)],
            angular_eta=6.5,
            angular_zeta=69.4,
            angular_shifts=[float(x) for x in np.linspace(1.25, 4.53125, 8)],
            angle_sections=[float(x) for x in (np.arange(8) + 0.5) * np.pi / 8],
        )

    def n_features(self, n_species: int = 1) -> int:
        n_pairs = n_species * (n_species + 1) // 2
        return n_species * len(self.radial_shifts) + n_pairs * len(self.angular_shifts) * len(self.angle_sections)


@dataclass
class ANIModel:
    """An ensemble of ANI networks with its descriptor and self energies."""

    species: list[str]
    aev: AEVParameters
    self_energies: dict[str, float]  # in network output units
    # members[m][species] = [(W_0, b_0), (W_1, b_1), ...], W of shape (out, in)
    members: list[dict[str, list[tuple[np.ndarray, np.ndarray]]]]
    activation: str = "celu"
    celu_alpha: float = 0.1
    energy_unit_eV: float = 1.0
    name: str = "ani-model"
    citation: str = ""
    source_files: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def n_members(self) -> int:
        return len(self.members)

    def layer_sizes(self, species: str | None = None) -> list[int]:
        layers = self.members[0][species or self.species[0]]
        return [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]

    def validate(self) -> None:
        n_in = self.aev.n_features(len(self.species))
        for m, member in enumerate(self.members):
            for sp in self.species:
                if sp not in member:
                    raise AlalError(f"model '{self.name}': member {m} has no network for species {sp}")
                layers = member[sp]
                if layers[0][0].shape[1] != n_in:
                    raise AlalError(
                        f"model '{self.name}': member {m} {sp} network takes {layers[0][0].shape[1]} inputs, "
                        f"the AEV has {n_in}"
                    )
                if layers[-1][0].shape[0] != 1:
                    raise AlalError(f"model '{self.name}': member {m} {sp} network must end in one output")
        if self.activation != "celu":
            raise AlalError(f"model '{self.name}': activation '{self.activation}' is not supported (celu only)")


# --------------------------------------------------------------------------------------------- NeuroChem


def read_neurochem_params(path: Path) -> AEVParameters:
    """Parse a NeuroChem AEV ``.params`` file (``Rcr = 7.0``, ``ShfR = [..]``, ...)."""
    values: dict[str, list[float] | float] = {}
    for line in Path(path).read_text().splitlines():
        if "=" not in line:
            continue
        key, _, raw = (s.strip() for s in line.partition("="))
        if raw.startswith("["):
            items = [s for s in raw.strip("[]").split(",") if s.strip()]
            try:
                values[key] = [float(s) for s in items]
            except ValueError:  # Atyp = [Al]
                continue
        else:
            try:
                values[key] = float(raw)
            except ValueError:
                continue

    def scalar(k: str) -> float:
        v = values[k]
        return float(v[0] if isinstance(v, list) else v)

    return AEVParameters(
        radial_cutoff=scalar("Rcr"),
        angular_cutoff=scalar("Rca"),
        radial_eta=scalar("EtaR"),
        radial_shifts=list(values["ShfR"]),
        angular_eta=scalar("EtaA"),
        angular_zeta=scalar("Zeta"),
        angular_shifts=list(values["ShfA"]),
        angle_sections=list(values["ShfZ"]),
    )


def read_neurochem(info_file: Path, *, name: str = "ani-al", citation: str = "") -> ANIModel:
    """Read a NeuroChem ensemble from its ``.info`` file (paths in it are relative to the info file's folder).

    Parsing of the compressed ``.nnf`` network descriptions and the float32 weight files is torchani's
    (``torchani.neurochem``), so the two code paths read identical numbers.
    """
    import torchani.neurochem as nc

    info_file = Path(info_file)
    lines = [x.strip() for x in info_file.read_text().splitlines() if x.strip()]
    const_rel, sae_rel, prefix_rel, size = lines[:4]
    base = info_file.parent
    const, sae, prefix = base / const_rel, base / sae_rel, base / prefix_rel
    info = nc.NeurochemInfo(sae, const, prefix, int(size))
    _aev, ensemble, self_energy, symbols = nc.modules_from_info(info)
    species = list(symbols)
    members = []
    for member in ensemble.members:
        per_species = {}
        for sp in species:
            net = member.atomics[sp]
            linears = list(net.layers) + [net.final_layer]
            per_species[sp] = [
                (lin.weight.detach().double().numpy().copy(), lin.bias.detach().double().numpy().copy())
                for lin in linears
            ]
        members.append(per_species)
    sae_values = self_energy.self_energies.detach().double().numpy()
    files = [const, sae] + sorted(p for i in range(int(size)) for p in (Path(f"{prefix}{i}") / "networks").glob("*"))
    model = ANIModel(
        species=species,
        aev=read_neurochem_params(const),
        self_energies={sp: float(e) for sp, e in zip(species, sae_values)},
        members=members,
        activation="celu",
        celu_alpha=0.1,
        energy_unit_eV=HARTREE_TO_EV,
        name=name,
        citation=citation,
        source_files=[str(p) for p in files],
    )
    model.validate()
    return model


# --------------------------------------------------------------------------------------------- alal format


def is_model_dir(path: Path) -> bool:
    return (Path(path) / MODEL_JSON).is_file()


def save_model_dir(model: ANIModel, path: Path) -> Path:
    """Write ``model`` to ``path`` atomically (a half-written model directory never looks complete)."""
    model.validate()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for m, member in enumerate(model.members):
        for sp, layers in member.items():
            for i, (w, b) in enumerate(layers):
                arrays[f"m{m}.{sp}.W{i}"] = np.asarray(w, dtype=np.float64)
                arrays[f"m{m}.{sp}.b{i}"] = np.asarray(b, dtype=np.float64)
    tmp_npz = path / (WEIGHTS_NPZ + ".tmp.npz")
    np.savez(tmp_npz, **arrays)
    tmp_npz.replace(path / WEIGHTS_NPZ)
    meta = {
        "format": MODEL_FORMAT,
        "name": model.name,
        "citation": model.citation,
        "species": model.species,
        "aev": asdict(model.aev),
        "self_energies": model.self_energies,
        "activation": model.activation,
        "celu_alpha": model.celu_alpha,
        "energy_unit_eV": model.energy_unit_eV,
        "n_members": model.n_members,
        "layer_sizes": model.layer_sizes(),
        "extra": model.extra,
    }
    tmp_json = path / (MODEL_JSON + ".tmp")
    tmp_json.write_text(json.dumps(meta, indent=2))
    tmp_json.replace(path / MODEL_JSON)  # written last: its presence marks a complete model directory
    return path


def load_model_dir(path: Path) -> ANIModel:
    path = Path(path)
    meta_file = path / MODEL_JSON
    if not meta_file.is_file():
        raise AlalError(f"'{path}' is not an alal model directory (no {MODEL_JSON} in it)")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != MODEL_FORMAT:
        raise AlalError(f"'{meta_file}': format '{meta.get('format')}' is not {MODEL_FORMAT}")
    weights_file = path / WEIGHTS_NPZ
    if not weights_file.is_file():
        raise AlalError(f"model directory '{path}' has no {WEIGHTS_NPZ}")
    arrays = np.load(weights_file)
    n_layers = len(meta["layer_sizes"]) - 1
    members = []
    for m in range(meta["n_members"]):
        members.append(
            {
                sp: [(arrays[f"m{m}.{sp}.W{i}"], arrays[f"m{m}.{sp}.b{i}"]) for i in range(n_layers)]
                for sp in meta["species"]
            }
        )
    model = ANIModel(
        species=list(meta["species"]),
        aev=AEVParameters(**meta["aev"]),
        self_energies={k: float(v) for k, v in meta["self_energies"].items()},
        members=members,
        activation=meta.get("activation", "celu"),
        celu_alpha=float(meta.get("celu_alpha", 0.1)),
        energy_unit_eV=float(meta.get("energy_unit_eV", 1.0)),
        name=meta.get("name", path.name),
        citation=meta.get("citation", ""),
        source_files=[str(meta_file), str(weights_file)],
        extra=meta.get("extra", {}),
    )
    model.validate()
    return model


# --------------------------------------------------------------------------------------------- torchani


def to_torchani(model: ANIModel, *, dtype=None, device: str = "cpu", neighborlist: str = "all_pairs"):
    """Build a torchani ``ANI`` module computing the same energies (in the model's own units).

    This is the reference implementation the fast engine is tested against.
    """
    import torch
    import torchani
    from torchani.aev import AEVComputer
    from torchani.nn import ANINetworks, AtomicNetwork, Ensemble
    from torchani.sae import SelfEnergy

    dtype = dtype or torch.float64
    a = model.aev
    aev = AEVComputer.from_constants(
        radial_cutoff=a.radial_cutoff,
        angular_cutoff=a.angular_cutoff,
        radial_eta=a.radial_eta,
        radial_shifts=a.radial_shifts,
        angular_eta=a.angular_eta,
        angular_zeta=a.angular_zeta,
        angular_shifts=a.angular_shifts,
        sections=a.angle_sections,
        num_species=len(model.species),
        neighborlist=neighborlist,
    )
    members = []
    for member in model.members:
        nets = {}
        for sp in model.species:
            layers = member[sp]
            dims = [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]
            net = AtomicNetwork(dims, activation=torch.nn.CELU(alpha=model.celu_alpha), bias=True)
            linears = list(net.layers) + [net.final_layer]
            with torch.no_grad():
                for lin, (w, b) in zip(linears, layers):
                    lin.weight.copy_(torch.as_tensor(w))
                    lin.bias.copy_(torch.as_tensor(b))
            nets[sp] = net
        members.append(ANINetworks(nets))
    sae = SelfEnergy(model.species, [model.self_energies[sp] for sp in model.species])
    ani = torchani.neurochem.ANI(model.species, aev, Ensemble(members), sae)
    return ani.to(device=device, dtype=dtype)
