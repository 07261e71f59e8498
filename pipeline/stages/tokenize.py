"""Tokenize: the last document stage's parts → `tokens/` (manifest, tokenizer, Arrow shards).

The work (tokenizer training, parallel encoding on Ray, packing, shard
writing) is `tokenization.tokenize_to_dir`; this stage feeds it the kept
documents and records documents and tokens per split in the ledger.

When no document with text is left (an empty source, a policy that drops
everything), there is nothing to train a tokenizer on: the stage records zero
tokens, writes no `tokens/`, and the run still ends normally. A corpus too
small for one training row is the config's problem (seq_len), reported as such.
"""

from __future__ import annotations

from pipeline import storage
from pipeline.config import ConfigError, RunConfig
from pipeline.executor import StageProgress
from pipeline.ledger import StageStats
from pipeline.stages.mapping import input_parts

NOTHING_TO_TOKENIZE = "nothing_to_tokenize"


def run(cfg: RunConfig, run_dir: str, previous: str | None) -> StageStats:
    from tokenization import CorpusTooSmallError, EmptyCorpusError, tokenize_to_dir

    parts = input_parts(run_dir, previous)
    out_dir = storage.join(run_dir, "tokens")
    progress = TokenizeProgress()
    try:
        result = tokenize_to_dir(
            parts, out_dir, cfg.tokenize, source_run=run_dir, overwrite=True, progress=progress
        )
    except EmptyCorpusError:
        return nothing_to_tokenize(count_documents(parts))
    except CorpusTooSmallError as e:
        raise ConfigError(f"tokenize: {e}") from e
    finally:
        progress.close()
    stats = StageStats(name="tokenize")
    stats.input = result.documents_in
    stats.kept = result.documents_in - result.documents_empty
    stats.add_removed("empty_text", result.documents_empty)
    stats.bytes_in = result.text_bytes
    stats.extra["tokens"] = int(sum(s.tokens for s in result.splits.values()))
    stats.extra["tokens_by_split"] = {k: int(s.tokens) for k, s in sorted(result.splits.items())}
    stats.extra["rows_by_split"] = {k: int(s.rows) for k, s in sorted(result.splits.items())}
    stats.extra["documents_by_split"] = {k: int(s.documents) for k, s in sorted(result.splits.items())}
    stats.extra["dropped_tokens"] = int(sum(s.dropped_tokens for s in result.splits.values()))
    stats.extra["vocab_size"] = int(result.vocab_size)
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
            self.done = done
            self.bar.update(f"{documents:,} documents")
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
    stats = StageStats(name="tokenize", input=documents)
    stats.add_removed("empty_text", documents)
    stats.extra.update({"tokens": 0, NOTHING_TO_TOKENIZE: True})
    return stats
