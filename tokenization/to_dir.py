"""``tokenize_to_dir``: inputs → tokenizer → parallel encode on Ray → packed, shuffled Arrow shards.

Document order is the input order (paths as given, a directory's files by name, rows in file order);
with the seed it fixes every output byte, so any number of workers or tasks gives the same shards.
Everything is written under a hidden staging directory that is renamed to ``out_dir`` at the end.
"""

from __future__ import annotations

import hashlib
import os
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import ray
from tokenizers import Tokenizer

from kit.files import expand_inputs, replace_dir
from kit.ray_local import connect_ray
from tokenization.config import TokenizeConfig
from tokenization.encode import SPLITS, ChunkResult, chunk_path, encode_chunk
from tokenization.errors import CorpusTooSmallError, EmptyCorpusError, TokenizeInputError
from tokenization.inputs import (
    Chunk,
    auto_docs_per_task,
    count_documents,
    file_kind,
    plan_chunks,
    read_chunk,
)
from tokenization.pack import SplitPack, append_file, pack_split, tokens_manifest, write_metadata
from tokenization.tokenizer import (
    SpecialIds,
    resolve_tokenizer_file,
    sha256_bytes,
    special_ids,
    tokenizer_bytes,
    train_tokenizer,
)
from tokenization.workdir import StreamProgress, WorkDir, fingerprint

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
    # JSONL lines that are not documents (not JSON, not an object, text not a string), skipped:
    # an input's lines are documents_in + documents_malformed (blank lines aside).
    documents_malformed: int
    malformed_examples: list[str]  # "file: line N: reason" of the first few malformed lines
    text_bytes: int
    total_tokens: int
    vocab_size: int
    tokenizer_sha256: str
    tokenizer_trained: bool
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    # Driver's peak RSS (MiB, since process start) at the end of each phase: locates memory growth.
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    chunks: int = 0  # encode tasks planned
    chunks_reused: int = 0  # of them, encoded by an earlier (killed) attempt and not encoded again

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
    tokenizer: _TokenizerChoice,
    config: TokenizeConfig,
    workers: int,
    work: WorkDir,
    progress: EncodeProgress | None = None,
) -> tuple[StreamProgress, int]:
    """Encode chunks on Ray (at most ``workers`` in flight) and append their token files to the
    per-split streams strictly in chunk order as they complete; returns the streams' state and how
    many chunks an earlier attempt had already encoded or appended.

    After each appended chunk the streams' sizes and counts are saved in the work directory, so a killed
    run resumes after the last appended chunk (and reuses chunks encoded but not yet appended).
    ``progress(chunks appended, chunks total, documents so far)`` is called after each appended chunk
    and at least every ``PROGRESS_WAIT_S`` while waiting, so a caller can show that work goes on."""
    report = progress or _no_progress
    state = work.load_progress()
    work.reset_streams(state)
    work.drop_appended(state.appended)
    reused = state.appended
    remote = ray.remote(num_cpus=1)(encode_chunk).options(runtime_env={"env_vars": _TASK_ENV})
    tok_ref = None  # put in the object store on the first submission (none when every chunk is reused)
    streams = {s: open(work.stream(s), "ab") for s in SPLITS}  # noqa: SIM115
    pending: dict[ray.ObjectRef, int] = {}
    done: dict[int, ChunkResult] = {}
    next_submit = next_append = state.appended
    report(next_append, len(chunks), state.records)
    try:
        while next_append < len(chunks):
            while next_submit < len(chunks) and len(pending) < workers:
                finished = work.finished_chunk(next_submit)
                if finished is not None:
                    done[next_submit] = finished
                    reused += 1
                else:
                    tok_ref = tok_ref or ray.put(tokenizer.data.decode("utf-8-sig"))
                    ref = remote.remote(
                        chunks[next_submit],
                        tokenizer.sha256,
                        tok_ref,
                        tokenizer.specials,
                        id_column=config.id_column,
                        text_column=config.text_column,
                        seed=config.seed,
                        val_fraction=config.val_fraction,
                        batch_size=config.batch_size,
                        tmp_dir=str(work.path),
                    )
                    pending[ref] = next_submit
                next_submit += 1
            if pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=PROGRESS_WAIT_S)
                if not ready:
                    report(next_append, len(chunks), state.records)
                for ref in ready:
                    pending.pop(ref)
                    res: ChunkResult = ray.get(ref)
                    work.mark_finished(res)
                    done[res.index] = res
            while next_append in done:
                _append_chunk(done.pop(next_append), streams, state, work)
                next_append += 1
                report(next_append, len(chunks), state.records)
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        for f in streams.values():
            f.close()
    return state, reused


def _append_chunk(chunk: ChunkResult, streams: dict, state: StreamProgress, work: WorkDir) -> None:
    """Append one encoded chunk to the split streams, save the new state, then delete its files (a kill
    between the two leaves files that the next attempt deletes, or a longer stream that it truncates)."""
    for s in SPLITS:
        append_file(streams[s], chunk_path(str(work.path), chunk.index, s))
        streams[s].flush()
        state.sizes[s] = streams[s].tell()
    state.add(chunk)
    work.save_progress(state)
    work.drop_chunk(chunk.index)


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


def _chunk_plan(
    work: WorkDir,
    files: list[str],
    config: TokenizeConfig,
    given: tuple[Tokenizer, bytes] | None,
    total_docs: int,
    workers: int,
) -> list[Chunk]:
    """The chunks of an earlier attempt on the same inputs and config (a resume), else a new plan,
    saved before any chunk is encoded."""
    if work.prepare(fingerprint(files, config, sha256_bytes(given[1]) if given else None)):
        chunks = work.load_plan()
        if chunks is not None:
            return chunks
    chunks = plan_chunks(files, config.docs_per_task or auto_docs_per_task(total_docs, workers))
    work.save_plan(chunks)
    return chunks


def _choose_tokenizer(
    given: tuple[Tokenizer, bytes] | None,
    chunks: list[Chunk],
    files: list[str],
    total_docs: int,
    config: TokenizeConfig,
    work: WorkDir,
) -> _TokenizerChoice:
    """The given tokenizer, the one an earlier attempt trained (kept in the work directory), or one
    trained now on a deterministic sample of the inputs."""
    if given is not None:
        tok, data = given
    elif (data := work.load_tokenizer()) is not None:
        tok = Tokenizer.from_str(data.decode("utf-8-sig"))
    else:
        tok = train_tokenizer(training_sample(chunks, files, total_docs, config), config)
        data = tokenizer_bytes(tok)
        work.save_tokenizer(data)
    return _TokenizerChoice(tok, data, sha256_bytes(data), special_ids(tok, config), trained=given is None)


def _encode(
    chunks: list[Chunk],
    tokenizer: _TokenizerChoice,
    config: TokenizeConfig,
    workers: int,
    work: WorkDir,
    progress: EncodeProgress | None,
) -> tuple[StreamProgress, int]:
    """All chunks encoded into per-split token streams in the work directory: (their state, chunks reused).

    Raises EmptyCorpusError when no document had any text."""
    state, reused = _run_encode(chunks, tokenizer, config, workers, work, progress)
    if sum(state.documents.values()) == 0:
        malformed = ""
        if state.malformed:
            malformed = f" and {state.malformed} line(s) are malformed (first: {state.malformed_examples[0]})"
        raise EmptyCorpusError(
            f"empty corpus: all {state.records} documents have empty text{malformed}; nothing to tokenize"
        )
    return state, reused


def _pack_splits(
    state: StreamProgress, work: WorkDir, staging: Path, config: TokenizeConfig, pad_id: int | None
) -> dict[str, SplitPack]:
    """Each split's token stream → shuffled rows of seq_len + 1 in Arrow shards under staging.

    Raises CorpusTooSmallError when the train split does not fill one row."""
    packed: dict[str, SplitPack] = {}
    for s in SPLITS:
        packed[s] = pack_split(
            str(work.stream(s)),
            str(staging),
            s,
            row_len=config.row_len,
            rows_per_shard=config.rows_per_shard(),
            seed=config.seed,
            tail=config.tail,
            pad_id=pad_id,
        )
        packed[s].documents = state.documents[s]
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
    write_metadata(staging, tokenizer.data, manifest)
    return manifest


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

    A killed call resumes when called again with the same inputs and config: the work directory
    ``.<out_dir>.work/`` keeps the tokenizer and every chunk already appended (see `tokenization.workdir`).

    A JSONL line that is not a document (malformed JSON, not an object) is skipped and counted in
    ``documents_malformed``, the first few named in ``malformed_examples``.

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
    work = WorkDir(out)
    with work.locked():
        chunks = _chunk_plan(work, files, config, given, total_docs, workers)
        phases.done("plan")
        try:
            phases.start()
            tokenizer = _choose_tokenizer(given, chunks, files, total_docs, config, work)
            phases.done("tokenizer")

            phases.start()
            state, reused = _encode(chunks, tokenizer, config, workers, work, progress)
            phases.done("encode")

            phases.start()
            staging = work.fresh_staging()
            packs = _pack_splits(state, work, staging, config, tokenizer.specials.pad)
            phases.done("pack")

            manifest = _write_metadata(staging, tokenizer, packs, config, source_run)
            replace_dir(staging, out)  # an existing out is moved aside first and deleted after
        except TokenizeInputError:
            work.remove()  # a rerun would fail the same way: nothing worth keeping
            raise
    work.remove()

    return TokenizeStats(
        splits={s: _split_stats(p) for s, p in packs.items()},
        documents_in=state.records,
        documents_empty=state.empty,
        documents_malformed=state.malformed,
        malformed_examples=state.malformed_examples,
        text_bytes=state.text_bytes,
        total_tokens=manifest["total_tokens"],
        vocab_size=manifest["vocab_size"],
        tokenizer_sha256=tokenizer.sha256,
        tokenizer_trained=tokenizer.trained,
        seconds=time.perf_counter() - phases.t0,
        timings=phases.timings,
        peak_rss_mb=phases.rss,
        chunks=len(chunks),
        chunks_reused=reused,
    )
