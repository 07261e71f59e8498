"""The run ledger: where every document went, per stage, so that counts reconcile.

Each shard of a stage reports a `StageStats`; the stage sums them; `stats.json`
holds the list in stage order. The invariant checked after every stage is
input == kept + sum(removed) + quarantined.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StageStats:
    name: str
    input: int = 0
    kept: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def removed_total(self) -> int:
        return sum(self.removed.values())

    def add_removed(self, reason: str, n: int = 1) -> None:
        if n:
            self.removed[reason] = self.removed.get(reason, 0) + n

    def merge(self, other: StageStats) -> None:
        self.input += other.input
        self.kept += other.kept
        for reason, n in other.removed.items():
            self.add_removed(reason, n)
        self.quarantined += other.quarantined
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        for key, value in other.extra.items():
            if isinstance(value, int | float) and isinstance(self.extra.get(key, 0), int | float):
                self.extra[key] = self.extra.get(key, 0) + value
            else:
                self.extra.setdefault(key, value)

    def reconciles(self) -> bool:
        return self.input == self.kept + self.removed_total + self.quarantined

    def check(self) -> None:
        if not self.reconciles():
            raise LedgerError(
                f"stage {self.name!r} does not reconcile: input {self.input} != kept {self.kept} "
                f"+ removed {self.removed_total} + quarantined {self.quarantined}"
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["removed"] = dict(sorted(self.removed.items()))
        extra = d.pop("extra")
        d.update(extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageStats:
        known = {"name", "input", "kept", "removed", "quarantined", "bytes_in", "bytes_out", "seconds"}
        stats = cls(**{k: v for k, v in d.items() if k in known})
        stats.extra = {k: v for k, v in d.items() if k not in known}
        return stats


class LedgerError(RuntimeError):
    """Counts that do not add up: a bug, never a data problem."""


def ledger_dict(stages: list[StageStats]) -> dict[str, Any]:
    """The `stats.json` document."""
    docs_in = stages[0].input if stages else 0
    docs_out = stages[-1].kept if stages else 0
    return {
        "stages": [s.to_dict() for s in stages],
        "documents_in": docs_in,
        "documents_out": docs_out,
        "removed_total": sum(s.removed_total for s in stages),
        "quarantined_total": sum(s.quarantined for s in stages),
        # Input that was never read (each such source is also one quarantined record): a run can
        # reconcile and still have missed data, so the totals say so.
        "sources_incomplete": sum(int(s.extra.get("sources_incomplete", 0)) for s in stages),
        "bytes_unread": sum(int(s.extra.get("bytes_unread", 0)) for s in stages),
        "reconciles": all(s.reconciles() for s in stages) and _chained(stages),
    }


def _chained(stages: list[StageStats]) -> bool:
    """Each stage's input is the previous stage's kept: nothing lost between stages."""
    return all(b.input == a.kept for a, b in itertools.pairwise(stages))


def funnel_table(ledger: dict[str, Any]) -> str:
    """A plain-text funnel: per stage in, kept, removed by reason, quarantined."""
    rows = [("stage", "in", "kept", "removed", "quarantined", "seconds", "removed by reason")]
    for s in ledger["stages"]:
        removed = s.get("removed", {})
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(removed.items(), key=lambda kv: -kv[1]))
        rows.append(
            (
                s["name"],
                f"{s['input']:,}",
                f"{s['kept']:,}",
                f"{sum(removed.values()):,}",
                f"{s['quarantined']:,}",
                f"{s.get('seconds', 0.0):.1f}" + ("*" if s.get("resumed") else ""),
                reasons or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = []
    for i, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])] + [r[j].rjust(widths[j]) for j in range(1, 6)] + [r[6]]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 17)
    total = (
        f"documents in {ledger['documents_in']:,} -> out {ledger['documents_out']:,}; "
        f"removed {ledger.get('removed_total', 0):,}; quarantined {ledger.get('quarantined_total', 0):,}; "
        f"ledger {'reconciles' if ledger.get('reconciles') else 'DOES NOT RECONCILE'}"
    )
    if ledger.get("sources_incomplete"):
        total += (
            f"\nnot read to the end: {ledger['sources_incomplete']:,} source(s), "
            f"{ledger.get('bytes_unread', 0):,} bytes unread (see quarantine/ingest)"
        )
    if any(s.get("resumed") for s in ledger["stages"]):
        total += "\n* finished by an earlier run: its counts and seconds are from then"
    for s in ledger["stages"]:
        if "tokens" in s:
            splits = ", ".join(f"{k} {v:,}" for k, v in s.get("tokens_by_split", {}).items())
            total += f"\ntokens: {s['tokens']:,} ({splits or 'nothing to tokenize'})"
    return "\n".join(lines) + "\n" + total
