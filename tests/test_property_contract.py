"""The property contract: build is pure, the calculator is called only after it (prepare, compute).

Every registered property is built, in both tiers, with a context whose calculator factory raises: build must
succeed from plain data alone (the lattice constant given as ``ctx.a0_A``), and a property reads ``ctx.a0_A``
exactly when it declares ``needs_a0`` (so its prepare step computes the lattice constant before build, and no
property relaxes FCC for nothing).
"""

from __future__ import annotations

import pytest

from static_common import context
from validation import properties
from validation.properties.base import PotentialContext, Property, PropertyResult, PurityError
from validation.properties.lattice import relaxed_fcc_lattice_constant
from validation.references import load_references

REFERENCES = load_references()


def refusing_context(tier: str, a0: float | None) -> tuple[PotentialContext, list]:
    """A context whose calculator factory records the request and raises; ``a0`` preset when given."""
    asked: list[str] = []

    def no_calculator(dtype: str):
        asked.append(dtype)
        raise AssertionError(f"a calculator ({dtype}) was asked for while building")

    ctx = PotentialContext(name="emt", tier=tier, references=REFERENCES, make_calculator=no_calculator,
                           progress=lambda m: None)
    if a0 is not None:
        ctx.a0_A = a0
    return ctx, asked


@pytest.mark.parametrize("tier", ["quick", "full"])
@pytest.mark.parametrize("name", properties.names())
def test_build_is_pure_given_the_lattice_constant(name, tier):
    ctx, asked = refusing_context(tier, a0=4.05)
    built = properties.get(name).build(ctx)
    assert asked == []
    assert built  # a build always hands compute something to evaluate


@pytest.mark.parametrize("name", properties.names())
def test_a_property_reads_a0_exactly_when_it_declares_needs_a0(name):
    prop = properties.get(name)
    ctx, asked = refusing_context("quick", a0=None)
    if prop.needs_a0:
        with pytest.raises(PurityError, match="needs_a0"):
            prop.build(ctx)
    else:
        prop.build(ctx)
    assert asked == []


class LatticeConstantProbe(Property):
    """A minimal property whose build reads the lattice constant and whose compute evaluates one energy."""

    name = "probe"
    needs_a0 = True

    def build(self, ctx):
        return {"a0_A": ctx.a0_A}

    def compute(self, built, ctx):
        from alal.structures import fcc_cubic

        atoms = fcc_cubic(built["a0_A"])
        atoms.calc = ctx.calculator()
        return {**built, "E_eV": atoms.get_potential_energy()}

    def analyse(self, raw, ctx):
        return PropertyResult(self.name, ctx.name, raw)


class SneakyBuild(LatticeConstantProbe):
    """The contract broken: build evaluates an energy itself."""

    def build(self, ctx):
        return self.compute({"a0_A": 4.05}, ctx)


def test_run_prepares_a0_before_build_and_refuses_a_calculator_inside_it():
    ctx = context("emt")
    result = LatticeConstantProbe().run(ctx)
    # prepare computed the same number the lattice module gives, and compute still had its calculator
    assert result.data["a0_A"] == relaxed_fcc_lattice_constant(ctx.calculator())
    assert result.data["E_eV"] < 0
    with pytest.raises(PurityError, match="SneakyBuild.build"):
        SneakyBuild().run(ctx)
    ctx.calculator()  # the guard ends with build
