"""The one owner of the SQLite connection: opening, pragmas, migrations, transactions, backup."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from bot.core.models import iso, utcnow
from bot.storage.bundled import MIGRATIONS_TABLE, bundled_migrations
from bot.storage.dialect import SQLITE
from bot.storage.errors import StorageError
from bot.storage.postgres import PostgresDatabase, is_postgres_url

__all__ = ["Database", "PostgresDatabase", "StorageError", "migrations", "open_database"]

log = logging.getLogger(__name__)

# The statements that make, drop and rename tables, in the order a migration runs them.
_TABLE_DDL = re.compile(
    r"^\s*(?:CREATE TABLE (?:IF NOT EXISTS )?(\w+)|DROP TABLE (?:IF EXISTS )?(\w+)"
    r"|ALTER TABLE (\w+) RENAME TO (\w+))",
    re.I | re.M,
)


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every bundled SQLite migration, in order."""
    return bundled_migrations("migrations")


def open_database(target: Path | str) -> Database | PostgresDatabase:
    """The database `target` names, not yet opened: a `postgresql://` URL (PostgreSQL), or
    the path of an SQLite file (`:memory:` for one that lives in memory)."""
    if is_postgres_url(str(target)):
        return PostgresDatabase(str(target))
    return Database(target)


class Database:
    """Owns one aiosqlite connection. Writes go through `transaction()`, one at a time."""

    dialect = SQLITE

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
        existing = self.path != ":memory:" and _holds_data(self.path)
        try:
            self._conn = await aiosqlite.connect(self.path, isolation_level=None)
            self._conn.row_factory = aiosqlite.Row
            await self._conn.execute("PRAGMA busy_timeout = 5000")
            if existing:  # before anything writes to it (WAL, migrations)
                await self._check_schema()
            # First write to a new file: so another process opening it at the same moment finds
            # either an empty file or a stancebot schema, never a file with no tables.
            await self._setup()
            if migrate:
                await self.migrate()
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise StorageError(_explain(self.path, exc)) from None
        except BaseException:
            await self.close()
            raise
        return self

    async def _setup(self, attempts: int = 50) -> None:
        """Create the migrations table and set the connection's modes. Two processes opening a
        new file at the same moment can make the switch to WAL report "locked" at once, without
        waiting out busy_timeout: that is retried for a few seconds."""
        for attempt in range(attempts):
            try:
                await self.conn.execute(MIGRATIONS_TABLE)
                await self.conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.1)
        await self.conn.execute("PRAGMA foreign_keys = ON")
        await self.conn.execute("PRAGMA synchronous = NORMAL")

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

    async def _check_schema(self) -> None:
        """A file that is not new must be a stancebot database with every table its schema
        version promises: an empty or half-written copy (a backup cut short, a failed restore)
        or another program's database is refused, never taken for a new one and migrated."""
        # The tables and the version from one read transaction: another process may be
        # migrating the file right now, and two separate reads could see a newer version than
        # the tables read before it.
        await self.conn.execute("BEGIN")
        try:
            async with self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ) as cur:
                tables = {row[0] for row in await cur.fetchall()}
            version = await self.schema_version() if "schema_migrations" in tables else 0
        finally:
            await self.conn.execute("COMMIT")
        if "schema_migrations" not in tables:
            if tables:
                shown = ", ".join(sorted(tables)[:4]) + (" …" if len(tables) > 4 else "")
                raise StorageError(
                    f"{self.path}: not a stancebot database (it holds other tables: {shown}); "
                    "choose another file, or a new name to start a new database"
                )
            raise StorageError(
                f"{self.path}: the file is not empty but holds no tables (an incomplete copy or "
                "backup?); restore a complete backup, or delete the file to start a new database"
            )
        expected: set[str] = set()
        for number, _, sql in migrations():
            if number > version:
                break
            for created, dropped, old, new in _TABLE_DDL.findall(sql):
                if created:
                    expected.add(created.lower())
                elif dropped:
                    expected.discard(dropped.lower())
                else:
                    expected.discard(old.lower())
                    expected.add(new.lower())
        missing = sorted(expected - {t.lower() for t in tables})
        if missing:
            raise StorageError(
                f"{self.path}: schema {version} is missing its tables {', '.join(missing)} (an "
                "incomplete copy or backup?); restore a complete backup"
            )

    @property
    def latest_schema(self) -> int:
        """The schema version this stancebot's migrations reach."""
        return len(migrations())

    async def columns(self, table: str) -> list[str]:
        async with self.conn.execute(f"PRAGMA table_info({table})") as cur:
            return [row[1] for row in await cur.fetchall()]

    async def begin_bulk_load(self, conn) -> None:
        """Before `db copy` inserts whole tables: nothing to do (the triggers keep up)."""

    async def end_bulk_load(self, conn) -> None:
        """After `db copy`: nothing to do (rows inserted with their own ids leave SQLite's next
        id at MAX + 1, and the triggers kept the totals)."""

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
        await self.conn.execute(MIGRATIONS_TABLE)
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
            # The version read above may be stale: another process can be migrating the same
            # file. So the migration first claims its version row inside its own write
            # transaction (BEGIN IMMEDIATE waits for the other's to finish); if the row is
            # there, that process applied it, and this one moves on.
            script = (
                f"BEGIN IMMEDIATE;\nINSERT INTO schema_migrations VALUES "
                f"({version}, '{name}', '{iso(utcnow())}');\n{sql}\n;COMMIT;"
            )
            async with self._write_lock:
                try:
                    await self.conn.executescript(script)
                except sqlite3.IntegrityError as exc:
                    if self.conn.in_transaction:
                        await self.conn.execute("ROLLBACK")
                    if "schema_migrations" not in str(exc):
                        raise
                    log.info("migration %04d_%s was applied by another process", version, name)
                    continue
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
        """Online backup (SQLite's backup API): consistent while the bot keeps writing.

        Written to a temporary name beside the target and given the target's name only when
        complete, so a backup cut short (killed, disk full) never leaves a partial file that a
        retry refuses or a restore takes for a database."""
        target = Path(target)
        if target.exists():
            raise StorageError(f"{target}: already exists; choose a new file name")
        if not target.parent.is_dir():
            raise StorageError(f"{target}: folder {target.parent} does not exist; create it first")
        partial = target.with_name(f".{target.name}.partial")
        _remove(partial)  # left by an earlier backup that was cut short
        try:
            dest = await aiosqlite.connect(str(partial))
            try:
                await self.conn.backup(dest)
            finally:
                await dest.close()
            with partial.open("rb+") as fh:
                os.fsync(fh.fileno())
            _publish(partial, target)
        except sqlite3.Error as exc:
            raise StorageError(_explain(str(target), exc)) from None
        finally:
            _remove(partial)


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + "-journal")):
        leftover.unlink(missing_ok=True)


def _publish(partial: Path, target: Path) -> None:
    """Give the finished file its name; never replace a file that appeared meanwhile."""
    try:
        os.link(partial, target)
    except FileExistsError:
        raise StorageError(f"{target}: already exists; choose a new file name") from None
    except OSError:  # a file system without hard links
        if target.exists():
            raise StorageError(f"{target}: already exists; choose a new file name") from None
        os.replace(partial, target)


def _holds_data(path: str) -> bool:
    """Whether the database file exists with something in it (SQLite takes an empty or missing
    file for a new database)."""
    return any(os.path.isfile(p) and os.path.getsize(p) > 0 for p in (path, path + "-wal"))


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
