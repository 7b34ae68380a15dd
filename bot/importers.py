"""Reading channel exports made by DiscordChatExporter (its JSON format) into Reply objects.

A file that is not such an export is refused with one clear error. Inside a good file, a
message that cannot be read (or is a system message, or from a bot) is skipped and counted,
and every readable message is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.core.models import Reply, parse_iso

# Message types that carry a member's words; the rest (joins, pins, calls …) are system events.
TEXT_TYPES = {"Default", "Reply", "0", "19"}


class ImportFormatError(ValueError):
    """The file is not a readable DiscordChatExporter JSON export."""


@dataclass
class ImportStats:
    messages: int = 0
    readable: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


@dataclass
class ChannelExport:
    path: Path
    guild_id: int
    guild_name: str
    channel_id: int
    channel_name: str
    raw_messages: list
    stats: ImportStats = field(default_factory=ImportStats)

    def __len__(self) -> int:
        return len(self.raw_messages)

    def replies(self, question_id: str) -> Iterator[tuple[Reply, datetime | None]]:
        """Each readable member message as (Reply, edited time or None)."""
        for raw in self.raw_messages:
            self.stats.messages += 1
            try:
                parsed = _message(raw, self, question_id)
            except (KeyError, TypeError, ValueError, AttributeError):
                self.stats.skip("malformed message")
                continue
            if parsed is None:
                continue
            self.stats.readable += 1
            yield parsed


def _snowflake(value: object) -> int:
    n = int(str(value))
    if n <= 0:
        raise ValueError("snowflake must be positive")
    return n


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
    content = raw.get("content") or ""
    if not isinstance(content, str):
        raise TypeError("content is not text")
    edited = raw.get("timestampEdited")
    reply = Reply(
        message_id=_snowflake(raw["id"]),
        guild_id=export.guild_id,
        channel_id=export.channel_id,
        author_id=_snowflake(author["id"]),
        author_name=str(author.get("nickname") or author.get("name") or ""),
        question_id=question_id,
        content=content,
        created_at=parse_iso(raw["timestamp"]),
        attachments=len(raw.get("attachments") or []),
    )
    return reply, parse_iso(edited) if edited else None


def read_export(path: Path) -> ChannelExport:
    if not path.is_file():
        raise ImportFormatError(f"{path}: file not found")
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except UnicodeDecodeError:
        raise ImportFormatError(f"{path}: not UTF-8 text; export it again as JSON") from None
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
    try:
        guild, channel = data["guild"], data["channel"]
        return ChannelExport(
            path=path,
            guild_id=_snowflake(guild["id"]),
            guild_name=str(guild.get("name", "")),
            channel_id=_snowflake(channel["id"]),
            channel_name=str(channel.get("name", "")),
            raw_messages=data["messages"],
        )
    except (KeyError, TypeError, ValueError):
        raise ImportFormatError(
            f"{path}: missing or invalid guild/channel ids; this is not a DiscordChatExporter "
            "JSON export of a server channel"
        ) from None
