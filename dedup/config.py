"""Pydantic configs for exact and MinHash dedup; `extra="forbid"` so the pipeline config can embed them safely.

`DedupConfig` is `winnow dedup`'s config and the pipeline's `near_dedup` section; `ExactOnlyConfig` is
exact dedup on its own (the pipeline's `exact_dedup` section). The settings both have (survivor order,
shuffle partitions, block rows) are defined once, below, and used by both.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SurvivorKey = Literal["quality", "length", "source_order"]

SurvivorOrder = Annotated[
    list[SurvivorKey],
    Field(
        default_factory=lambda: ["quality", "length", "source_order"],
        description="order of survivor criteria per cluster; the smallest id is always the final tie-break",
    ),
]
NumPartitions = Annotated[int, Field(ge=1, le=4096, description="hash partitions of the shuffles")]
RowsPerBlock = Annotated[int, Field(ge=1, description="rows per input block read by one task")]


class ExactDedupConfig(BaseModel):
    """Exact dedup on a 128-bit hash of normalized text (NFKC, lowercase, collapsed whitespace)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True


class MinHashConfig(BaseModel):
    """MinHash LSH near-dedup.

    Defaults come from the provenance benchmark (benchmarks/dedup_provenance.py), chosen on its tune split
    only: a duplicate is the same page with <= 5% of words edited, boilerplate added or formatting changed;
    a page with >= 50% of words replaced is not. 3-word shingles separate the two best (a 5% edit breaks
    ~3x as many 3-grams as words, 5-grams ~5x), threshold 0.35 sits between the duplicates' Jaccard
    (1st percentile 0.61) and the non-duplicates' (max 0.20), and equal fp/fn weights give 32x4 bands x rows;
    the exact Jaccard check drops the candidates below the threshold. The char n-gram size of unspaced
    scripts was not part of that benchmark and stays 5.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    num_perm: int = Field(128, ge=2, le=1024)
    seed: int = 1
    scheme: Literal["affine32", "legacy"] = "affine32"
    ngram: int = Field(3, ge=1, le=32, description="word n-gram size")
    char_ngram: int = Field(
        5, ge=1, le=32, description="char n-gram size for unspaced scripts (CJK, Thai...)"
    )
    threshold: float = Field(0.35, gt=0.0, lt=1.0, description="target Jaccard similarity")
    fp_weight: float = Field(0.5, ge=0.0, le=1.0)
    fn_weight: float = Field(0.5, ge=0.0, le=1.0)
    bands: int | None = Field(None, ge=1, description="hand-set bands (with rows) instead of the optimum")
    rows: int | None = Field(None, ge=1)
    verify_jaccard: bool = Field(
        True, description="drop candidate pairs whose exact shingle Jaccard < threshold"
    )
    max_bucket_pairs: int = Field(
        64, ge=2, description="buckets up to this size are verified pairwise; larger ones by star from min id"
    )

    @model_validator(mode="after")
    def _check_bands(self) -> MinHashConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows={self.bands * self.rows} exceeds num_perm={self.num_perm}")
        return self


class DedupConfig(BaseModel):
    """A whole dedup run: exact first, then MinHash near-dedup on the exact survivors."""

    model_config = ConfigDict(extra="forbid")

    exact: ExactDedupConfig = Field(default_factory=ExactDedupConfig)
    minhash: MinHashConfig = Field(default_factory=MinHashConfig)
    survivor: SurvivorOrder
    num_partitions: NumPartitions = 8
    rows_per_block: RowsPerBlock = 20_000
    index_dir: str | None = Field(None, description="persistent LSH index of earlier runs to dedup against")
    update_index: bool = Field(False, description="append this run's near-dedup survivors to index_dir")
    use_ray: bool = True


class ExactOnlyConfig(BaseModel):
    """Exact dedup on its own, without MinHash (the pipeline's `exact_dedup` section).

    Its keys are those a run config has always had under `exact_dedup:`, in the same order (the
    pipeline's section adds only its own `batch_rows` after them); `dedup_config()` is the
    `DedupConfig` that `run_exact` takes.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    survivor: SurvivorOrder
    num_partitions: NumPartitions = 8
    rows_per_block: RowsPerBlock = 20_000

    def dedup_config(self) -> DedupConfig:
        """The whole-dedup config of this exact pass: MinHash off, the shuffle settings as given."""
        return DedupConfig(
            exact=ExactDedupConfig(enabled=self.enabled),
            minhash=MinHashConfig(enabled=False),
            survivor=list(self.survivor),
            num_partitions=self.num_partitions,
            rows_per_block=self.rows_per_block,
        )
