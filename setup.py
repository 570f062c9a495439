"""Only what pyproject.toml cannot say: the package list with reference_data/ mapped into the wheel.

``reference_data/`` stays at the top of the repository (experiment, the paper, our GPAW-PBE references) and is
installed as ``validation/reference_data/`` so that ``pip install .`` gives a working ``alal validate`` from any
directory; :func:`validation.references.reference_dir` finds it there or in the source tree.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["alal*", "validation*"]) + ["validation.reference_data"],
    package_dir={"validation.reference_data": "reference_data"},
)
