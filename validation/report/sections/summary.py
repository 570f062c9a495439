"""The summary table: every comparison of every property, potentials side by side, colour-coded."""

from __future__ import annotations

from validation.report.model import Section, Table
from validation.report.sections import fmt
from validation.report.style import label

KIND_LABEL = {"experiment": "experiment", "dft": "DFT", "paper": "paper", "potential": "published"}


def build_section(results: dict, fig_dir) -> Section:
    potentials = list(results.get("potentials", {}))
    rows: dict[tuple, dict] = {}
    order: list[tuple] = []
    for prop in results["meta"].get("properties", []):
        for name in potentials:
            entry = results["potentials"][name].get(prop, {})
            for c in entry.get("comparisons", []) if isinstance(entry, dict) else []:
                shared = c["reference_kind"] in ("experiment", "dft")
                key = (prop, c["key"], c["reference_kind"], c["reference_label"] if shared else "", c["label"] or c["key"])
                if key not in rows:
                    rows[key] = {"reference": c, "cells": {}}
                    order.append(key)
                rows[key]["cells"][name] = c
    table_rows, classes = [], []
    for key in order:
        prop, _k, kind, ref_label, qty = key
        ref = rows[key]["reference"]
        if kind in ("experiment", "dft"):
            tol = f" ± {fmt(ref['tolerance'], 3)}" if ref.get("tolerance") is not None else ""
            ref_text = f"{fmt(ref['reference'])}{tol} ({KIND_LABEL[kind]}: {ref_label})"
        else:
            ref_text = f"each potential's own {KIND_LABEL[kind]} value"
        row, cls = [prop, qty, ref_text], ["", "", ""]
        for name in potentials:
            c = rows[key]["cells"].get(name)
            if c is None:
                row.append("")
                cls.append("")
                continue
            # a non-finite value (NaN) reaches results.json as null: no deviation to print (verdict is "fail")
            dev = "n/a" if c.get("deviation") is None else f"{c['deviation']:+.3g}"
            text = f"{fmt(c['value'])} ({dev})"
            if kind not in ("experiment", "dft"):
                text = f"{fmt(c['value'])} vs {fmt(c['reference'])} ({dev})"
            row.append(text)
            cls.append(c["verdict"])
        table_rows.append(row)
        classes.append(cls)
    for name in potentials:  # failed properties are part of the summary, never silently missing
        for prop, entry in results["potentials"][name].items():
            if isinstance(entry, dict) and "error" in entry:
                row = [prop, "FAILED", entry["error"].splitlines()[0][:160]] + ["" for _ in potentials]
                cls = ["", "fail", ""] + ["" for _ in potentials]
                idx = potentials.index(name)
                row[3 + idx] = "failed"
                cls[3 + idx] = "fail"
                table_rows.append(row)
                classes.append(cls)
    n_pass = sum(c == "pass" for r in classes for c in r)
    n_fail = sum(c == "fail" for r in classes for c in r)
    table = Table(
        title="Summary: value (deviation from the reference); green within tolerance, red outside",
        columns=["Property", "Quantity", "Reference"] + [label(p) for p in potentials],
        rows=table_rows,
        classes=classes,
        note=f"{n_pass} comparisons within tolerance, {n_fail} outside. Tolerances are stated per quantity in "
             f"the property sections and in results.json (comparisons[].tolerance).",
    )
    intro = (f"Tier: {results['meta'].get('tier')}. Potentials: {', '.join(label(p) for p in potentials)}. "
             f"Each property is computed at the potential's own relaxed FCC lattice constant, in float64.")
    return Section(key="summary", title="Summary", intro=intro, tables=[table])
