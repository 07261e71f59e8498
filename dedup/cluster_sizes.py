"""Cluster-size buckets: the ledger of a dedup stage, `winnow dedup`'s stats.json and the report count
clusters by size with one rule (`cluster_size_bucket`), so their numbers compare."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

# Every size bucket in size order: small clusters one by one, then by order of magnitude.
CLUSTER_SIZE_BUCKETS = (*(str(n) for n in range(2, 10)), "10-99", "100+")


def cluster_size_bucket(size: int) -> str:
    """The bucket of a cluster of `size` documents (at least 2): "2" ... "9", "10-99", "100+"."""
    if size < 2:
        raise ValueError(f"a duplicate cluster has at least 2 documents, not {size}")
    if size < 10:
        return str(size)
    return "10-99" if size < 100 else "100+"


def cluster_size_histogram(sizes: Iterable[int]) -> dict[str, int]:
    """Clusters per size bucket, in bucket order, buckets without clusters left out.

    Sizes below 2 are skipped: one document is no duplicate cluster (a foreign file may hold one).
    """
    counts = Counter(cluster_size_bucket(int(s)) for s in sizes if s >= 2)
    return {b: counts[b] for b in CLUSTER_SIZE_BUCKETS if counts[b]}
