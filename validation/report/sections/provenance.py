"""Provenance: versions, commit, machine, potentials' files and hashes, wall times."""

from __future__ import annotations

from validation.report.model import Section, Table
from validation.report.style import label


def build_section(results: dict, fig_dir) -> Section:
    meta = results["meta"]
    git = meta.get("git", {})
    general = [
        ["alal version", meta.get("alal_version", "")],
        ["git commit", f"{git.get('commit') or 'unknown'}{' (uncommitted changes)' if git.get('dirty') else ''}"],
        ["command", meta.get("command", "")],
        ["tier / seed", f"{meta.get('tier')} / {meta.get('seed')}"],
        ["started / finished (UTC)", f"{meta.get('started_utc')} / {meta.get('finished_utc')}"],
        ["total wall time", f"{meta.get('wall_time_s', 0):.1f} s"],
        ["machine", f"{meta.get('machine', {}).get('platform')}, {meta.get('machine', {}).get('cpu_count')} CPUs, "
                    f"torch threads {meta.get('machine', {}).get('torch_threads')}"],
        ["packages", ", ".join(f"{k} {v}" for k, v in meta.get("packages", {}).items() if v)],
    ]
    pots = []
    for name, info in meta.get("potentials", {}).items():
        files = info.get("files") or []
        shown = files[0] if len(files) == 1 else (f"{len(files)} files, e.g. {files[0]}" if files else "built in")
        times = meta.get("wall_times_s", {}).get(name)
        pots.append([label(name), info.get("citation", ""), shown, info.get("sha256") or "—",
                     f"{times:.1f} s" if times is not None else ""])
    prop_times = []
    for name, entry in results.get("potentials", {}).items():
        for prop, value in entry.items():
            if isinstance(value, dict) and "wall_time_s" in value:
                prop_times.append([label(name), prop, f"{value['wall_time_s']:.1f} s",
                                   "failed" if "error" in value else "ok"])
    return Section(
        "provenance", "Provenance",
        tables=[
            Table("Run", ["", ""], general),
            Table("Potentials", ["Potential", "Citation", "Source", "sha256", "Wall time"], pots),
            Table("Wall time per property", ["Potential", "Property", "Wall time", "Status"], prop_times),
        ],
    )
