"""The "Against <ORACLE>" report section (``alal validate --against``): reads only results.json.

It lives beside ``sections/`` rather than in it: ``sections/`` holds one module per registered property (and the
generic summary and provenance), which tests/test_registries.py enforces.
"""

from __future__ import annotations

from validation.against import format_tolerance
from validation.report.model import Section, Table
from validation.report.sections import fmt
from validation.report.style import label


def _value(x) -> str:
    return fmt(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else ("—" if x is None else str(x))


def _diff(q: dict) -> str:
    if q.get("diff") is None:
        return "—"
    rel = f" ({100 * q['rel_diff']:+.2f} %)" if q.get("rel_diff") is not None else ""
    return f"{q['diff']:+.4g}{rel}"


def build_section(results: dict, fig_dir=None) -> Section | None:
    oracle = results.get("meta", {}).get("against")
    if not oracle:
        return None
    tables = []
    for name, entry in results.get("potentials", {}).items():
        comp = (entry.get("against") or {}).get(oracle)
        if comp is None:
            continue
        judged, info = ([], []), ([], [])  # (rows, classes): quantities with a verdict, and the others
        n_not_shown = 0
        for prop, quantities in comp.items():
            if prop == "summary":
                continue
            # the information rows shown: the quantities the property itself compares with references
            headline = {c.get("key") for side in (name, oracle)
                        for c in ((results["potentials"].get(side) or {}).get(prop) or {}).get("comparisons", [])}
            if quantities.get("verdict") == "missing":
                judged[0].append([prop, "—", "", "", "", "", f"missing: {quantities.get('reason', '')}"])
                judged[1].append(["", "", "", "", "", "", "fail"])
                continue
            for key, q in quantities.items():
                verdict = q["verdict"] + (f" ({q['reason']})" if q.get("reason") else "")
                if q["verdict"] not in ("pass", "fail") and key not in headline:
                    n_not_shown += 1
                    continue
                rows, classes = judged if q["verdict"] in ("pass", "fail") else info
                rows.append([prop, key, _value(q["model"]), _value(q["oracle"]), _diff(q), format_tolerance(q), verdict])
                classes.append(["", "", "", "", "", "", q["verdict"] if q["verdict"] in ("pass", "fail") else "info"])
        s = comp["summary"]
        n_missing = s.get("n_missing") or 0
        missing = f", {n_missing} propert{'y' if n_missing == 1 else 'ies'} missing" if n_missing else ""
        columns = ["Property", "Quantity", label(name), label(oracle), "Diff (model − oracle)", "Tolerance", "Verdict"]
        tables.append(Table(
            f"{label(name)} against {label(oracle)}: {s['n_pass']} pass, {s['n_fail']} fail{missing}",
            columns, judged[0], classes=judged[1]))
        if info[0] or n_not_shown:
            tables.append(Table(f"{label(name)} against {label(oracle)}: other quantities compared with references "
                                f"(difference only, no tolerance)", columns, info[0], classes=info[1],
                                note=f"{n_not_shown} further quantities (fit variants, convergence data, per-strain "
                                     f"values, ...) with their differences are in results.json under "
                                     f"potentials.{name}.against.{oracle}."))
    if not tables:
        return None
    intro = (f"Every potential compared with the oracle {label(oracle)}, which ran the same properties with the same "
             f"settings. Differences are model − oracle; the relative difference is against |oracle|. Tolerances "
             f"(validation/against.py, the student-vs-teacher targets): 'abs' in the unit of the quantity, '%' of "
             f"the oracle's value; the structure ordering must be identical and FCC lowest, and the phonon "
             f"dispersion free of imaginary modes (a verdict on the model alone). 'info': difference reported, "
             f"no tolerance.")
    return Section("against", f"Against {label(oracle)}", intro=intro, tables=tables)
