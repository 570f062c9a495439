"""Candidates on their way from finished trajectories to the oracle.

A trajectory's uncertain frame is collected here when its result is recorded, and queued as a pending
structure (source "al") at the next flush; with ``diversity.enabled`` the flush first drops near-duplicates
(among the new candidates and of AL structures already pending, :mod:`alal.al.diversity`), recording them
with status "dropped" and the reason.
"""

from __future__ import annotations

from ase import Atoms

from alal.data.store import Store


class Candidates:
    def __init__(self):
        self._items: list[dict] = []
        self._describer = None

    def __len__(self) -> int:
        return len(self._items)

    def add(self, atoms: Atoms, traj_id: str, generation: int) -> None:
        self._items.append({"atoms": atoms, "traj_id": traj_id, "generation": generation})

    def flush(self, store: Store, diversity: dict, echo, *, filter_diversity: bool = True) -> None:
        """Queue the collected candidates for the oracle; near-duplicates are recorded as dropped.
        ``diversity``: the config's diversity section (enabled, min_distance)."""
        if not self._items:
            return
        cands, self._items = self._items, []
        kept: list[int] = list(range(len(cands)))
        dropped: dict[int, tuple[int, float]] = {}
        if filter_diversity and diversity["enabled"] and len(cands) + store.count(kind="structure", status="pending") > 1:
            kept, dropped = self.near_duplicates(store, cands, diversity["min_distance"])
        for i in kept:
            c = cands[i]
            store.add_structure(c["atoms"], source="al", generation=c["generation"], traj_id=c["traj_id"])
        for i, (who, d) in dropped.items():
            c = cands[i]
            h, _ = store.add_structure(c["atoms"], source="al", generation=c["generation"], traj_id=c["traj_id"],
                                       status="dropped")
            near = cands[who]["traj_id"] if who >= 0 else "a structure already queued"
            store.set_status(h, "dropped", reason=f"near-duplicate (descriptor distance {d:.3g}) of {near}")
        if dropped:
            echo(f"diversity: {len(cands)} candidates, {len(dropped)} near-duplicates dropped, "
                 f"{len(kept)} queued for the oracle")

    def near_duplicates(self, store: Store, cands: list[dict],
                        min_distance: float) -> tuple[list[int], dict[int, tuple[int, float]]]:
        """(kept, dropped) candidate indices: dropped maps an index to (the candidate it duplicates, negative for
        an AL structure already pending; the descriptor distance)."""
        from alal.al.diversity import Describer, select

        if self._describer is None:
            self._describer = Describer()
        desc = [self._describer(c["atoms"]) for c in cands]
        refs = [self._describer(r.toatoms()) for r in store.structures(status="pending") if r.source == "al"]
        return select(desc, refs, min_distance)
