"""Orchestration of exact and near dedup over blocks: map → hash-partitioned reduce → components → survivors.

Blocks are Arrow tables, Ray ObjectRefs of tables (e.g. from `Dataset.to_arrow_refs()`), or `FileBlock`s read
inside the tasks. The driver only holds small tables: removed ids with their cluster and kept id, clusters,
and candidate node keys (8 bytes each) when verifying.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dedup import index as idx
from dedup import stages
from dedup.config import DedupConfig
from dedup.exact import node_ids
from dedup.executor import LocalExecutor, RayExecutor
from dedup.lsh import bands_rows
from dedup.survivor import empty_clusters, empty_removed


@dataclass
class DedupResult:
    """Decisions of a dedup run: removed (id, stage, reason, cluster_id, kept_id, text_bytes) and clusters."""

    removed: pa.Table
    clusters: pa.Table
    info: dict[str, Any] = field(default_factory=dict)


def make_executor(config: DedupConfig) -> LocalExecutor | RayExecutor:
    return RayExecutor() if config.use_ray else LocalExecutor()


def _concat(tables: list[pa.Table], empty: pa.Table) -> pa.Table:
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return empty
    return pa.concat_tables(tables).combine_chunks()


def _sorted(t: pa.Table, key: str) -> pa.Table:
    return t.take(pc.sort_indices(t, sort_keys=[(key, "ascending")])) if t.num_rows else t


def _transpose(outs: list[list[Any]], num_parts: int) -> list[list[Any]]:
    """outs[task][part] → per part, the list over tasks."""
    return [[o[p] for o in outs] for p in range(num_parts)]


def _multi(ex, fn, num_returns: int, *args) -> list[Any]:
    out = ex.submit(fn, *args, num_returns=num_returns)
    return out if num_returns > 1 else [out]


def run_exact(blocks: list[Any], config: DedupConfig, ex) -> DedupResult:
    """Exact duplicates across all blocks (one hash-partitioned shuffle)."""
    if not blocks:  # nothing to shuffle: the reducers would get no tables at all
        return DedupResult(empty_removed(), empty_clusters(), {"exact_clusters": 0})
    P = config.num_partitions
    maps = [_multi(ex, stages.exact_map, P, P, b) for b in blocks]
    reds = [
        ex.submit(stages.exact_reduce, list(config.survivor), *parts, num_returns=2)
        for parts in _transpose(maps, P)
    ]
    got = ex.get([r for pair in reds for r in pair])
    removed = _sorted(_concat(got[0::2], empty_removed()), "id")
    clusters = _sorted(_concat(got[1::2], empty_clusters()), "cluster_id")
    return DedupResult(removed, clusters, {"exact_clusters": clusters.num_rows})


def run_near(blocks: list[Any], config: DedupConfig, ex, exclude: pa.Array | None = None) -> DedupResult:
    """MinHash LSH near duplicates of all blocks (minus `exclude` ids), optionally against an index."""
    cfg = config.minhash
    P = config.num_partitions
    bands, rows = bands_rows(cfg)
    info: dict[str, Any] = {"bands": bands, "rows": rows}
    if not blocks:  # nothing to band: the reducers would get no tables at all
        return DedupResult(
            empty_removed(), empty_clusters(), {**info, "candidate_pairs": 0, "near_clusters": 0}
        )
    t0 = time.perf_counter()
    excl = ex.put(exclude) if exclude is not None and len(exclude) else None
    settings = idx.index_settings(cfg, bands, rows)
    have_index = config.index_dir is not None and idx.check_index(config.index_dir, settings)

    maps = [_multi(ex, stages.near_map, 2 * P, cfg, bands, rows, P, excl, b) for b in blocks]
    band_parts = _transpose([m[:P] for m in maps], P)
    meta_parts = _transpose([m[P:] for m in maps], P)
    if have_index:
        old_b = [
            _multi(ex, idx.read_index_bands, P, P, f) for f in idx.index_files(config.index_dir, "bands")
        ]
        old_m = [_multi(ex, idx.read_index_docs, P, P, f) for f in idx.index_files(config.index_dir, "docs")]
        band_parts = (
            [bp + op for bp, op in zip(band_parts, _transpose(old_b, P), strict=True)]
            if old_b
            else band_parts
        )
        meta_all = (
            [mp + op for mp, op in zip(meta_parts, _transpose(old_m, P), strict=True)]
            if old_m
            else meta_parts
        )
    else:
        meta_all = meta_parts

    red = [_multi(ex, stages.band_reduce, P, cfg.max_bucket_pairs, P, *bp) for bp in band_parts]
    edges = [ex.submit(stages.edge_unique, *parts) for parts in _transpose(red, P)]
    info["candidate_pairs"] = int(sum(t.num_rows for t in ex.get(edges)))

    if cfg.verify_jaccard and info["candidate_pairs"]:
        cand = np.unique(np.concatenate([stages.edge_nodes(t) for t in ex.get(edges)]))
        cand_ref = ex.put(cand)
        sets = _transpose([_multi(ex, stages.collect_sets, P, cfg, P, cand_ref, excl, b) for b in blocks], P)
        # Each u-partition sends every v-partition its edges plus the sets of their distinct u's (once each).
        att = [_multi(ex, stages.verify_attach, 2 * P, P, 1, edges[p], *sets[p]) for p in range(P)]
        att_e, att_s = _transpose([a[:P] for a in att], P), _transpose([a[P:] for a in att], P)
        edges = [
            ex.submit(
                stages.verify_finish,
                cfg.threshold,
                len(att_e[q]),
                len(att_s[q]),
                *att_e[q],
                *att_s[q],
                *sets[q],
            )
            for q in range(P)
        ]
    edge_tables = ex.get(edges)
    info["verified_pairs"] = int(sum(t.num_rows for t in edge_tables))

    # Connected components: distributed min-label propagation over node partitions.
    scat = _transpose([_multi(ex, stages.cc_scatter, P, P, e) for e in edges], P)
    state = [ex.submit(stages.cc_init, *parts, num_returns=2) for parts in scat]
    labels, adj = [s[0] for s in state], [s[1] for s in state]
    iterations = 0
    while True:
        iterations += 1
        sent = _transpose([_multi(ex, stages.cc_send, P, P, labels[p], adj[p]) for p in range(P)], P)
        recv = [ex.submit(stages.cc_recv, labels[p], *sent[p], num_returns=2) for p in range(P)]
        labels = [r[0] for r in recv]
        if sum(ex.get([r[1] for r in recv])) == 0:
            break
    info["cc_iterations"] = iterations

    memb = _transpose(
        [_multi(ex, stages.near_members, P, P, 1, labels[p], *meta_all[p]) for p in range(P)], P
    )
    reds = [ex.submit(stages.near_reduce, list(config.survivor), *parts, num_returns=2) for parts in memb]
    got = ex.get([r for pair in reds for r in pair])
    removed = _sorted(_concat(got[0::2], empty_removed()), "id")
    clusters = _sorted(_concat(got[1::2], empty_clusters()), "cluster_id")
    info["near_clusters"] = clusters.num_rows

    if config.index_dir is not None and config.update_index:
        removed_nodes = np.sort(node_ids(removed["id"])) if removed.num_rows else np.empty(0, np.uint64)
        name = idx.next_run_name(config.index_dir)
        rn = ex.put(removed_nodes)
        writes = [
            ex.submit(
                _index_write,
                config.index_dir,
                f"{name}-p{p:05d}",
                rn,
                len(band_parts[p]),
                *band_parts[p],
                *meta_parts[p],
            )
            for p in range(P)
        ]
        info["index_added"] = int(sum(ex.get(writes)))
        idx.write_index_settings(config.index_dir, settings)
    info["near_seconds"] = time.perf_counter() - t0
    return DedupResult(removed, clusters, info)


def _index_write(index_dir: str, name: str, removed_nodes: np.ndarray, n_band: int, *parts: pa.Table) -> int:
    bands = pa.concat_tables(parts[:n_band])
    meta = pa.concat_tables(parts[n_band:])
    return idx.write_index_part(index_dir, name, removed_nodes, bands, meta)


def _final_kept(exact: pa.Table, near: pa.Table) -> pa.Table:
    """Exact duplicates whose survivor was later removed as a near duplicate point at the final survivor."""
    pos = pc.index_in(exact["kept_id"], value_set=near["id"])
    final = pc.coalesce(near["kept_id"].take(pos), exact["kept_id"])
    return exact.set_column(exact.schema.get_field_index("kept_id"), "kept_id", final)


def dedup_blocks(blocks: list[Any], config: DedupConfig, executor=None) -> DedupResult:
    """Exact dedup, then near dedup of the exact survivors; returns the combined decisions."""
    ex = executor or make_executor(config)
    results: list[DedupResult] = []
    exclude = None
    if config.exact.enabled:
        r = run_exact(blocks, config, ex)
        results.append(r)
        exclude = r.removed["id"].combine_chunks()
    if config.minhash.enabled:
        results.append(run_near(blocks, config, ex, exclude))
    if len(results) == 2 and results[1].removed.num_rows and results[0].removed.num_rows:
        results[0].removed = _final_kept(results[0].removed, results[1].removed)
    info: dict[str, Any] = {}
    for r in results:
        info.update(r.info)
    removed = _sorted(_concat([r.removed for r in results], empty_removed()), "id")
    clusters = _concat([r.clusters for r in results], empty_clusters())
    return DedupResult(removed, clusters, info)
