"""The numbered SQL migrations shipped with the package: `migrations/` for SQLite,
`migrations_pg/` for PostgreSQL, each numbered 0001, 0002 … and applied in order."""

from __future__ import annotations

import re
from importlib import resources

from bot.storage.errors import StorageError

MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Which migrations a database has had; the same table on both backends.
MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


def bundled_migrations(folder: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration in the folder, in order."""
    found = []
    for entry in resources.files("bot.storage").joinpath(folder).iterdir():
        m = MIGRATION_NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise StorageError(f"{folder}: migrations are not numbered 1..N without gaps: {versions}")
    return found
