"""Reading JSON-lines files and streams, the one way every command and trainer reads them.

A bad line (not UTF-8, far too long, not JSON) is a problem of that line alone, named by its
place: "line 3" in a stream, "file.jsonl:3" in a file. Stream readers skip and name it; file
readers stop there (`read_json_lines`). A missing file or a folder is one clear error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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


def binary(stream: IO[str]) -> IO[bytes] | IO[str]:
    """The bytes under a text stream such as sys.stdin (so each line is decoded on its own),
    or the stream itself when it has none."""
    return getattr(stream, "buffer", stream)


@dataclass(frozen=True, slots=True)
class JsonLine:
    """One non-blank line of a JSON-lines input: its JSON value, or why it cannot be read."""

    number: int
    value: Any  # the decoded JSON; None when `problem` is set
    problem: str | None = None  # not UTF-8, far too long, or not JSON
    source: str | None = None  # the file's name; None for a stream

    @property
    def where(self) -> str:
        return f"line {self.number}" if self.source is None else f"{self.source}:{self.number}"

    def error(self, problem: str | None = None) -> str:
        """One message naming this line and what is wrong with it: `problem` (a record the
        caller refuses) or, by default, why the line could not be read."""
        return f"{self.where}: {problem if problem is not None else self.problem}"


def json_lines(stream: IO[bytes] | IO[str], source: str | None = None) -> Iterator[JsonLine]:
    """Each non-blank line of a stream, decoded, in order; a line that is not UTF-8, is longer
    than MAX_LINE_BYTES (read no further than that limit) or is not JSON comes with its
    problem instead, and the lines after it are read as usual. A byte-order mark at the start
    is skipped. `source` names the file in messages ("line 3" without one)."""
    utf8_fix = "; save the file as UTF-8" if source is not None else ""
    n = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        n += 1
        if len(raw) > MAX_LINE_BYTES:
            while raw and raw[-1:] not in (b"\n", "\n"):  # the rest of this line, unread
                raw = stream.readline(MAX_LINE_BYTES)
            problem = (
                f"longer than {MAX_LINE_BYTES:,} bytes (a reply is at most "
                f"{MAX_REPLY_CHARS:,} characters)"
            )
            yield JsonLine(n, None, problem, source)
            continue
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problem = f"not UTF-8 text (byte {exc.start + 1} of the line){utf8_fix}"
                yield JsonLine(n, None, problem, source)
                continue
        if n == 1:
            raw = raw.removeprefix("\ufeff")
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            yield JsonLine(n, None, f"not JSON ({exc.msg}, character {exc.pos + 1})", source)
            continue
        yield JsonLine(n, value, None, source)


def read_json_lines(path: Path, error: type[Exception] = InputFileError) -> Iterator[JsonLine]:
    """Each non-blank line of a JSON-lines file, decoded, in order. A missing file, a folder,
    or a line that cannot be read raises `error` with one message naming the file (and the
    line); a caller that refuses a record raises the same way, with `line.error(problem)`."""
    try:
        input_file(path)
    except InputFileError as exc:
        raise error(str(exc)) from None
    with path.open("rb") as fh:
        for line in json_lines(fh, str(path)):
            if line.problem is not None:
                raise error(line.error())
            yield line


def reply_text(value: Any) -> str:
    """The text of a JSON line that holds a reply: an object with a "text" string no longer
    than a reply may be; ValueError says what is wrong otherwise."""
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise ValueError('expected an object with a "text" string')
    if len(value["text"]) > MAX_REPLY_CHARS:
        raise ValueError(
            f"text is {len(value['text']):,} characters; the limit is {MAX_REPLY_CHARS:,}"
        )
    return value["text"]
