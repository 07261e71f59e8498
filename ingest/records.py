"""What a reader yields: a document (`Record`) or an unreadable one (`BadRecord`).

Both carry `position`, the ordinal among *document* records in the file. Bad records share the
sequence because they were meant to be documents, so the ingest ledger's input count is
records + bad records, and ids (hash of source URI + position) never depend on sharding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MetaValue = str | int | float | bool | None


@dataclass(frozen=True)
class Record:
    """One document. `meta` is flat (scalar values) so the stage can turn keys into columns."""

    position: int
    text: str
    url: str | None = None
    meta: dict[str, MetaValue] = field(default_factory=dict)


@dataclass(frozen=True)
class BadRecord:
    """A document that could not be read; it goes to quarantine with `error` and an excerpt.

    `bytes_unread` is set only on the last record of a source whose reading stopped early (the
    rest of the file could not be read): how many bytes of the source file were never read, 0
    when the data is missing past the end (a truncated file). The ledger counts such sources.
    """

    position: int
    error: str
    raw_excerpt: bytes = b""
    bytes_unread: int | None = None


EXCERPT_BYTES = 512
MAX_ERROR_CHARS = 500


def excerpt(data: bytes | str) -> bytes:
    """First bytes of the offending input, bounded so quarantine stays small."""
    if isinstance(data, str):
        data = data.encode("utf-8", errors="replace")
    return bytes(data[:EXCERPT_BYTES])


def describe(exc: BaseException) -> str:
    """`Type: message`, cut short: parsers quote the offending input, which may be megabytes."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "..."
