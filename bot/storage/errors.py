"""The storage package's error."""

from __future__ import annotations


class StorageError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""
