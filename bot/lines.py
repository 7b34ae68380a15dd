"""Reading the command line's input files and streams line by line: a bad line (not UTF-8, or
far too long) is an error for that line alone, and a missing file or a folder is one clear error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bot.core.models import MAX_REPLY_CHARS
from bot.errors import StancebotError

# A JSON line holding the longest reply: every character escaped as \uXXXX, plus its fields.
MAX_LINE_BYTES = 6 * MAX_REPLY_CHARS + 4096


class InputFileError(StancebotError, ValueError):
    """An input file that cannot be read: the message names it and says what to pass."""


def input_file(path: Path) -> Path:
    """The path, if it is a readable file; otherwise an error that says what is wrong."""
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder; pass a JSON lines file")
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    return path


def numbered_lines(stream: IO[bytes] | IO[str]) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text, None) for each non-blank line, or (line number, None, error) for a
    line that is not UTF-8 or longer than MAX_LINE_BYTES (read no further than that limit). A
    byte-order mark at the start is skipped."""
    n = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        n += 1
        if len(raw) > MAX_LINE_BYTES:
            while raw and raw[-1:] not in (b"\n", "\n"):  # the rest of this line, unread
                raw = stream.readline(MAX_LINE_BYTES)
            yield (
                n,
                None,
                f"line {n}: longer than {MAX_LINE_BYTES:,} bytes (a reply is at most "
                f"{MAX_REPLY_CHARS:,} characters)",
            )
            continue
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield n, None, f"line {n}: not UTF-8 text (byte {exc.start + 1} of the line)"
                continue
        if n == 1:
            raw = raw.removeprefix("\ufeff")
        if raw.strip():
            yield n, raw, None


def binary(stream: IO[str]) -> IO[bytes] | IO[str]:
    """The bytes under a text stream such as sys.stdin (so each line is decoded on its own),
    or the stream itself when it has none."""
    return getattr(stream, "buffer", stream)
