"""Copy a whole stancebot database into a new one: SQLite into PostgreSQL when one machine is
no longer enough (or back). Every table is copied in one transaction on the target, which
must be empty; the totals the triggers keep are rebuilt there, and both the row counts and
those totals are checked against the source before the copy is reported done."""

from __future__ import annotations

from collections.abc import Callable

from bot.storage.errors import StorageError

# In the order their references need; the key orders a table's rows and pages through the
# large ones. question_totals and member_totals are not copied: the target's triggers build
# them from the replies, and they are compared with the source's below.
TABLES: tuple[tuple[str, str | None], ...] = (
    ("discussions", "id"),
    ("replies", "message_id"),
    ("stances", "id"),
    ("moderation_events", "id"),
    ("guild_settings", "guild_id"),
    ("brigading_alerts", "id"),
    ("jobs_run", None),
    ("opt_outs", None),
    ("erasures", None),
    ("server_articles", None),
    ("server_questions", None),
    ("declarations", None),
    ("question_heads", None),
)
PAGE = 2000


async def _count(db, table: str) -> int:
    rows = await db.conn.execute_fetchall(f"SELECT COUNT(*) FROM {table}")
    return int(rows[0][0])


async def _totals(db) -> tuple[set, set]:
    questions = await db.conn.execute_fetchall(
        "SELECT guild_id, question_id, kind, n FROM question_totals WHERE n != 0"
    )
    members = await db.conn.execute_fetchall(
        "SELECT guild_id, question_id, author_id, shown, latest, label FROM member_totals"
    )
    return {tuple(r) for r in questions}, {tuple(r) for r in members}


async def copy_database(
    source, target, *, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every row of `source` into `target` (both open; target migrated and empty).
    Returns {table: rows copied}."""
    have, latest = await source.schema_version(), source.latest_schema
    if have != latest:
        raise StorageError(
            f"{source.path}: schema {have}, this stancebot's is {latest}; "
            f"run `stancebot db migrate --db {source.path}` first"
        )
    for table in ("replies", "discussions", "guild_settings", "moderation_events"):
        if await _count(target, table):
            raise StorageError(
                f"{target.path}: already holds data ({table}); copy into a new, empty database"
            )
    copied: dict[str, int] = {}
    async with target.transaction() as conn:
        await target.begin_bulk_load(conn)
        for table, key in TABLES:
            columns = await source.columns(table)
            if set(columns) != set(await target.columns(table)):
                raise StorageError(
                    f"{table}: the two databases' columns differ; upgrade stancebot on both"
                )
            names = ", ".join(columns)
            insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
            n = 0
            last = None
            while True:
                if key is None:
                    rows = await source.conn.execute_fetchall(f"SELECT {names} FROM {table}")
                else:
                    where = f" WHERE {key} > ?" if last is not None else ""
                    rows = await source.conn.execute_fetchall(
                        f"SELECT {names} FROM {table}{where} ORDER BY {key} LIMIT {PAGE}",
                        (last,) if last is not None else (),
                    )
                if rows:
                    await conn.executemany(insert, [tuple(r) for r in rows])
                    n += len(rows)
                    if progress is not None:
                        progress(table, n)
                if key is None or len(rows) < PAGE:
                    break
                last = rows[-1][columns.index(key)]
            copied[table] = n
        await target.end_bulk_load(conn)
    for table, _ in TABLES:
        if await _count(target, table) != copied[table] or copied[table] != await _count(
            source, table
        ):
            raise StorageError(
                f"{table}: {copied[table]} rows copied but the counts differ; the source changed "
                "during the copy? Stop the bot, drop the target and copy again"
            )
    if await _totals(source) != await _totals(target):
        raise StorageError(
            "the whole-discussion totals differ after the copy; drop the target and copy again "
            "with the bot stopped"
        )
    return copied
