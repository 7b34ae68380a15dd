"""Reading channel exports made by DiscordChatExporter (its JSON format) into Reply objects.

A file that is not such an export is refused with one clear error. Inside a good file, a
message that cannot be read (or is a system message, or from a bot) is skipped and counted,
and every readable message is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.core.models import Reply, parse_iso
from bot.errors import StancebotError

# Message types that carry a member's words; the rest (joins, pins, calls …) are system events.
TEXT_TYPES = {"Default", "Reply", "0", "19"}
# What SQLite stores as an integer; Discord ids are far below it.
MAX_SNOWFLAKE = 2**63 - 1
# Discord began in 2015: a message dated before it is damaged, not old.
DISCORD_EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
# How many skipped messages per reason are named one by one.
NAMED_SKIPS = 5


class ImportFormatError(StancebotError, ValueError):
    """The file is not a readable DiscordChatExporter JSON export."""


class BadMessage(ValueError):
    """One message of an export cannot be read; the message says why (a skip reason)."""


@dataclass
class ImportStats:
    messages: int = 0
    readable: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    # (reason, message id) of the first few skipped messages of each reason, to name them.
    named: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, why: str, message_id: object = None) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1
        if message_id is not None and self.skipped[why] <= NAMED_SKIPS:
            self.named.append((why, str(message_id)[:40]))


@dataclass
class ChannelExport:
    path: Path
    guild_id: int
    guild_name: str
    channel_id: int
    channel_name: str
    raw_messages: list
    stats: ImportStats = field(default_factory=ImportStats)
    declared_count: int | None = None  # the exporter's messageCount

    def __len__(self) -> int:
        return len(self.raw_messages)

    def replies(self, question_id: str) -> Iterator[tuple[Reply, datetime | None]]:
        """Each readable member message as (Reply, edited time or None)."""
        for raw in self.raw_messages:
            self.stats.messages += 1
            try:
                parsed = _message(raw, self, question_id)
            except BadMessage as exc:
                self.stats.skip(str(exc), _raw_id(raw))
                continue
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
                self.stats.skip("malformed message", _raw_id(raw))
                continue
            if parsed is None:
                continue
            self.stats.readable += 1
            yield parsed


def _raw_id(raw: object) -> object:
    return raw.get("id") if isinstance(raw, dict) else None


def _snowflake(value: object) -> int:
    n = int(str(value))
    if n <= 0:
        raise ValueError("snowflake must be positive")
    if n > MAX_SNOWFLAKE:
        raise BadMessage("id too large (2^63 or more)")
    return n


def _timestamp(value: object) -> datetime:
    when = parse_iso(str(value))
    if when < DISCORD_EPOCH:
        raise BadMessage("timestamp before 2015 (damaged)")
    return when


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadMessage("text with a lone surrogate (not valid Unicode)") from None
    return value


def _reference(raw: object) -> int | None:
    """The message a reply answers, from the exporter's `reference` (None when there is none,
    or when it does not name a message this program can store)."""
    if not isinstance(raw, dict) or raw.get("messageId") in (None, ""):
        return None
    try:
        return _snowflake(raw["messageId"])
    except (BadMessage, TypeError, ValueError):
        return None


def _message(
    raw: dict, export: ChannelExport, question_id: str
) -> tuple[Reply, datetime | None] | None:
    kind = str(raw.get("type", "Default"))
    if kind not in TEXT_TYPES:
        export.stats.skip(f"system message ({kind})")
        return None
    author = raw["author"]
    if author.get("isBot"):
        export.stats.skip("bot message")
        return None
    edited = raw.get("timestampEdited")
    content = _text(raw.get("content") or "")
    attachments = len(raw.get("attachments") or [])
    forwarded = raw.get("forwardedMessage")
    if isinstance(forwarded, dict) and not content.strip():
        # A forward (exporter 2.47+): the member's message is the one they forwarded.
        content = _text(forwarded.get("content") or "")
        attachments += len(forwarded.get("attachments") or [])
    reply = Reply(
        message_id=_snowflake(raw["id"]),
        guild_id=export.guild_id,
        channel_id=export.channel_id,
        author_id=_snowflake(author["id"]),
        author_name=_text(str(author.get("nickname") or author.get("name") or "")),
        question_id=question_id,
        content=content,
        created_at=_timestamp(raw["timestamp"]),
        attachments=attachments,
        reply_to=_reference(raw.get("reference")),
    )
    return reply, _timestamp(edited) if edited else None


def _other_format(path: Path) -> str | None:
    """What the file is, if it is another of DiscordChatExporter's formats."""
    with path.open("rb") as fh:
        head = fh.read(512).removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or path.suffix.lower() in (".html", ".htm"):
        return "an HTML export"
    if head.startswith(b'"authorid","author","date"') or head.startswith(b"authorid,author,date"):
        return "a CSV export"
    if path.suffix.lower() == ".csv":
        return "a CSV export"
    if head.startswith(b"====") or path.suffix.lower() == ".txt":
        return "a plain-text export"
    return None


def read_export(path: Path) -> ChannelExport:
    if path.is_dir():
        raise ImportFormatError(f"{path}: is a folder; pass the export's .json file")
    if not path.is_file():
        raise ImportFormatError(f"{path}: file not found")
    other = _other_format(path)
    if other is not None:
        raise ImportFormatError(
            f"{path}: this is {other}; stancebot reads DiscordChatExporter's JSON format: "
            "re-export the channel with -f Json"
        )
    try:
        # utf-8-sig: a byte-order mark (some editors and Windows tools add one) is just skipped.
        with path.open(encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except UnicodeDecodeError:
        raise ImportFormatError(f"{path}: not UTF-8 text; export it again as JSON") from None
    except RecursionError:
        raise ImportFormatError(f"{path}: nested too deeply to be a channel export") from None
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "the file may be truncated — export the channel again with DiscordChatExporter -f Json"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ImportFormatError(
            f"{path}: no 'messages' list; this is not a DiscordChatExporter JSON export "
            "(use its JSON format, -f Json)"
        )
    channel_type = (
        str((data.get("channel") or {}).get("type", ""))
        if isinstance(data.get("channel"), dict)
        else ""
    )
    guild_id = (
        str((data.get("guild") or {}).get("id", "")) if isinstance(data.get("guild"), dict) else ""
    )
    if channel_type.startswith("Direct") or guild_id == "0":
        raise ImportFormatError(
            f"{path}: a direct-message export; not supported: stancebot imports the channels "
            "and threads of a server"
        )
    count = data.get("messageCount")
    try:
        guild, channel = data["guild"], data["channel"]
        return ChannelExport(
            path=path,
            guild_id=_snowflake(guild["id"]),
            guild_name=str(guild.get("name", "")),
            channel_id=_snowflake(channel["id"]),
            channel_name=str(channel.get("name", "")),
            raw_messages=data["messages"],
            declared_count=count
            if isinstance(count, int) and not isinstance(count, bool)
            else None,
        )
    except (KeyError, TypeError, ValueError):
        raise ImportFormatError(
            f"{path}: missing or invalid guild/channel ids; this is not a DiscordChatExporter "
            "JSON export of a server channel"
        ) from None
