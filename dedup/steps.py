"""Step functions of the distributed dedup (pure functions over Arrow tables; run inline or as Ray tasks).

Partitioning: 64-bit keys go to partition `key % P`. Documents are represented in the shuffles by their
node key (xxh3-64 of the id), never by text.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dedup.config import MinHashConfig
from dedup.exact import exact_hash_batch, hash_words, node_ids
from dedup.executor import ret
from dedup.io import load_block, members, split_by
from dedup.lsh import band_keys
from dedup.minhash import signatures_from_hashes
from dedup.shingle import shingle_hashes_batch
from dedup.survivor import resolve_clusters

BAND_SCHEMA = pa.schema(
    [("band", pa.int16()), ("key", pa.uint64()), ("node", pa.uint64()), ("is_old", pa.bool_())]
)
EDGE_SCHEMA = pa.schema([("u", pa.uint64()), ("v", pa.uint64())])


def _part(keys: np.ndarray, num_parts: int) -> np.ndarray:
    return (keys % np.uint64(num_parts)).astype(np.int64)


def _drop_ids(table: pa.Table, exclude: pa.Array | None) -> pa.Table:
    if exclude is None or len(exclude) == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table["id"], value_set=exclude)))


# ---------------------------------------------------------------- exact


def exact_map(num_parts: int, block) -> pa.Table | tuple:
    """Members + 128-bit normalized-text hash, partitioned by hash."""
    t = load_block(block)
    h1, h2 = hash_words(exact_hash_batch(t))
    m = members(t).append_column("h1", pa.array(h1)).append_column("h2", pa.array(h2))
    return ret(split_by(m, _part(h1, num_parts), num_parts))


def exact_reduce(survivor: list[str], *parts: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(removed, clusters) of one hash partition."""
    return resolve_clusters(pa.concat_tables(parts), ["h1", "h2"], survivor, "exact_duplicate", "exact_dedup")


# ---------------------------------------------------------------- MinHash / LSH


def near_map(cfg: MinHashConfig, bands: int, rows: int, num_parts: int, exclude, block) -> tuple:
    """Band rows partitioned by band key, then member rows partitioned by node (2 * num_parts outputs)."""
    t = _drop_ids(load_block(block), exclude)
    texts = t["text"].to_pylist()
    hashes = shingle_hashes_batch([x or "" for x in texts], cfg.ngram, cfg.char_ngram)
    nonempty = np.fromiter((len(h) > 0 for h in hashes), dtype=bool, count=len(hashes))
    sig = signatures_from_hashes([h for h, ne in zip(hashes, nonempty, strict=True) if ne], cfg)
    nodes = node_ids(t["id"])
    keys = band_keys(sig, bands, rows)
    m = keys.shape[0]
    band_table = pa.Table.from_arrays(
        [
            pa.array(np.tile(np.arange(bands, dtype=np.int16), m)),
            pa.array(keys.ravel()),
            pa.array(np.repeat(nodes[nonempty], bands)),
            pa.array(np.zeros(m * bands, dtype=bool)),
        ],
        schema=BAND_SCHEMA,
    )
    meta = members(t).append_column("node", pa.array(nodes))
    return ret(
        split_by(band_table, _part(keys.ravel(), num_parts), num_parts)
        + split_by(meta, _part(nodes, num_parts), num_parts)
    )


def band_reduce(max_bucket_pairs: int, num_parts: int, *parts: pa.Table) -> pa.Table | tuple:
    """Candidate edges (u < v) from documents sharing a (band, key) bucket, partitioned by u.

    Buckets up to max_bucket_pairs members give all pairs (so the Jaccard check can't break a chain);
    larger ones give a star from their smallest node. Edges between two old (indexed) documents are dropped.
    """
    t = pa.concat_tables(parts)
    band = t["band"].to_numpy()
    key = t["key"].to_numpy()
    node = t["node"].to_numpy()
    old = t["is_old"].to_numpy(zero_copy_only=False)
    order = np.lexsort((node, key, band))
    band, key, node, old = band[order], key[order], node[order], old[order]
    n = len(node)
    us: list[np.ndarray] = []
    vs: list[np.ndarray] = []
    if n > 1:
        new = np.ones(n, dtype=bool)
        new[1:] = (band[1:] != band[:-1]) | (key[1:] != key[:-1])
        starts = np.flatnonzero(new)
        sizes = np.diff(np.append(starts, n))
        for s in np.unique(sizes[(sizes >= 2) & (sizes <= max_bucket_pairs)]):
            idx = starts[sizes == s][:, None] + np.arange(s)[None, :]
            i, j = np.triu_indices(int(s), 1)
            us.append(idx[:, i].ravel())
            vs.append(idx[:, j].ravel())
        big = sizes > max_bucket_pairs
        if big.any():
            first = np.repeat(starts, sizes)
            rows = np.flatnonzero(~new & np.repeat(big, sizes))
            us.append(first[rows])
            vs.append(rows)
    if us:
        iu, iv = np.concatenate(us), np.concatenate(vs)
        keep = ~(old[iu] & old[iv]) & (node[iu] != node[iv])
        a, b = node[iu[keep]], node[iv[keep]]
        e = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    else:
        e = np.empty((0, 2), dtype=np.uint64)
    edges = pa.Table.from_arrays([pa.array(e[:, 0]), pa.array(e[:, 1])], schema=EDGE_SCHEMA)
    return ret(split_by(edges, _part(e[:, 0], num_parts), num_parts))


def edge_unique(*parts: pa.Table) -> pa.Table:
    """Globally unique edges of one u-partition (the same pair may come from several bands)."""
    t = pa.concat_tables(parts)
    e = (
        np.stack([t["u"].to_numpy(), t["v"].to_numpy()], axis=1)
        if t.num_rows
        else np.empty((0, 2), np.uint64)
    )
    e = np.unique(e, axis=0)
    return pa.Table.from_arrays(
        [pa.array(e[:, 0], pa.uint64()), pa.array(e[:, 1], pa.uint64())], schema=EDGE_SCHEMA
    )


def edge_nodes(edges: pa.Table) -> np.ndarray:
    """Sorted unique endpoints of an edge table."""
    return np.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]))


# ---------------------------------------------------------------- Jaccard verification


def collect_sets(
    cfg: MinHashConfig, num_parts: int, candidates: np.ndarray, exclude, block
) -> pa.Table | tuple:
    """Shingle-hash sets (sorted unique uint32) of this block's candidate documents, partitioned by node."""
    t = _drop_ids(load_block(block), exclude)
    nodes = node_ids(t["id"])
    pos = np.searchsorted(candidates, nodes)
    hit = (pos < len(candidates)) & (candidates[np.minimum(pos, len(candidates) - 1)] == nodes)
    t, nodes = t.filter(pa.array(hit)), nodes[hit]
    sets = [
        np.unique(h)
        for h in shingle_hashes_batch([x or "" for x in t["text"].to_pylist()], cfg.ngram, cfg.char_ngram)
    ]
    offsets = np.zeros(len(sets) + 1, dtype=np.int32)
    np.cumsum([len(s) for s in sets], out=offsets[1:])
    flat = np.concatenate(sets).astype(np.uint32) if sets else np.empty(0, np.uint32)
    table = pa.table({"node": pa.array(nodes, pa.uint64()), "set": pa.ListArray.from_arrays(offsets, flat)})
    return ret(split_by(table, _part(nodes, num_parts), num_parts))


def _lookup(sets: pa.Table, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row of each node in `sets` (sorted by node) and whether it was found."""
    keys = sets["node"].to_numpy()
    order = np.argsort(keys)
    pos = np.searchsorted(keys[order], nodes)
    found = (
        (pos < len(keys)) & (keys[order][np.minimum(pos, max(len(keys) - 1, 0))] == nodes)
        if len(keys)
        else (np.zeros(len(nodes), dtype=bool))
    )
    rows = order[np.minimum(pos, max(len(keys) - 1, 0))] if len(keys) else np.zeros(len(nodes), np.int64)
    return rows, found


def verify_attach(num_parts: int, n_edge_parts: int, *parts: pa.Table) -> tuple:
    """Split this u-partition's edges by v-partition, and send each destination the shingle sets of its
    distinct u endpoints once: a set travels at most once per destination partition, never once per edge,
    so memory stays linear in documents however many candidate pairs a document has.

    Returns num_parts edge tables (u, v) followed by num_parts set tables (node, set).
    """
    edges = pa.concat_tables(parts[:n_edge_parts])
    sets = pa.concat_tables(parts[n_edge_parts:])
    u = edges["u"].to_numpy()
    dest = _part(edges["v"].to_numpy(), num_parts)
    edge_out: list[pa.Table] = []
    set_out: list[pa.Table] = []
    for q in range(num_parts):
        mask = dest == q
        edge_out.append(edges.filter(pa.array(mask)))
        uq = np.unique(u[mask])
        rows, found = _lookup(sets, uq)
        set_out.append(sets.take(pa.array(rows[found])) if sets.num_rows else sets)
    return ret(edge_out + set_out)


def _as_lists(arr: pa.Array | pa.ChunkedArray) -> list[np.ndarray]:
    """Views of each (non-null) list's values, without copying them."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    flat = arr.flatten().to_numpy()  # values of the lists, contiguous
    lens = pc.fill_null(pc.list_value_length(arr), 0).to_numpy()
    ends = np.cumsum(lens)
    return [flat[e - n : e] for e, n in zip(ends, lens, strict=True)]


def verify_finish(threshold: float, n_edge_parts: int, n_uset_parts: int, *parts: pa.Table) -> pa.Table:
    """Keep edges of this v-partition whose exact Jaccard >= threshold.

    Inputs: edge tables, then the u-endpoint set tables (one per source u-partition), then this partition's
    own set tables. Edges to indexed (old) documents have no set on one side and are kept.
    """
    edges = pa.concat_tables(parts[:n_edge_parts])
    usets = pa.concat_tables(parts[n_edge_parts : n_edge_parts + n_uset_parts])
    vsets = pa.concat_tables(parts[n_edge_parts + n_uset_parts :])
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    urows, ufound = _lookup(usets, u)
    vrows, vfound = _lookup(vsets, v)
    su = _as_lists(usets["set"]) if usets.num_rows else []
    sv = _as_lists(vsets["set"]) if vsets.num_rows else []
    keep = np.ones(len(v), dtype=bool)
    for i in np.flatnonzero(ufound & vfound):
        a, b = su[urows[i]], sv[vrows[i]]
        inter = len(np.intersect1d(a, b, assume_unique=True))
        union = len(a) + len(b) - inter
        keep[i] = union > 0 and inter / union >= threshold
    return edges.select(["u", "v"]).filter(pa.array(keep))


# ---------------------------------------------------------------- connected components


def cc_scatter(num_parts: int, edges: pa.Table) -> pa.Table | tuple:
    """Both directions of each edge as (src, dst), partitioned by src."""
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    src, dst = np.concatenate([u, v]), np.concatenate([v, u])
    t = pa.table({"src": pa.array(src, pa.uint64()), "dst": pa.array(dst, pa.uint64())})
    return ret(split_by(t, _part(src, num_parts), num_parts))


def _min_by(keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique keys (sorted) and the minimum value per key."""
    if len(keys) == 0:
        return keys, vals
    order = np.lexsort((vals, keys))
    k, x = keys[order], vals[order]
    first = np.ones(len(k), dtype=bool)
    first[1:] = k[1:] != k[:-1]
    return k[first], x[first]


def cc_init(*parts: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Adjacency of this node partition and initial labels = min(node, neighbours)."""
    adj = pa.concat_tables(parts)
    src, dst = adj["src"].to_numpy(), adj["dst"].to_numpy()
    nodes, lab = _min_by(src, dst)
    labels = pa.table(
        {"node": pa.array(nodes, pa.uint64()), "label": pa.array(np.minimum(nodes, lab), pa.uint64())}
    )
    return labels, adj


def cc_send(num_parts: int, labels: pa.Table, adj: pa.Table) -> pa.Table | tuple:
    """Min label offered to each neighbour (pre-reduced per destination), partitioned by destination."""
    nodes, lab = labels["node"].to_numpy(), labels["label"].to_numpy()
    src, dst = adj["src"].to_numpy(), adj["dst"].to_numpy()
    offer = lab[np.searchsorted(nodes, src)] if len(src) else src
    d, o = _min_by(dst, offer)
    t = pa.table({"node": pa.array(d, pa.uint64()), "label": pa.array(o, pa.uint64())})
    return ret(split_by(t, _part(d, num_parts), num_parts))


def cc_recv(labels: pa.Table, *msgs: pa.Table) -> tuple[pa.Table, int]:
    """New labels = min(own, offers); also how many changed (0 everywhere = converged)."""
    m = pa.concat_tables(msgs)
    nodes, lab = labels["node"].to_numpy(), labels["label"].to_numpy().copy()
    d, o = _min_by(m["node"].to_numpy(), m["label"].to_numpy())
    if len(d):
        pos = np.searchsorted(nodes, d)
        better = o < lab[pos]
        lab[pos[better]] = o[better]
        changed = int(better.sum())
    else:
        changed = 0
    return pa.table({"node": pa.array(nodes, pa.uint64()), "label": pa.array(lab, pa.uint64())}), changed


# ---------------------------------------------------------------- clusters and survivors


def near_members(num_parts: int, n_label_parts: int, *parts: pa.Table) -> pa.Table | tuple:
    """Member rows of clustered documents of this node partition with their label, partitioned by label."""
    labels = pa.concat_tables(parts[:n_label_parts])
    meta = pa.concat_tables(parts[n_label_parts:])
    ln, ll = labels["node"].to_numpy(), labels["label"].to_numpy()
    mn = meta["node"].to_numpy()
    pos = np.searchsorted(ln, mn)
    hit = (
        (pos < len(ln)) & (ln[np.minimum(pos, max(len(ln) - 1, 0))] == mn)
        if len(ln)
        else np.zeros(len(mn), bool)
    )
    t = meta.filter(pa.array(hit))
    lab = ll[pos[hit]]
    t = t.append_column("label", pa.array(lab, pa.uint64()))
    return ret(split_by(t, _part(lab, num_parts), num_parts))


def near_reduce(survivor: list[str], *parts: pa.Table) -> tuple[pa.Table, pa.Table]:
    return resolve_clusters(pa.concat_tables(parts), ["label"], survivor, "near_duplicate", "near_dedup")
