"""Persistent LSH index: band keys and ids of earlier runs' survivors, as Parquet files under a directory.

Layout: `index.json` (the MinHash settings the keys were made with; a mismatch is refused), `bands/*.parquet`
(band, key, node) and `docs/*.parquet` (node, id). A new run reads these instead of recomputing the old
corpus; documents matching an indexed one are removed (old documents always win).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dedup.config import MinHashConfig
from dedup.executor import ret
from dedup.io import split_by, write_parquet_atomic
from dedup.steps import BAND_SCHEMA, _part
from dedup.survivor import MEMBER_SCHEMA
from kit.files import write_text_atomic


def index_settings(cfg: MinHashConfig, bands: int, rows: int) -> dict:
    """Settings an index is tied to; format 2 = shingle hash built from word hashes (format 1 was xxh32)."""
    keys = ("num_perm", "seed", "scheme", "ngram", "char_ngram")
    return {**{k: getattr(cfg, k) for k in keys}, "bands": bands, "rows": rows, "format": 2}


def check_index(index_dir: str, settings: dict) -> bool:
    """True when an index exists (and matches these settings); False when there is none yet."""
    meta = Path(index_dir) / "index.json"
    if not meta.exists():
        return False
    found = json.loads(meta.read_text())
    if found != settings:
        raise ValueError(f"index {index_dir} was built with {found}, this run uses {settings}")
    return True


def index_files(index_dir: str, kind: str) -> list[str]:
    return [str(p) for p in sorted((Path(index_dir) / kind).glob("*.parquet"))]


def read_index_bands(num_parts: int, path: str) -> pa.Table | tuple:
    """One index band file, repartitioned by key for this run, flagged old."""
    t = pq.read_table(path)
    table = pa.Table.from_arrays(
        [t["band"], t["key"], t["node"], pa.array(np.ones(t.num_rows, dtype=bool))], schema=BAND_SCHEMA
    )
    return ret(split_by(table, _part(t["key"].to_numpy(), num_parts), num_parts))


def read_index_docs(num_parts: int, path: str) -> pa.Table | tuple:
    """Member rows of indexed documents (only id is known; is_old makes them win every cluster)."""
    t = pq.read_table(path)
    n = t.num_rows
    meta = pa.Table.from_arrays(
        [
            t["id"],
            pa.nulls(n, pa.int64()),
            pa.nulls(n, pa.float64()),
            pa.nulls(n, pa.string()),
            pa.nulls(n, pa.int64()),
            pa.array(np.ones(n, dtype=bool)),
        ],
        schema=MEMBER_SCHEMA,
    ).append_column("node", t["node"])
    return ret(split_by(meta, _part(t["node"].to_numpy(), num_parts), num_parts))


def _not_removed(nodes: np.ndarray, removed: np.ndarray) -> np.ndarray:
    if len(removed) == 0:
        return np.ones(len(nodes), dtype=bool)
    pos = np.minimum(np.searchsorted(removed, nodes), len(removed) - 1)
    return removed[pos] != nodes


def write_index_part(
    index_dir: str, name: str, removed_nodes: np.ndarray, bands: pa.Table, meta: pa.Table
) -> int:
    """Append one partition of this run's survivors (new documents not removed) to the index."""
    b = bands.filter(pa.array(~bands["is_old"].to_numpy(zero_copy_only=False)))
    b = b.filter(pa.array(_not_removed(b["node"].to_numpy(), removed_nodes))).select(["band", "key", "node"])
    m = meta.filter(pa.array(_not_removed(meta["node"].to_numpy(), removed_nodes))).select(["node", "id"])
    write_parquet_atomic(b, Path(index_dir) / "bands" / f"{name}.parquet")
    write_parquet_atomic(m, Path(index_dir) / "docs" / f"{name}.parquet")
    return m.num_rows


def write_index_settings(index_dir: str, settings: dict) -> None:
    write_text_atomic(Path(index_dir) / "index.json", json.dumps(settings, sort_keys=True, indent=1))


def next_run_name(index_dir: str) -> str:
    """`run-00000`, `run-00001`, ... in order of the runs that extended the index."""
    runs = {Path(p).stem.split("-p")[0] for p in index_files(index_dir, "docs")}
    return f"run-{len(runs):05d}"
