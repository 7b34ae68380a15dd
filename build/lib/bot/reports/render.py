"""Pieces of text shared by the digest's renderers (bot.reports.digest)."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.content import OFF_TOPIC
from bot.reports.summary import QuestionSummary

SCHEMA_VERSION = 1

# What Discord (and CommonMark) would read as formatting in a member's words: emphasis, code,
# spoilers, and the brackets of a masked link "[text](url)" (a live link under any text).
_MARKDOWN = re.compile(r"([\\`*_~|\[\]<>])")


def escape_markdown(text: str) -> str:
    """A member's text as they typed it, shown literally inside the bot's own Markdown: no
    emphasis, no masked link (its URL stays visible as plain text)."""
    return _MARKDOWN.sub(r"\\\1", text)


def period_label(s: QuestionSummary) -> str:
    last = s.end - timedelta(seconds=1)
    if s.start.year == last.year:
        return f"{s.start:%d %b} – {last:%d %b %Y}"
    return f"{s.start:%d %b %Y} – {last:%d %b %Y}"


def set_aside_line(s: QuestionSummary) -> str:
    parts = []
    for label, n in s.set_aside_messages.items():
        if n:
            parts.append(f"{n} off-topic" if label == OFF_TOPIC else f"{n} set apart ({label})")
    if s.low_confidence_messages:
        parts.append(f"{s.low_confidence_messages} low-confidence (unclear stance)")
    if s.unclassified_messages:
        parts.append(f"{s.unclassified_messages} not yet classified or without text")
    if s.removed_messages:
        parts.append(f"{s.removed_messages} removed by moderation")
    return "Not counted in the shares: " + ", ".join(parts) + "." if parts else ""
