"""Tokenize: the last document stage's parts → `tokens/` (manifest, tokenizer, Arrow shards).

The work (tokenizer training, parallel encoding on Ray, packing, shard
writing) is `tokenization.tokenize_to_dir`; this stage feeds it the kept
documents and records documents and tokens per split in the ledger.

When no document with text is left (an empty source, a policy that drops
everything), there is nothing to train a tokenizer on: the stage records zero
tokens, writes no dataset (the runner's `tokens/_SUCCESS` is then all that
`tokens/` holds), and the run still ends normally. A corpus too small for one
training row is the config's problem (seq_len), reported as such.
"""

from __future__ import annotations

from typing import Any

from pipeline import storage
from pipeline.config import ConfigError, RunConfig
from pipeline.executor import StageProgress
from pipeline.layout import StagePaths
from pipeline.ledger import StageStats
from pipeline.stages.mapping import input_parts

NOTHING_TO_TOKENIZE = "nothing_to_tokenize"


def run(cfg: RunConfig, run_dir: str, previous: str | None) -> StageStats:
    from tokenization import CorpusTooSmallError, EmptyCorpusError, tokenize_to_dir

    parts = input_parts(run_dir, previous)
    out_dir = StagePaths(run_dir, "tokenize").out_dir  # tokens/
    progress = TokenizeProgress()
    try:
        result = tokenize_to_dir(
            parts, out_dir, cfg.tokenize, source_run=run_dir, overwrite=True, progress=progress
        )
    except EmptyCorpusError:
        storage.remove_tree(out_dir)  # no dataset: the directory will hold only the stage's marker
        return nothing_to_tokenize(count_documents(parts))
    except CorpusTooSmallError as e:
        raise ConfigError(f"tokenize: {e}") from e
    finally:
        progress.close()
    splits = sorted(result.splits.items())
    return tokenize_stats(
        result.documents_in,
        result.documents_empty,
        result.text_bytes,
        tokens=int(sum(s.tokens for _, s in splits)),
        tokens_by_split={k: int(s.tokens) for k, s in splits},
        rows_by_split={k: int(s.rows) for k, s in splits},
        documents_by_split={k: int(s.documents) for k, s in splits},
        dropped_tokens=int(sum(s.dropped_tokens for _, s in splits)),
        vocab_size=int(result.vocab_size),
    )


def tokenize_stats(documents: int, empty: int, text_bytes: int = 0, **extra: Any) -> StageStats:
    """The stage's ledger entry, for a dataset written or none: every input document is kept (its text
    is in the token rows) or removed as `empty_text`."""
    stats = StageStats(name="tokenize", input=documents, kept=documents - empty, bytes_in=text_bytes)
    stats.add_removed("empty_text", empty)
    stats.extra.update(extra)
    return stats


class TokenizeProgress:
    """Shows `tokenize_to_dir`'s encoding progress as a stage's progress (chunks done, documents)."""

    def __init__(self) -> None:
        self.bar: StageProgress | None = None  # made on the first report, when the total is known
        self.done = 0

    def __call__(self, done: int, total: int, documents: int) -> None:
        if self.bar is None:
            self.bar = StageProgress(total, "tokenize", unit="chunk")
        if done > self.done:
            for _ in range(done - self.done):  # a resumed run starts past 0; a report may cover several
                self.bar.update(f"{documents:,} documents")
            self.done = done
        else:
            self.bar.tick()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def count_documents(parts: list[str]) -> int:
    """Rows of the input parts, from their Parquet footers."""
    return sum(storage.open_parquet(p).metadata.num_rows for p in parts)


def nothing_to_tokenize(documents: int) -> StageStats:
    """The ledger entry of a tokenize stage given no text: every input document is empty text."""
    return tokenize_stats(documents, documents, tokens=0, **{NOTHING_TO_TOKENIZE: True})
