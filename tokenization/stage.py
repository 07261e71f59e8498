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
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import ray
from tokenizers import Tokenizer

from dedup.executor import connect_ray
from dedup.io import expand_inputs
from dedup.kit import write_bytes_atomic
from tokenization.config import TokenizeConfig
from tokenization.encode import SPLITS, ChunkResult, chunk_path, encode_chunk
from tokenization.errors import CorpusTooSmallError, EmptyCorpusError
from tokenization.inputs import (
    Chunk,
    auto_docs_per_task,
    count_documents,
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


class _Phases:
    """Wall time and the driver's peak RSS at the end of each phase (for TokenizeStats)."""

    def __init__(self) -> None:
        self.t0 = self._mark = time.perf_counter()
        self.timings: dict[str, float] = {}
        self.rss: dict[str, float] = {}

    def start(self) -> None:
        self._mark = time.perf_counter()

    def done(self, name: str) -> None:
        self.timings[name] = time.perf_counter() - self._mark
        self.rss[name] = _peak_rss_mb()


@dataclass
class _TokenizerChoice:
    """The tokenizer the shards are encoded with, and the exact bytes saved next to them."""

    tok: Tokenizer
    data: bytes
    sha256: str
    specials: SpecialIds
    trained: bool


@dataclass
class _WorkDirs:
    """Hidden siblings of out_dir: staging becomes out_dir at the end; scratch holds the token streams."""

    tag: str
    staging: Path
    scratch: Path


def _check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse to replace a non-empty output unless asked to (before any work is done)."""
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty (pass overwrite=True to replace it)")


def _input_files(input_paths: list[str]) -> list[str]:
    """The input files in document order; each must be Parquet or JSONL (checked now, before any work)."""
    files = expand_inputs(input_paths)
    if not files:
        raise EmptyCorpusError(
            f"empty corpus: no Parquet/JSONL files in {input_paths}; nothing to tokenize "
            "(give .parquet/.jsonl files, or a directory or run directory holding them)"
        )
    for f in files:
        file_kind(f)
    return files


def _given_tokenizer(config: TokenizeConfig) -> tuple[Tokenizer, bytes] | None:
    """The configured tokenizer file (kept byte for byte), checked for its special tokens now so that a
    bad tokenizer fails before any heavy work; None when one is to be trained."""
    if not config.tokenizer.path:
        return None
    data = resolve_tokenizer_file(config.tokenizer.path).read_bytes()
    tok = Tokenizer.from_str(data.decode("utf-8-sig"))
    special_ids(tok, config)
    return tok, data


def _total_documents(files: list[str]) -> int:
    """Documents over all files (sizes the encode tasks); none at all is an empty corpus."""
    total = sum(count_documents(f) for f in files)
    if total == 0:
        raise EmptyCorpusError(
            f"empty corpus: the {len(files)} input file(s) hold no documents; nothing to tokenize"
        )
    return total


@contextmanager
def _work_dirs(out: Path) -> Iterator[_WorkDirs]:
    """Fresh staging and scratch directories next to ``out``, removed whatever happens."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    dirs = _WorkDirs(
        tag, out.parent / f".{out.name}.staging-{tag}", out.parent / f".{out.name}.scratch-{tag}"
    )
    dirs.staging.mkdir()
    dirs.scratch.mkdir()
    try:
        yield dirs
    finally:
        shutil.rmtree(dirs.scratch, ignore_errors=True)
        shutil.rmtree(dirs.staging, ignore_errors=True)


def _choose_tokenizer(
    given: tuple[Tokenizer, bytes] | None,
    chunks: list[Chunk],
    files: list[str],
    total_docs: int,
    config: TokenizeConfig,
) -> _TokenizerChoice:
    """The given tokenizer, or one trained on a deterministic sample of the inputs."""
    if given is None:
        tok = train_tokenizer(training_sample(chunks, files, total_docs, config), config)
        data = tokenizer_bytes(tok)
    else:
        tok, data = given
    return _TokenizerChoice(tok, data, sha256_bytes(data), special_ids(tok, config), trained=given is None)


def _encode(
    chunks: list[Chunk],
    tokenizer: _TokenizerChoice,
    config: TokenizeConfig,
    workers: int,
    dirs: _WorkDirs,
    progress: EncodeProgress | None,
) -> tuple[dict[str, SplitPack], int, int, int]:
    """All chunks encoded into per-split token streams in scratch: (packs, records, empty, text bytes).

    Raises EmptyCorpusError when no document had any text."""
    packs, records, empty, text_bytes = _run_encode(
        chunks,
        tokenizer.data.decode("utf-8-sig"),
        tokenizer.sha256,
        tokenizer.specials,
        config,
        workers,
        str(dirs.scratch),
        progress,
    )
    if sum(p.documents for p in packs.values()) == 0:
        raise EmptyCorpusError(f"empty corpus: all {records} documents have empty text; nothing to tokenize")
    return packs, records, empty, text_bytes


def _pack_splits(
    packs: dict[str, SplitPack], dirs: _WorkDirs, config: TokenizeConfig, pad_id: int | None
) -> dict[str, SplitPack]:
    """Each split's token stream → shuffled rows of seq_len + 1 in Arrow shards under staging.

    Raises CorpusTooSmallError when the train split does not fill one row."""
    packed: dict[str, SplitPack] = {}
    for s in SPLITS:
        stream = str(dirs.scratch / f"{s}.stream.bin")
        packed[s] = pack_split(
            stream,
            str(dirs.staging),
            s,
            row_len=config.row_len,
            rows_per_shard=config.rows_per_shard(),
            seed=config.seed,
            tail=config.tail,
            pad_id=pad_id,
        )
        packed[s].documents = packs[s].documents
        os.remove(stream)
    if packed["train"].rows == 0:
        raise CorpusTooSmallError(
            f"corpus too small: {packed['train'].dropped_tokens} train tokens do not fill one row of "
            f"seq_len + 1 = {config.row_len} tokens (lower seq_len or use tail='pad')"
        )
    return packed


def _write_metadata(
    staging: Path,
    tokenizer: _TokenizerChoice,
    packs: dict[str, SplitPack],
    config: TokenizeConfig,
    source_run: str | None,
) -> dict:
    """tokenizer.json (the exact bytes) and manifest.json into staging; returns the manifest."""
    specials = tokenizer.specials
    manifest = tokens_manifest(
        seq_len=config.seq_len,
        vocab_size=tokenizer.tok.get_vocab_size(with_added_tokens=True),
        specials={
            "bos_id": specials.bos,
            "eos_id": specials.eos,
            "pad_id": specials.pad,
            "add_bos": specials.add_bos,
        },
        tokenizer_sha256=tokenizer.sha256,
        seed=config.seed,
        val_fraction=config.val_fraction,
        tail=config.tail,
        document_order="input order: paths as given, directory files by name, rows in file order",
        splits={s: packs[s] for s in SPLITS},
        source_run=source_run,
    )
    write_bytes_atomic(staging / "tokenizer.json", tokenizer.data)
    write_bytes_atomic(staging / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def _publish(dirs: _WorkDirs, out: Path) -> None:
    """Rename staging to ``out``; an existing ``out`` is moved aside first and deleted after."""
    if out.exists():
        trash = out.parent / f".{out.name}.old-{dirs.tag}"
        os.replace(out, trash)
        os.replace(dirs.staging, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(dirs.staging, out)


def _split_stats(p: SplitPack) -> SplitStats:
    """The ledger's counts of one packed split."""
    return SplitStats(
        rows=p.rows,
        tokens=p.tokens,
        documents=p.documents,
        dropped_tokens=p.dropped_tokens,
        pad_tokens=p.pad_tokens,
        shards=len(p.shards),
    )


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
    phases = _Phases()
    out = Path(out_dir)
    _check_out_dir(out, overwrite)
    files = _input_files(input_paths)
    given = _given_tokenizer(config)
    total_docs = _total_documents(files)
    workers = _ray_workers(config)
    chunks = plan_chunks(files, config.docs_per_task or auto_docs_per_task(total_docs, workers))
    phases.done("plan")

    with _work_dirs(out) as dirs:
        phases.start()
        tokenizer = _choose_tokenizer(given, chunks, files, total_docs, config)
        phases.done("tokenizer")

        phases.start()
        packs, records, empty, text_bytes = _encode(chunks, tokenizer, config, workers, dirs, progress)
        phases.done("encode")

        phases.start()
        packs = _pack_splits(packs, dirs, config, tokenizer.specials.pad)
        phases.done("pack")

        manifest = _write_metadata(dirs.staging, tokenizer, packs, config, source_run)
        _publish(dirs, out)

    return TokenizeStats(
        splits={s: _split_stats(p) for s, p in packs.items()},
        documents_in=records,
        documents_empty=empty,
        text_bytes=text_bytes,
        total_tokens=manifest["total_tokens"],
        vocab_size=manifest["vocab_size"],
        tokenizer_sha256=tokenizer.sha256,
        tokenizer_trained=tokenizer.trained,
        seconds=time.perf_counter() - phases.t0,
        timings=phases.timings,
        peak_rss_mb=phases.rss,
    )
