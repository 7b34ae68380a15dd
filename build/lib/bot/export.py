"""Stored replies as CSV or JSON lines, in memory: what `/export` attaches.

Same columns as `stancebot export`, so a file from Discord and one from the CLI read alike.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterable
from typing import TextIO

EXPORT_FORMATS = ("csv", "jsonl")
EXPORT_FIELDS = (
    "message_id",
    "guild_id",
    "channel_id",
    "author_id",
    "author",
    "created",
    "edited",
    "attachments",
    "reply_to",
    "question",
    "label",
    "confidence",
    "low_confidence",
    "source",
    "model_version",
    "moderation",
    "content",
)


async def write_export(rows: AsyncIterable[dict], fmt: str, out: TextIO) -> int:
    """Stream the rows to a text file as CSV (with a header) or JSON lines; returns the count."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(
            f"unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}"
        )
    writer = None
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
    n = 0
    async for row in rows:
        if writer is not None:
            writer.writerow(row)
        else:
            out.write(json.dumps({k: row.get(k) for k in EXPORT_FIELDS}, ensure_ascii=False) + "\n")
        n += 1
    return n


async def export_bytes(rows: AsyncIterable[dict], fmt: str) -> tuple[bytes, int]:
    """The rows encoded as UTF-8 CSV or JSON lines, in memory; returns (data, row count)."""
    out = io.StringIO()
    n = await write_export(rows, fmt, out)
    return out.getvalue().encode("utf-8"), n
