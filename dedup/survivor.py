"""Deterministic survivor choice per cluster and the cluster/removed tables built from it.

Order within a cluster: documents of an earlier run's index first (old documents always win), then the
configured criteria (highest `quality`, longest text, first in source order), and finally the smallest id.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Columns every member table carries (filled with nulls when the input lacks them).
MEMBER_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("length", pa.int64()),
        ("quality", pa.float64()),
        ("source", pa.string()),
        ("position", pa.int64()),
        ("is_old", pa.bool_()),
    ]
)


def sort_keys(survivor: Sequence[str]) -> list[tuple[str, str]]:
    """pyarrow sort keys for the survivor order (used after the cluster key columns)."""
    keys: list[tuple[str, str]] = [("is_old", "descending")]
    for k in survivor:
        if k == "quality":
            keys.append(("quality", "descending"))
        elif k == "length":
            keys.append(("length", "descending"))
        elif k == "source_order":
            keys += [("source", "ascending"), ("position", "ascending")]
    keys.append(("id", "ascending"))
    return keys


def resolve_clusters(
    members: pa.Table, key_columns: Sequence[str], survivor: Sequence[str], reason: str, stage: str
) -> tuple[pa.Table, pa.Table]:
    """From member rows labelled with a cluster key, return (removed, clusters).

    removed: id, stage, reason, cluster_id, kept_id for every non-survivor that is not an old document.
    clusters: cluster_id (smallest member id), kept_id, size, members (sorted ids) for clusters of size >= 2.
    """
    if members.num_rows == 0:
        return empty_removed(), empty_clusters()
    # Survivor order: nulls (missing quality/source) sort last, then id breaks every tie.
    keys = [(k, "ascending") for k in key_columns] + sort_keys(survivor)
    order = pc.sort_indices(members, sort_keys=[(k, o, "at_end") for k, o in keys])
    m = members.take(order)
    n = m.num_rows
    new_group = np.zeros(n, dtype=bool)
    new_group[0] = True
    for k in key_columns:
        col = m.column(k).to_numpy()
        new_group[1:] |= col[1:] != col[:-1]
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.append(starts, n))
    first = np.repeat(starts, sizes)
    ids = m.column("id").combine_chunks()
    kept_ids = ids.take(pa.array(first))
    # Cluster id: smallest member id of the group.
    gid = np.repeat(np.arange(len(starts)), sizes)
    by_id = pc.sort_indices(
        m, sort_keys=[(k, "ascending") for k in key_columns] + [("id", "ascending")]
    ).to_numpy()
    min_id = ids.take(pa.array(by_id[starts]))  # first of each group in (group, id) order
    cluster_of_row = min_id.take(pa.array(gid))
    is_old = m.column("is_old").to_numpy(zero_copy_only=False)
    drop = ~new_group & ~is_old
    removed = pa.table(
        {
            "id": ids.filter(pa.array(drop)),
            "stage": pa.array([stage] * int(drop.sum()), pa.string()),
            "reason": pa.array([reason] * int(drop.sum()), pa.string()),
            "cluster_id": cluster_of_row.filter(pa.array(drop)),
            "kept_id": kept_ids.filter(pa.array(drop)),
            "text_bytes": m.column("length").filter(pa.array(drop)),
        }
    )
    multi = sizes >= 2
    member_lists = pa.ListArray.from_arrays(
        pa.array(np.append(starts, n).astype(np.int32)), ids.take(pa.array(by_id))
    )
    clusters = pa.table(
        {
            "cluster_id": min_id.filter(pa.array(multi)),
            "kept_id": kept_ids.take(pa.array(starts)).filter(pa.array(multi)),
            "kind": pa.array([reason] * int(multi.sum()), pa.string()),
            "size": pa.array(sizes[multi].astype(np.int64)),
            "members": member_lists.filter(pa.array(multi)),
        }
    )
    return removed, clusters


def empty_removed() -> pa.Table:
    cols = {k: pa.array([], pa.string()) for k in ("id", "stage", "reason", "cluster_id", "kept_id")}
    return pa.table({**cols, "text_bytes": pa.array([], pa.int64())})


def empty_clusters() -> pa.Table:
    return pa.table(
        {
            "cluster_id": pa.array([], pa.string()),
            "kept_id": pa.array([], pa.string()),
            "kind": pa.array([], pa.string()),
            "size": pa.array([], pa.int64()),
            "members": pa.array([], pa.list_(pa.string())),
        }
    )
