"""Discord's size limits, fitting text to them, and links to messages, in one place.

Plain constants and functions with no discord import, so the reports (which must not depend on
discord.py) and the cogs share them.
"""

from __future__ import annotations

# Messages and application commands.
MESSAGE_LIMIT = 2000
EMBEDS_PER_MESSAGE = 10
FILES_PER_MESSAGE = 10
CHOICE_NAME = 100
AUTOCOMPLETE_CHOICES = 25

# Embeds (developer docs: "Embed Limits").
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1024
EMBED_FOOTER = 2048
EMBED_TOTAL = 6000


def clip(text: str, limit: int) -> str:
    """Cut text to a limit on a word boundary, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + "…"


def message_link(guild_id: int, channel_id: int, message_id: int) -> str:
    """The jump link to a message, as Discord's "Copy Message Link" gives it."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"
