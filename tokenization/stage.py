"""``tokenize_to_dir``: inputs → tokenizer → parallel encode on Ray → packed, shuffled Arrow shards.

Document order is the input order (paths as given, a directory's files by name, rows in file order);
with the seed it fixes every output byte, so any number of workers or tasks gives the same shards.
Everything is written under a hidden staging directory that is renamed to ``out_dir`` at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import ray
from tokenizers import Tokenizer

from dedup.executor import connect_ray
from dedup.kit import write_bytes_atomic
from tokenization.config import TokenizeConfig
from tokenization.encode import SPLITS, ChunkResult, chunk_path, encode_chunk
from tokenization.errors import CorpusTooSmallError, EmptyCorpusError
from tokenization.inputs import (
    Chunk,
    auto_docs_per_task,
    count_documents,
    expand_inputs,
    file_kind,
    plan_chunks,
    read_chunk,
)
from tokenization.pack import SplitPack, append_file, pack_split, tokens_manifest
from tokenization.tokenizer import (
    SpecialIds,
    resolve_tokenizer_file,
    sha256_bytes,
    special_ids,
    tokenizer_bytes,
    train_tokenizer,
)

# Encoding is single-threaded inside a task: Ray provides the parallelism (one task per CPU),
# so the tokenizers thread pool would only oversubscribe the cores.
_TASK_ENV = {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}
# Waits for encoded chunks wake up this often (seconds) to report progress.
PROGRESS_WAIT_S = 1.0
# progress(chunks appended, chunks total, documents so far)
EncodeProgress = Callable[[int, int, int], None]
# Defined once so Ray exports the function once per driver, not once per call.


@dataclass
class SplitStats:
    rows: int
    tokens: int
    documents: int
    dropped_tokens: int
    pad_tokens: int
    shards: int


@dataclass
class TokenizeStats:
    """Counts for the run ledger (per split rows/tokens/documents) plus timings."""

    splits: dict[str, SplitStats]
    documents_in: int  # records read (including empty ones)
    documents_empty: int  # null/empty text, skipped
    text_bytes: int
    total_tokens: int
    vocab_size: int
    tokenizer_sha256: str
    tokenizer_trained: bool
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    # Driver's peak RSS (MiB, since process start) at the end of each phase: locates memory growth.
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _hash_unit(seed: int, doc_id: str) -> float:
    h = hashlib.blake2b(f"sample\x00{seed}\x00{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def _estimated_text_bytes(files: list[str], text_column: str) -> int:
    """Uncompressed text size from Parquet footers, file size for JSONL (sets the sampling rate)."""
    total = 0
    for path in files:
        if file_kind(path) == "parquet":
            md = pq.ParquetFile(path).metadata
            names = [md.schema.column(i).name for i in range(md.num_columns)]
            if text_column in names:
                col = names.index(text_column)
                total += sum(
                    md.row_group(g).column(col).total_uncompressed_size for g in range(md.num_row_groups)
                )
        else:
            total += os.path.getsize(path)
    return total


def training_sample(
    chunks: list[Chunk], files: list[str], total_docs: int, config: TokenizeConfig
) -> Iterator[str]:
    """A deterministic sample of the inputs: documents whose hash(seed, id) falls under a rate set
    so the expected sample fits the byte/document caps, taken in input order until a cap is hit."""
    tcfg = config.tokenizer
    est = max(1, _estimated_text_bytes(files, config.text_column))
    rate = min(1.0, tcfg.sample_bytes / est)
    if tcfg.sample_documents is not None:
        rate = min(rate, tcfg.sample_documents / max(1, total_docs))
    n_bytes = n_docs = 0
    for chunk in chunks:
        ids, texts = read_chunk(chunk, config.id_column, config.text_column)
        for doc_id, text in zip(ids, texts, strict=True):
            if not text or (rate < 1.0 and _hash_unit(config.seed, doc_id) >= rate):
                continue
            yield text
            n_bytes += len(text.encode("utf-8"))
            n_docs += 1
            if n_bytes >= tcfg.sample_bytes or (tcfg.sample_documents and n_docs >= tcfg.sample_documents):
                return


def _ray_workers(config: TokenizeConfig) -> int:
    connect_ray()  # no-op when the caller already started or joined Ray
    if config.num_workers is not None:
        return config.num_workers
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _no_progress(done: int, total: int, documents: int) -> None:
    """The default: nobody is watching."""


def _run_encode(
    chunks: list[Chunk],
    tok_json: str,
    tok_sha: str,
    specials: SpecialIds,
    config: TokenizeConfig,
    workers: int,
    scratch: str,
    progress: EncodeProgress | None = None,
) -> tuple[dict[str, SplitPack], int, int, int]:
    """Encode chunks on Ray (at most ``workers`` in flight) and append their token files to the
    per-split streams strictly in chunk order as they complete.

    ``progress(chunks appended, chunks total, documents so far)`` is called after each appended chunk
    and at least every ``PROGRESS_WAIT_S`` while waiting, so a caller can show that work goes on."""
    report = progress or _no_progress
    remote = ray.remote(num_cpus=1)(encode_chunk).options(runtime_env={"env_vars": _TASK_ENV})
    tok_ref = ray.put(tok_json)
    packs = {s: SplitPack() for s in SPLITS}
    streams = {s: open(os.path.join(scratch, f"{s}.stream.bin"), "wb") for s in SPLITS}  # noqa: SIM115
    empty = text_bytes = records = 0
    pending: dict[ray.ObjectRef, int] = {}
    done: dict[int, ChunkResult] = {}
    next_submit = next_append = 0
    try:
        while next_append < len(chunks):
            while next_submit < len(chunks) and len(pending) < workers:
                ref = remote.remote(
                    chunks[next_submit],
                    tok_sha,
                    tok_ref,
                    specials,
                    id_column=config.id_column,
                    text_column=config.text_column,
                    seed=config.seed,
                    val_fraction=config.val_fraction,
                    batch_size=config.batch_size,
                    tmp_dir=scratch,
                )
                pending[ref] = next_submit
                next_submit += 1
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=PROGRESS_WAIT_S)
            if not ready:
                report(next_append, len(chunks), records)
            for ref in ready:
                pending.pop(ref)
                res: ChunkResult = ray.get(ref)
                done[res.index] = res
            while next_append in done:
                res = done.pop(next_append)
                for s in SPLITS:
                    path = chunk_path(scratch, res.index, s)
                    append_file(streams[s], path)
                    os.remove(path)
                    packs[s].documents += res.documents[s]
                empty += res.empty
                records += res.records
                text_bytes += res.text_bytes
                next_append += 1
                report(next_append, len(chunks), records)
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        for f in streams.values():
            f.close()
    return packs, records, empty, text_bytes


def tokenize_to_dir(
    input_paths: list[str],
    out_dir: str,
    config: TokenizeConfig,
    *,
    source_run: str | None = None,
    overwrite: bool = False,
    progress: EncodeProgress | None = None,
) -> TokenizeStats:
    """Tokenize Parquet/JSONL documents (``id``, ``text``) into ``out_dir`` (the tokens/ contract).

    Raises ``EmptyCorpusError`` when no document has text, ``CorpusTooSmallError`` when the corpus
    is shorter than one training row (both ``TokenizeInputError``), ``ValueError`` when the tokenizer
    lacks the EOS token, ``FileExistsError`` when ``out_dir`` is non-empty and ``overwrite`` is
    false. ``progress`` gets the encoding's progress (see ``_run_encode``).
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    rss: dict[str, float] = {}
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty (pass overwrite=True to replace it)")
    files = expand_inputs(input_paths)
    if not files:
        raise EmptyCorpusError(
            f"empty corpus: no Parquet/JSONL files in {input_paths}; nothing to tokenize "
            "(give .parquet/.jsonl files, or a directory or run directory holding them)"
        )
    for f in files:
        file_kind(f)

    # Fail on a bad tokenizer before any heavy work.
    tcfg = config.tokenizer
    tok: Tokenizer | None = None
    tok_data = b""
    if tcfg.path:  # saved byte for byte as given
        tok_data = resolve_tokenizer_file(tcfg.path).read_bytes()
        tok = Tokenizer.from_str(tok_data.decode("utf-8-sig"))
        special_ids(tok, config)

    counts = [count_documents(f) for f in files]
    total_docs = sum(counts)
    if total_docs == 0:
        raise EmptyCorpusError(
            f"empty corpus: the {len(files)} input file(s) hold no documents; nothing to tokenize"
        )
    workers = _ray_workers(config)
    docs_per_task = config.docs_per_task or auto_docs_per_task(total_docs, workers)
    chunks = plan_chunks(files, docs_per_task)
    timings["plan"] = time.perf_counter() - t0
    rss["plan"] = _peak_rss_mb()

    out.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    staging = out.parent / f".{out.name}.staging-{tag}"
    scratch = out.parent / f".{out.name}.scratch-{tag}"
    staging.mkdir()
    scratch.mkdir()
    try:
        t = time.perf_counter()
        trained = tok is None
        if tok is None:
            tok = train_tokenizer(training_sample(chunks, files, total_docs, config), config)
            tok_data = tokenizer_bytes(tok)
        tok_sha = sha256_bytes(tok_data)
        specials = special_ids(tok, config)
        timings["tokenizer"] = time.perf_counter() - t
        rss["tokenizer"] = _peak_rss_mb()

        t = time.perf_counter()
        packs, records, empty, text_bytes = _run_encode(
            chunks, tok_data.decode("utf-8-sig"), tok_sha, specials, config, workers, str(scratch), progress
        )
        timings["encode"] = time.perf_counter() - t
        rss["encode"] = _peak_rss_mb()
        if sum(p.documents for p in packs.values()) == 0:
            raise EmptyCorpusError(
                f"empty corpus: all {records} documents have empty text; nothing to tokenize"
            )

        t = time.perf_counter()
        for s in SPLITS:
            stream = str(scratch / f"{s}.stream.bin")
            documents = packs[s].documents
            packs[s] = pack_split(
                stream,
                str(staging),
                s,
                row_len=config.row_len,
                rows_per_shard=config.rows_per_shard(),
                seed=config.seed,
                tail=config.tail,
                pad_id=specials.pad,
            )
            packs[s].documents = documents
            os.remove(stream)
        if packs["train"].rows == 0:
            raise CorpusTooSmallError(
                f"corpus too small: {packs['train'].dropped_tokens} train tokens do not fill one row of "
                f"seq_len + 1 = {config.row_len} tokens (lower seq_len or use tail='pad')"
            )
        timings["pack"] = time.perf_counter() - t
        rss["pack"] = _peak_rss_mb()

        vocab_size = tok.get_vocab_size(with_added_tokens=True)
        manifest = tokens_manifest(
            seq_len=config.seq_len,
            vocab_size=vocab_size,
            specials={
                "bos_id": specials.bos,
                "eos_id": specials.eos,
                "pad_id": specials.pad,
                "add_bos": specials.add_bos,
            },
            tokenizer_sha256=tok_sha,
            seed=config.seed,
            val_fraction=config.val_fraction,
            tail=config.tail,
            document_order="input order: paths as given, directory files by name, rows in file order",
            splits={s: packs[s] for s in SPLITS},
            source_run=source_run,
        )
        write_bytes_atomic(staging / "tokenizer.json", tok_data)
        write_bytes_atomic(staging / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
        if out.exists():
            trash = out.parent / f".{out.name}.old-{tag}"
            os.replace(out, trash)
            os.replace(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)

    return TokenizeStats(
        splits={
            s: SplitStats(
                rows=p.rows,
                tokens=p.tokens,
                documents=p.documents,
                dropped_tokens=p.dropped_tokens,
                pad_tokens=p.pad_tokens,
                shards=len(p.shards),
            )
            for s, p in packs.items()
        },
        documents_in=records,
        documents_empty=empty,
        text_bytes=text_bytes,
        total_tokens=manifest["total_tokens"],
        vocab_size=vocab_size,
        tokenizer_sha256=tok_sha,
        tokenizer_trained=trained,
        seconds=time.perf_counter() - t0,
        timings=timings,
        peak_rss_mb=rss,
    )
