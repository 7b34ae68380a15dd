"""The storage package's error."""

from __future__ import annotations

from bot.errors import StancebotError


class StorageError(StancebotError, RuntimeError):
    """The database cannot be used; the message says why and what to do."""
