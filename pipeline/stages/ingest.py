"""Ingest: sources → documents, one unit of the part mapper (a Ray task) per source file.

Fetching (with resume, retries and a content-addressed cache) and parsing are
in `ingest`; this stage decides where every record ends up: kept,
removed as `empty_text`, or quarantined (an unreadable record, or a source
that could not be fetched at all).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipeline import storage
from pipeline.config import ConfigError, IngestConfig, RunConfig, SourceSpec
from pipeline.layout import StagePaths
from pipeline.ledger import StageStats
from pipeline.schema import DOCUMENT_SCHEMA, document_id, rejected_schema, with_stage_reason
from pipeline.stages.base import RemovalWriter


@dataclass(frozen=True)
class SourceFile:
    """One concrete input file: `uri` as the config spells it (it feeds the ids), `location` to open."""

    uri: str
    location: str
    format: str | None
    sha256: str | None
    text_field: str


def expand_sources(cfg: RunConfig) -> list[SourceFile]:
    """Globs, directories and Common Crawl slices → the files to read, each once (the part order)."""
    from ingest.sources import TooManyFiles

    files: list[SourceFile] = []
    for i, spec in enumerate(cfg.ingest.sources):
        try:
            files.extend(_expand_one(spec, cfg))
        except TooManyFiles as e:
            raise ConfigError(f"ingest.sources.{i}.uri: {e}") from e
    seen: set[str] = set()
    unique = []
    for f in files:
        key = _real_location(f.location)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _real_location(location: str) -> str:
    """One key per real local file however the sources spell it (links, `..`, `file://`)."""
    from ingest.fetch import local_path

    local = local_path(location)
    return os.path.realpath(local) if local is not None else location


def _expand_one(spec: SourceSpec, cfg: RunConfig) -> list[SourceFile]:
    if spec.commoncrawl is not None:
        from ingest.commoncrawl import commoncrawl_uris

        cc = spec.commoncrawl
        uris = commoncrawl_uris(
            crawl=cc.crawl,
            kind=cc.kind,
            files=cc.files,
            base_url=cc.base_url,
            cache_dir=Path(os.path.expanduser(cfg.resolve(cfg.ingest.cache_dir))),
        )
        fmt = spec.format or cc.kind
        return [SourceFile(u, u, fmt, None, spec.text_field) for u in uris]
    assert spec.uri is not None
    from ingest.sources import expand_uri, is_glob

    uri = spec.uri
    if "://" in uri:
        files = expand_uri(uri)
        if files == [uri]:
            return [SourceFile(uri, uri, spec.format, spec.sha256, spec.text_field)]
        return [SourceFile(m, m, spec.format, None, spec.text_field) for m in files]
    if not is_glob(uri) and not os.path.isdir(cfg.resolve(uri)):
        return [SourceFile(uri, cfg.resolve(uri), spec.format, spec.sha256, spec.text_field)]
    # A local glob or directory (each real file once, symlink loops included): ids use the path
    # as the config spells it, so they do not depend on where the checkout lives.
    out = []
    for m in expand_uri(cfg.resolve(uri)):
        rel = m if os.path.isabs(uri) else os.path.relpath(m, cfg.base_dir)
        out.append(SourceFile(rel, m, spec.format, None, spec.text_field))
    return out


class _PartWriter:
    """Buffers one source's documents and routes each to kept, removed (`empty_text`) or quarantine."""

    def __init__(self, paths: StagePaths, part: str, src: SourceFile, ingest: IngestConfig):
        self.src = src
        self.ingest = ingest
        self.paths = paths
        self.part = part
        self.stats = StageStats(name="ingest")
        # Sources not read to their end (unfetchable, cut, corrupt, changed while read) and the
        # bytes of them never read: the ledger's way of saying that input is missing.
        self.stats.extra.update(sources_incomplete=0, bytes_unread=0)
        self.removals = RemovalWriter(paths, part, rejected_schema(DOCUMENT_SCHEMA))
        # A big source is cut into parts of `part_rows` documents, so later stages parallelize over it.
        self.seq = 0
        self.writer = storage.AtomicParquetWriter(paths.part(f"{part}-{self.seq:04d}"), DOCUMENT_SCHEMA)
        self.kept: list[dict] = []
        self.empty: list[dict] = []

    def document(self, position: int, text: str, url: str | None) -> None:
        self.stats.input += 1
        data = text.encode(
            "utf-8", "replace"
        )  # lone surrogates become "?"; the bytes are what Parquet stores
        text = data.decode("utf-8")
        row = {"id": document_id(self.src.uri, position), "text": text, "source": self.src.uri}
        row.update(url=url, position=position)
        if len(text.strip()) < self.ingest.min_text_chars:
            self.stats.add_removed("empty_text")
            self.empty.append(row)
        else:
            self.stats.kept += 1
            self.stats.bytes_out += len(data)
            self.kept.append(row)
        if len(self.kept) + len(self.empty) >= self.ingest.batch_rows:
            self.flush()

    def quarantine(self, position: int | None, error: str) -> None:
        self.stats.input += 1
        self.stats.quarantined += 1
        doc_id = document_id(self.src.uri, position) if position is not None else None
        row = {"source": self.src.uri, "position": position, "stage": "ingest", "error": error, "id": doc_id}
        self.removals.quarantine([row])

    def source_incomplete(self, position: int | None, error: str, bytes_unread: int = 0) -> None:
        """Quarantine the part of the source that was never read, as one record, and count it."""
        self.quarantine(position, error)
        self.stats.extra["sources_incomplete"] += 1
        self.stats.extra["bytes_unread"] += bytes_unread

    def flush(self) -> None:
        if self.kept:
            self.writer.write(pa.Table.from_pylist(self.kept, DOCUMENT_SCHEMA))
            self.kept.clear()
            if self.writer.rows >= self.ingest.part_rows:
                self.writer.close()
                self.seq += 1
                self.writer = storage.AtomicParquetWriter(
                    self.paths.part(f"{self.part}-{self.seq:04d}"), DOCUMENT_SCHEMA
                )
        if self.empty:
            table = pa.Table.from_pylist(self.empty, DOCUMENT_SCHEMA)
            self.removals.rejected(with_stage_reason(table, "ingest", ["empty_text"] * table.num_rows))
            self.empty.clear()

    def close(self) -> None:
        self.flush()
        self.writer.close()
        self.removals.close()

    def abort(self, exc: BaseException) -> None:
        self.writer.abort(exc)
        self.removals.abort(exc)


def ingest_source(index: int, src: SourceFile, ingest: IngestConfig, run_dir: str) -> StageStats:
    """Fetch and parse one source into `ingest/part-<index>-<seq>.parquet`; runs as a Ray task (the part
    mapper writes its stats file after it)."""
    from ingest.fetch import fetch
    from ingest.readers import BadRecord, read_records
    from ingest.records import describe

    start = time.perf_counter()
    out = _PartWriter(StagePaths(run_dir, "ingest"), source_part(index), src, ingest)
    try:
        try:
            local = fetch(
                src.location,
                Path(os.path.expanduser(ingest.cache_dir)),
                sha256=src.sha256,
                retries=ingest.retries,
                timeout=ingest.timeout_s,
                deadline_s=ingest.download_deadline_s,
                min_rate=ingest.min_download_rate,
                progress=False,
            )
        except Exception as e:  # an unreachable source is one quarantined input, never a crashed run
            out.source_incomplete(None, f"fetch failed: {e}")
            local = None
        if local is not None:
            out.stats.bytes_in = os.path.getsize(local)
            position = -1
            try:
                for rec in read_records(
                    Path(local),
                    src.uri,
                    src.format,
                    extract_html=ingest.extract_html,
                    max_doc_bytes=ingest.max_doc_bytes,
                    text_field=src.text_field,
                ):
                    position = rec.position
                    if isinstance(rec, BadRecord) and rec.bytes_unread is not None:
                        out.source_incomplete(rec.position, rec.error, rec.bytes_unread)
                    elif isinstance(rec, BadRecord):
                        out.quarantine(rec.position, rec.error)
                    else:
                        out.document(rec.position, rec.text, rec.url)
            except Exception as e:  # the reader itself failed: quarantine the rest of the file, go on
                out.source_incomplete(position + 1, f"reading stopped: {describe(e)}")
        out.close()
    except BaseException as exc:
        out.abort(exc)
        raise
    out.stats.seconds = time.perf_counter() - start
    out.stats.check()
    return out.stats


def run(cfg: RunConfig, run_dir: str, previous: str | None) -> StageStats:
    """Driver side: expand sources, one unit of the part mapper per source (finished ones skipped)."""
    from pipeline.stages.mapping import Unit, run_parts

    sources = expand_sources(cfg)
    if not sources:
        raise ValueError("ingest.sources matched no files")
    ingest_cfg = cfg.ingest.model_copy(update={"cache_dir": cfg.resolve(cfg.ingest.cache_dir)})
    units = [Unit(source_part(i), (i, src, ingest_cfg, run_dir)) for i, src in enumerate(sources)]
    total = run_parts(StagePaths(run_dir, "ingest"), units, ingest_source, unit="file", postfix=read_so_far)
    total.extra["sources"] = len(sources)
    return total


def source_part(index: int) -> str:
    """The part name of the `index`-th source: its stats file; its output parts add `-<seq>`."""
    return f"part-{index:05d}"


def read_so_far(_earlier: StageStats) -> Callable[[StageStats], str]:
    """Progress text: bytes and documents read by this run (sources finished earlier are not read)."""
    read = StageStats(name="ingest")

    def note(stats: StageStats) -> str:
        read.merge(stats)
        return f"{read.bytes_in / 1e6:,.1f} MB, {read.input:,} docs"

    return note
