"""Opening a Parquet input at its footer: pyarrow's error for a file that is not Parquet becomes one
line naming the file (dedup and tokenize each raise it as their own input error)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq


class NotParquetError(ValueError):
    """A file pyarrow cannot open as Parquet; the message names it and says what to give instead."""


def open_parquet(path: str, error: type[ValueError] = NotParquetError) -> pq.ParquetFile:
    """`path` opened at its footer (schema, row groups), or `error` (the caller's own input error type)
    naming it."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        reason = str(e).splitlines()[0][:200]
        raise error(
            f"{path} is not a Parquet file ({reason}) — give a valid .parquet file, or rename it if it "
            "holds JSONL"
        ) from None
