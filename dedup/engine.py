"""Orchestration of exact and near dedup over blocks: map → hash-partitioned reduce → components → survivors.

Blocks are Arrow tables, Ray ObjectRefs of tables (e.g. from `Dataset.to_arrow_refs()`), or `FileBlock`s read
inside the tasks. The driver only holds small tables: removed ids with their cluster and kept id, clusters,
and candidate node keys (8 bytes each) when verifying.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dedup import index as idx
from dedup import steps
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


# Where the steps run: inline in this process, or as Ray tasks (the same calls either way).
Executor = LocalExecutor | RayExecutor


def make_executor(config: DedupConfig) -> Executor:
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


def _submit_split(ex: Executor, fn: Callable, num_returns: int, *args: Any) -> list[Any]:
    """Submit a step with `num_returns` outputs; always a list (the executor gives a bare value for one)."""
    out = ex.submit(fn, *args, num_returns=num_returns)
    return out if num_returns > 1 else [out]


def _gather_decisions(ex: Executor, reduce_outputs: list[list[Any]]) -> tuple[pa.Table, pa.Table]:
    """Fetch the (removed, clusters) pair of every reducer: removed sorted by id, clusters by cluster_id."""
    fetched = ex.get([ref for pair in reduce_outputs for ref in pair])
    removed = _sorted(_concat(fetched[0::2], empty_removed()), "id")
    clusters = _sorted(_concat(fetched[1::2], empty_clusters()), "cluster_id")
    return removed, clusters


def run_exact(blocks: list[Any], config: DedupConfig, ex: Executor) -> DedupResult:
    """Exact duplicates across all blocks (one hash-partitioned shuffle)."""
    if not blocks:  # nothing to shuffle: the reducers would get no tables at all
        return DedupResult(empty_removed(), empty_clusters(), {"exact_clusters": 0})
    num_parts = config.num_partitions
    hashed = [_submit_split(ex, steps.exact_map, num_parts, num_parts, b) for b in blocks]
    reduce_outputs = [
        ex.submit(steps.exact_reduce, list(config.survivor), *parts, num_returns=2)
        for parts in _transpose(hashed, num_parts)
    ]
    removed, clusters = _gather_decisions(ex, reduce_outputs)
    return DedupResult(removed, clusters, {"exact_clusters": clusters.num_rows})


@dataclass
class _NearShuffle:
    """The map output of a near run, per partition: lists of table refs, one per producing task."""

    # Per band-key partition: this run's band rows, then the index's (flagged old).
    band_parts: list[list[Any]]
    # Per node partition: this run's member rows (what the index may gain).
    new_member_parts: list[list[Any]]
    # Per node partition: this run's member rows, then the index's.
    member_parts: list[list[Any]]


def _near_map(
    blocks: list[Any],
    config: DedupConfig,
    ex: Executor,
    exclude_ref: Any,
    bands: int,
    rows: int,
    use_index: bool,
) -> _NearShuffle:
    """Signatures → band rows by band key and member rows by node; with an index, its rows join in."""
    num_parts = config.num_partitions
    mapped = [
        _submit_split(
            ex, steps.near_map, 2 * num_parts, config.minhash, bands, rows, num_parts, exclude_ref, b
        )
        for b in blocks
    ]
    band_parts = _transpose([m[:num_parts] for m in mapped], num_parts)
    member_parts = _transpose([m[num_parts:] for m in mapped], num_parts)
    if not use_index:
        return _NearShuffle(band_parts, member_parts, member_parts)
    index_dir = config.index_dir
    index_bands = [
        _submit_split(ex, idx.read_index_bands, num_parts, num_parts, f)
        for f in idx.index_files(index_dir, "bands")
    ]
    index_members = [
        _submit_split(ex, idx.read_index_docs, num_parts, num_parts, f)
        for f in idx.index_files(index_dir, "docs")
    ]
    return _NearShuffle(
        band_parts=_join_parts(band_parts, index_bands, num_parts),
        new_member_parts=member_parts,
        member_parts=_join_parts(member_parts, index_members, num_parts),
    )


def _join_parts(parts: list[list[Any]], extra: list[list[Any]], num_parts: int) -> list[list[Any]]:
    """Per partition, `parts` followed by the outputs of the `extra` tasks for that partition."""
    if not extra:
        return parts
    return [mine + theirs for mine, theirs in zip(parts, _transpose(extra, num_parts), strict=True)]


def _candidate_edges(band_parts: list[list[Any]], config: DedupConfig, ex: Executor) -> list[Any]:
    """Documents sharing a band bucket become candidate pairs, deduplicated per u-partition."""
    num_parts = config.num_partitions
    bucket_edges = [
        _submit_split(ex, steps.band_reduce, num_parts, config.minhash.max_bucket_pairs, num_parts, *tables)
        for tables in band_parts
    ]
    return [ex.submit(steps.edge_unique, *parts) for parts in _transpose(bucket_edges, num_parts)]


def _verified_edges(
    edges: list[Any],
    edge_tables: list[pa.Table],
    blocks: list[Any],
    config: DedupConfig,
    ex: Executor,
    exclude_ref: Any,
) -> list[Any]:
    """Keep the candidate pairs whose exact shingle Jaccard reaches the threshold (LSH only estimates it)."""
    cfg, num_parts = config.minhash, config.num_partitions
    candidates = ex.put(np.unique(np.concatenate([steps.edge_nodes(t) for t in edge_tables])))
    sets = _transpose(
        [
            _submit_split(ex, steps.collect_sets, num_parts, cfg, num_parts, candidates, exclude_ref, b)
            for b in blocks
        ],
        num_parts,
    )
    # Each u-partition sends every v-partition its edges plus the sets of their distinct u's (once each).
    attached = [
        _submit_split(ex, steps.verify_attach, 2 * num_parts, num_parts, 1, edges[p], *sets[p])
        for p in range(num_parts)
    ]
    sent_edges = _transpose([a[:num_parts] for a in attached], num_parts)
    sent_sets = _transpose([a[num_parts:] for a in attached], num_parts)
    return [
        ex.submit(
            steps.verify_finish,
            cfg.threshold,
            len(sent_edges[q]),
            len(sent_sets[q]),
            *sent_edges[q],
            *sent_sets[q],
            *sets[q],
        )
        for q in range(num_parts)
    ]


def _connected_components(edges: list[Any], num_parts: int, ex: Executor) -> tuple[list[Any], int]:
    """Cluster labels per node partition by distributed min-label propagation; also the rounds it took."""
    scattered = _transpose(
        [_submit_split(ex, steps.cc_scatter, num_parts, num_parts, e) for e in edges], num_parts
    )
    state = [ex.submit(steps.cc_init, *parts, num_returns=2) for parts in scattered]
    labels, adjacency = [s[0] for s in state], [s[1] for s in state]
    iterations = 0
    while True:
        iterations += 1
        offers = _transpose(
            [
                _submit_split(ex, steps.cc_send, num_parts, num_parts, labels[p], adjacency[p])
                for p in range(num_parts)
            ],
            num_parts,
        )
        received = [ex.submit(steps.cc_recv, labels[p], *offers[p], num_returns=2) for p in range(num_parts)]
        labels = [r[0] for r in received]
        if sum(ex.get([r[1] for r in received])) == 0:
            return labels, iterations


def _near_survivors(
    labels: list[Any], member_parts: list[list[Any]], config: DedupConfig, ex: Executor
) -> tuple[pa.Table, pa.Table]:
    """Group the labelled members by cluster and keep one survivor per cluster: (removed, clusters)."""
    num_parts = config.num_partitions
    by_cluster = _transpose(
        [
            _submit_split(ex, steps.near_members, num_parts, num_parts, 1, labels[p], *member_parts[p])
            for p in range(num_parts)
        ],
        num_parts,
    )
    reduce_outputs = [
        ex.submit(steps.near_reduce, list(config.survivor), *parts, num_returns=2) for parts in by_cluster
    ]
    return _gather_decisions(ex, reduce_outputs)


def _extend_index(
    shuffle: _NearShuffle, removed: pa.Table, config: DedupConfig, ex: Executor, settings: dict
) -> int:
    """Append this run's surviving documents to the index (one part per partition); returns how many."""
    assert config.index_dir is not None
    removed_nodes = np.sort(node_ids(removed["id"])) if removed.num_rows else np.empty(0, np.uint64)
    run_name = idx.next_run_name(config.index_dir)
    removed_ref = ex.put(removed_nodes)
    writes = [
        ex.submit(
            _index_write,
            config.index_dir,
            f"{run_name}-p{p:05d}",
            removed_ref,
            len(shuffle.band_parts[p]),
            *shuffle.band_parts[p],
            *shuffle.new_member_parts[p],
        )
        for p in range(config.num_partitions)
    ]
    added = int(sum(ex.get(writes)))
    idx.write_index_settings(config.index_dir, settings)
    return added


def run_near(
    blocks: list[Any], config: DedupConfig, ex: Executor, exclude: pa.Array | None = None
) -> DedupResult:
    """MinHash LSH near duplicates of all blocks (minus `exclude` ids), optionally against an index."""
    cfg = config.minhash
    bands, rows = bands_rows(cfg)
    info: dict[str, Any] = {"bands": bands, "rows": rows}
    if not blocks:  # nothing to band: the reducers would get no tables at all
        return DedupResult(
            empty_removed(), empty_clusters(), {**info, "candidate_pairs": 0, "near_clusters": 0}
        )
    started = time.perf_counter()
    exclude_ref = ex.put(exclude) if exclude is not None and len(exclude) else None
    settings = idx.index_settings(cfg, bands, rows)
    use_index = config.index_dir is not None and idx.check_index(config.index_dir, settings)

    shuffle = _near_map(blocks, config, ex, exclude_ref, bands, rows, use_index)
    edges = _candidate_edges(shuffle.band_parts, config, ex)
    candidate_tables = ex.get(edges)
    info["candidate_pairs"] = int(sum(t.num_rows for t in candidate_tables))
    if cfg.verify_jaccard and info["candidate_pairs"]:
        edges = _verified_edges(edges, candidate_tables, blocks, config, ex, exclude_ref)
        info["verified_pairs"] = int(sum(t.num_rows for t in ex.get(edges)))
    else:
        info["verified_pairs"] = info["candidate_pairs"]
    labels, info["cc_iterations"] = _connected_components(edges, config.num_partitions, ex)
    removed, clusters = _near_survivors(labels, shuffle.member_parts, config, ex)
    info["near_clusters"] = clusters.num_rows
    if config.index_dir is not None and config.update_index:
        info["index_added"] = _extend_index(shuffle, removed, config, ex, settings)
    info["near_seconds"] = time.perf_counter() - started
    return DedupResult(removed, clusters, info)


def _index_write(index_dir: str, name: str, removed_nodes: np.ndarray, n_band: int, *parts: pa.Table) -> int:
    """A task: one partition's band tables (the first `n_band` parts) and member tables into the index."""
    bands = pa.concat_tables(parts[:n_band])
    meta = pa.concat_tables(parts[n_band:])
    return idx.write_index_part(index_dir, name, removed_nodes, bands, meta)


def _final_kept(exact: pa.Table, near: pa.Table) -> pa.Table:
    """Exact duplicates whose survivor was later removed as a near duplicate point at the final survivor."""
    pos = pc.index_in(exact["kept_id"], value_set=near["id"])
    final = pc.coalesce(near["kept_id"].take(pos), exact["kept_id"])
    return exact.set_column(exact.schema.get_field_index("kept_id"), "kept_id", final)


def dedup_blocks(
    blocks: list[Any],
    config: DedupConfig,
    executor: Executor | None = None,
    progress: Callable[[str], None] | None = None,
) -> DedupResult:
    """Exact dedup, then near dedup of the exact survivors; returns the combined decisions.
    `progress(message)` is told when each step ends (the command line reports it on long runs)."""
    ex = executor or make_executor(config)
    say = progress or (lambda _message: None)
    results: list[DedupResult] = []
    exclude = None
    if config.exact.enabled:
        exact = run_exact(blocks, config, ex)
        results.append(exact)
        exclude = exact.removed["id"].combine_chunks()
        say(f"exact dedup done: {exact.removed.num_rows:,} removed")
    if config.minhash.enabled:
        near = run_near(blocks, config, ex, exclude)
        results.append(near)
        say(
            f"near dedup done: {near.removed.num_rows:,} removed, "
            f"{near.info.get('candidate_pairs', 0):,} candidate pairs"
        )
    if len(results) == 2 and results[1].removed.num_rows and results[0].removed.num_rows:
        results[0].removed = _final_kept(results[0].removed, results[1].removed)
    info: dict[str, Any] = {}
    for result in results:
        info.update(result.info)
    removed = _sorted(_concat([result.removed for result in results], empty_removed()), "id")
    clusters = _concat([result.clusters for result in results], empty_clusters())
    return DedupResult(removed, clusters, info)
