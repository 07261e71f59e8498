"""The bundled sample run as digests that do not depend on where it ran: what each stage kept, removed
and quarantined, and why, plus the ledger's counts.

Why: moving code between rooms (issue 16) must not change what a run produces. The digests leave out
what depends on the machine or the checkout rather than on the code: document ids and source URIs (they
embed the local HTTP server's port or the clone's path), float scores (their last bits follow the CPU's
instruction set) and timings. Everything else a stage writes to its Parquet parts is in them, row by row.

    .venv/bin/python -m tests.golden_run RUN_DIR          # print the summary of a run directory

`tests/test_pipeline_e2e.py::test_sample_run_matches_its_golden_digests` compares the e2e sample run with
`tests/fixtures/golden/sample_run.json`; a change that means to change the outputs rewrites it with
`WINNOW_WRITE_GOLDEN=1` and says so in its commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "sample_run.json"
# Columns that name where a run happened, not what it decided (ids, and ids of clusters and members,
# derive from the source URI).
WHERE_COLUMNS = frozenset({"id", "source", "kept_id", "cluster_id", "members", "error"})
LEDGER_RUN = ("documents_in", "documents_out", "removed_total", "quarantined_total", "reconciles")
LEDGER_STAGE = ("input", "kept", "removed", "quarantined", "bytes_in", "bytes_out", "sources")


def _stable_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if f.name not in WHERE_COLUMNS and not pa.types.is_floating(f.type)]


def folder_digest(folder: Path) -> dict:
    """Row count, the columns digested, and the sha256 of the sorted rows (as JSON) of one folder's parts."""
    parts = sorted(p for p in folder.iterdir() if p.suffix == ".parquet")
    table = pa.concat_tables([pq.read_table(p) for p in parts], promote_options="permissive")
    columns = _stable_columns(table.schema)
    rows = sorted(json.dumps(r, sort_keys=True, default=str) for r in table.select(columns).to_pylist())
    return {
        "rows": table.num_rows,
        "columns": columns,
        "sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest(),
    }


def ledger_counts(run_dir: Path) -> dict:
    """The ledger's counts (stats.json): the run's totals and each stage's, without timings."""
    stats = json.loads((run_dir / "stats.json").read_text(encoding="utf-8"))
    out = {k: stats[k] for k in LEDGER_RUN}
    for stage in stats["stages"]:
        out[stage["name"]] = {k: stage[k] for k in LEDGER_STAGE if k in stage}
    return out


def summarize(run_dir: str | Path) -> dict:
    """Digests of every folder of Parquet parts under the run directory, and the ledger's counts."""
    run_dir = Path(run_dir)
    folders = {}
    for dirpath, _, names in os.walk(run_dir):
        if any(n.endswith(".parquet") for n in names) and not Path(dirpath).name.startswith("."):
            folders[Path(dirpath).relative_to(run_dir).as_posix()] = folder_digest(Path(dirpath))
    return {"folders": dict(sorted(folders.items())), "ledger": ledger_counts(run_dir)}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.golden_run RUN_DIR", file=sys.stderr)
        return 2
    print(json.dumps(summarize(argv[0]), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
