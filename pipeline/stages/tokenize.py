"""Tokenize: the last document stage's parts → `tokens/` (manifest, tokenizer, Arrow shards).

The work (tokenizer training, parallel encoding on Ray, packing, shard
writing) is `tokenization.tokenize_to_dir`; this stage feeds it the kept
documents and records documents and tokens per split in the ledger.
"""

from __future__ import annotations

from pipeline import storage
from pipeline.config import RunConfig
from pipeline.ledger import StageStats
from pipeline.sections import tokenize_config
from pipeline.stages.mapping import input_parts


def run(cfg: RunConfig, run_dir: str, previous: str | None) -> StageStats:
    from tokenization import tokenize_to_dir

    parts = input_parts(run_dir, previous)
    out_dir = storage.join(run_dir, "tokens")
    result = tokenize_to_dir(parts, out_dir, tokenize_config(cfg), source_run=run_dir, overwrite=True)
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
