"""The one owner of the SQLite connection: opening, pragmas, migrations, transactions, backup."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import aiosqlite

from bot.core.models import iso, utcnow

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class StorageError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every bundled migration, in order."""
    found = []
    for entry in resources.files("bot.storage").joinpath("migrations").iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise StorageError(f"migrations are not numbered 1..N without gaps: {versions}")
    return found


class Database:
    """Owns one aiosqlite connection. Writes go through `transaction()`, one at a time."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._absolute = os.path.abspath(self.path)
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StorageError("database is not open: call `await db.open()` first")
        return self._conn

    async def open(self, *, migrate: bool = True) -> Database:
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if not parent.is_dir():
                raise StorageError(f"{self.path}: folder {parent} does not exist; create it first")
        try:
            self._conn = await aiosqlite.connect(self.path, isolation_level=None)
            self._conn.row_factory = aiosqlite.Row
            await self._conn.execute("PRAGMA busy_timeout = 5000")
            await self._conn.execute("PRAGMA journal_mode = WAL")
            await self._conn.execute("PRAGMA foreign_keys = ON")
            await self._conn.execute("PRAGMA synchronous = NORMAL")
            if migrate:
                await self.migrate()
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise StorageError(_explain(self.path, exc)) from None
        except BaseException:
            await self.close()
            raise
        return self

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Database]:
        """A read-only connection of its own, for reports: it runs in its own thread, so
        readers work in parallel (WAL) and never hold up the writer. An in-memory database
        has no second connection; the main one is used."""
        if self.path == ":memory:":
            yield self
            return
        reader = Database(self.path)
        reader._conn = await aiosqlite.connect(
            Path(self._absolute).as_uri() + "?mode=ro", uri=True, isolation_level=None
        )
        try:
            await reader._conn.execute("PRAGMA query_only = ON")
            await reader._conn.execute("PRAGMA busy_timeout = 5000")
            yield reader
        finally:
            await reader.close()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        async with self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
        ) as cur:
            if await cur.fetchone() is None:
                return 0
        async with self.conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
        ) as cur:
            row = await cur.fetchone()
        return int(row[0])

    async def migrate(self) -> list[int]:
        """Apply every migration newer than the database, each atomically. Returns those applied."""
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        current = await self.schema_version()
        available = migrations()
        if current > len(available):
            raise StorageError(
                f"{self.path}: schema version {current} is newer than this stancebot knows "
                f"({len(available)}); upgrade stancebot"
            )
        applied = []
        for version, name, sql in available:
            if version <= current:
                continue
            script = (
                f"BEGIN;\n{sql}\n;INSERT INTO schema_migrations VALUES "
                f"({version}, '{name}', '{iso(utcnow())}');\nCOMMIT;"
            )
            async with self._write_lock:
                try:
                    await self.conn.executescript(script)
                except sqlite3.DatabaseError:
                    if self.conn.in_transaction:
                        await self.conn.execute("ROLLBACK")
                    raise
            log.info("applied migration %04d_%s", version, name)
            applied.append(version)
        return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on error. Serialised within this process."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def backup(self, target: Path | str) -> None:
        """Online backup (SQLite's backup API): consistent while the bot keeps writing."""
        target = Path(target)
        if target.exists():
            raise StorageError(f"{target}: already exists; choose a new file name")
        if not target.parent.is_dir():
            raise StorageError(f"{target}: folder {target.parent} does not exist; create it first")
        try:
            dest = await aiosqlite.connect(str(target))
            try:
                await self.conn.backup(dest)
            finally:
                await dest.close()
        except sqlite3.Error as exc:
            raise StorageError(_explain(str(target), exc)) from None


def _explain(path: str, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"{path}: database is read-only; check the file's permissions"
    if "locked" in text:
        return f"{path}: database is locked by another program; stop it or wait"
    if "file is not a database" in text or "malformed" in text:
        return (
            f"{path}: not a stancebot database (or corrupt); "
            "restore a backup or choose another file"
        )
    if "unable to open" in text:
        return f"{path}: cannot open the database file; check the path and permissions"
    return f"{path}: database error: {text}"
