"""The PostgreSQL backend (asyncpg): the same surface as the SQLite `Database`, so the stores
run the same SQL on both; for a bot whose shards run as processes on several machines.

- Connections come from a pool; reads run on any of them, in parallel.
- Writes go through `transaction()`, which takes one transaction-scoped advisory lock shared
  by every process on the database: writes are serialised exactly as SQLite's single writer
  serialises them (case numbers, totals and the reply path rely on it), while reads never wait.
- Migrations are numbered files in `bot/storage/migrations_pg/`, applied under the same lock,
  so processes starting together never apply one twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.core.models import iso, utcnow
from bot.storage.bundled import MIGRATIONS_TABLE, bundled_migrations
from bot.storage.dialect import POSTGRESQL
from bot.storage.errors import StorageError

log = logging.getLogger(__name__)

# One advisory lock for every write transaction (any constant; "stance" in ASCII).
WRITE_LOCK = 0x7374616E6365
_IDENTITY_TABLES = ("discussions", "stances", "moderation_events", "brigading_alerts")
_TRIGGER_TABLES = ("replies", "stances", "moderation_events")
_PARAM = re.compile(r"'(?:[^']|'')*'|\?(\d*)")
_STATUS_COUNT = re.compile(r"(\d+)$")


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def shown(url: str) -> str:
    """The URL as messages show it: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """`?` parameters (in order) and `?N` (numbered) become PostgreSQL's `$N`; string literals
    are left alone."""
    counter = 0

    def number(m: re.Match) -> str:
        nonlocal counter
        if m.group(0).startswith("'"):
            return m.group(0)
        if m.group(1):
            return "$" + m.group(1)
        counter += 1
        return f"${counter}"

    return _PARAM.sub(number, sql)


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every bundled PostgreSQL migration, in order."""
    return bundled_migrations("migrations_pg")


def _number(text: str) -> int | float:
    """numeric (a SUM over bigint, an EXTRACT) as Python reads SQLite's: int when whole."""
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


async def _init_connection(conn: Any) -> None:
    await conn.set_type_codec(
        "numeric", encoder=str, decoder=_number, schema="pg_catalog", format="text"
    )


class Cursor:
    """The rows a statement returned (fetched at once) and how many rows it changed: the part
    of a DB-API cursor the stores use."""

    __slots__ = ("_at", "_rows", "rowcount")

    def __init__(self, rows: list, rowcount: int) -> None:
        self._rows = rows
        self._at = 0
        self.rowcount = rowcount

    async def fetchone(self):
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    async def fetchall(self) -> list:
        rows, self._at = self._rows[self._at :], len(self._rows)
        return rows

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self):
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class _Pending:
    """What `execute` returns: awaited, or used as `async with`, it gives the cursor."""

    __slots__ = ("_cursor", "_run")

    def __init__(self, run) -> None:
        self._run = run
        self._cursor: Cursor | None = None

    async def _get(self) -> Cursor:
        if self._cursor is None:
            self._cursor = await self._run
        return self._cursor

    def __await__(self):
        return self._get().__await__()

    async def __aenter__(self) -> Cursor:
        return await self._get()

    async def __aexit__(self, *exc: object) -> None:
        return None


@lru_cache(maxsize=1024)
def _returns_rows(sql: str) -> bool:
    head = sql.lstrip()[:6].upper()
    return head == "SELECT" or head.startswith("WITH") or " RETURNING " in sql.upper()


async def _run(conn: Any, sql: str, args: Sequence) -> Cursor:
    query = translate(sql)
    try:
        if _returns_rows(sql):
            rows = await conn.fetch(query, *args)
            return Cursor(rows, len(rows))
        status = await conn.execute(query, *args)
    except _driver_errors() as exc:
        raise _storage_error(exc) from exc
    m = _STATUS_COUNT.search(status or "")
    return Cursor([], int(m.group(1)) if m else -1)


class Connection:
    """One connection (inside a transaction), with the aiosqlite calls the stores use."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence = ()) -> _Pending:
        return _Pending(_run(self._conn, sql, args))

    async def execute_fetchall(self, sql: str, args: Sequence = ()) -> list:
        return await (await self.execute(sql, args)).fetchall()

    async def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        try:
            await self._conn.executemany(translate(sql), list(rows))
        except _driver_errors() as exc:
            raise _storage_error(exc) from exc


class _PoolConnection:
    """Statements outside a transaction: each runs on a connection of the pool."""

    __slots__ = ("_pool",)

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def _on_pool(self, sql: str, args: Sequence) -> Cursor:
        async with self._pool.acquire() as conn:
            return await _run(conn, sql, args)

    def execute(self, sql: str, args: Sequence = ()) -> _Pending:
        return _Pending(self._on_pool(sql, args))

    async def execute_fetchall(self, sql: str, args: Sequence = ()) -> list:
        return await (await self.execute(sql, args)).fetchall()


def _driver_errors() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (asyncpg.PostgresError, asyncpg.InterfaceError)


def _storage_error(exc: BaseException) -> BaseException:
    """Integrity errors keep their meaning (callers may expect a unique key to clash); the
    rest becomes one StorageError line."""
    import asyncpg

    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return exc
    return StorageError(f"database error: {exc}")


class PostgresDatabase:
    """A pool of asyncpg connections to one PostgreSQL database."""

    dialect = POSTGRESQL

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8) -> None:
        self.url = url
        self.path = shown(url)  # how messages name the database
        self._sizes = (min_size, max_size)
        self._pool: Any = None
        self._write_lock = asyncio.Lock()

    @property
    def conn(self) -> _PoolConnection:
        if self._pool is None:
            raise StorageError("database is not open: call `await db.open()` first")
        return _PoolConnection(self._pool)

    async def open(self, *, migrate: bool = True) -> PostgresDatabase:
        try:
            import asyncpg
        except ImportError:
            raise StorageError(
                "PostgreSQL needs the asyncpg package: pip install asyncpg"
            ) from None
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self._sizes[0],
                max_size=self._sizes[1],
                init=_init_connection,
                command_timeout=300,
                # The report queries are short; JIT compiling them costs ~0.5 s each (measured on
                # the 1M-reply digest) and gains nothing.
                server_settings={"jit": "off"},
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise StorageError(f"{self.path}: cannot connect to PostgreSQL: {exc}") from None
        try:
            await self._check_schema()
            if migrate:
                await self.migrate()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def __aenter__(self) -> PostgresDatabase:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[PostgresDatabase]:
        """Reads already run in parallel on the pool's connections."""
        yield self

    async def _tables(self) -> set[str]:
        rows = await self.conn.execute_fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {r[0] for r in rows}

    async def _check_schema(self) -> None:
        tables = await self._tables()
        if tables and "schema_migrations" not in tables:
            shown_tables = ", ".join(sorted(tables)[:4]) + (" …" if len(tables) > 4 else "")
            raise StorageError(
                f"{self.path}: not a stancebot database (it holds other tables: {shown_tables});"
                " choose another database"
            )

    @property
    def latest_schema(self) -> int:
        """The schema version this stancebot's PostgreSQL migrations reach."""
        return len(migrations())

    async def columns(self, table: str) -> list[str]:
        rows = await self.conn.execute_fetchall(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows]

    async def begin_bulk_load(self, conn: Connection) -> None:
        """Before `db copy` inserts whole tables (in its transaction): the row triggers off.
        The copied replies carry their stance columns and the cases their status already."""
        for table in _TRIGGER_TABLES:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")

    async def end_bulk_load(self, conn: Connection) -> None:
        """After it: the totals rebuilt in one pass, the triggers back on, and the next
        generated ids after the copied ones."""
        await conn.execute("SELECT totals_rebuild()")
        for table in _TRIGGER_TABLES:
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        for table in _IDENTITY_TABLES:
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )

    async def schema_version(self) -> int:
        if "schema_migrations" not in await self._tables():
            return 0
        rows = await self.conn.execute_fetchall(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
        )
        return int(rows[0][0])

    async def migrate(self) -> list[int]:
        """Apply every migration newer than the database, each in its own transaction under
        the write lock (so two processes starting at once apply each exactly once)."""
        available = migrations()
        applied = []
        async with self._write_lock, self._pool.acquire() as conn:
            for version, name, sql in available:
                async with conn.transaction():
                    await conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
                    await conn.execute(MIGRATIONS_TABLE)
                    current = await conn.fetchval(
                        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
                    )
                    if current > len(available):
                        raise StorageError(
                            f"{self.path}: schema version {current} is newer than this"
                            f" stancebot knows ({len(available)}); upgrade stancebot"
                        )
                    if version <= current:
                        continue
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations VALUES ($1, $2, $3)",
                        version,
                        name,
                        iso(utcnow()),
                    )
                log.info("applied PostgreSQL migration %04d_%s", version, name)
                applied.append(version)
        return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One write transaction, serialised with every other writer of the database."""
        async with self._write_lock, self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
            yield Connection(conn)

    async def backup(self, target: Path | str) -> None:
        raise StorageError(
            f"{self.path}: back up a PostgreSQL database with its own tools: "
            f"pg_dump --format=custom --file {target} DATABASE_URL"
        )
