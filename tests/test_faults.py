"""Faults: a process killed mid-import, a database from any earlier version, a backup restored,
a database locked by another program or read-only."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.app import App
from bot.config import PROJECT_ROOT, load_settings
from bot.storage.db import Database, migrations

from .conftest import GUILD_A, dce_message, write_dce_export

TEXTS = [
    "Genuine partnership built on respect.",
    "Pure theatre and backroom deals.",
    "Hard to say, it's a bit of both.",
    "Anyone watching the cricket tonight?",
]


_COUNTS = (
    "SELECT COUNT(*), COUNT(DISTINCT message_id),"
    " COUNT(*) FILTER (WHERE classify_state = 'done'),"
    " (SELECT COUNT(*) FROM stances WHERE is_current = 1) FROM replies"
)


def counts(db: Path | str) -> tuple[int, int, int, int]:
    """(replies, distinct message ids, classified, current stances), on either backend."""
    if str(db).startswith("postgresql://"):
        return asyncio.run(_pg_counts(str(db)))
    con = sqlite3.connect(db)
    try:
        return con.execute(_COUNTS).fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet
        return (0, 0, 0, 0)
    finally:
        con.close()


async def _pg_counts(url: str) -> tuple[int, int, int, int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return tuple(await conn.fetchrow(_COUNTS))
    except asyncpg.UndefinedTableError:  # the schema is not there yet
        return (0, 0, 0, 0)
    finally:
        await conn.close()


def ingest_cmd(export: Path, db: Path | str) -> list[str]:
    return [
        *(sys.executable, "-m", "bot", "ingest", str(export)),
        *("--question", "partnership", "--db", str(db)),
    ]


def test_sigkill_during_ingest_then_restart_loses_and_doubles_nothing(
    tmp_path, classifier, library, database_target
):
    n = 600
    export = write_dce_export(
        tmp_path / "channel.json",
        [dce_message(10_000 + i, TEXTS[i % 4], author=1 + i % 97, minutes=i) for i in range(n)],
    )
    db = database_target  # an SQLite file, then a PostgreSQL database
    env = os.environ | {"STANCEBOT_TORCH_THREADS": "1"}
    proc = subprocess.Popen(
        ingest_cmd(export, db), cwd=PROJECT_ROOT, env=env, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while counts(db)[0] < 100 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stored, _, classified, _ = counts(db)
    assert 0 < stored < n, "the kill must land mid-import"
    assert (classified or 0) < stored  # some stored replies were not classified yet

    # The bot starting on this database (as setup_hook opens the App) classifies the backlog.
    async def restart() -> None:
        settings = load_settings(database=db)
        async with await App.open(settings, classifier=classifier, library=library) as app:
            await app.service.drain()
            assert await app.repo.pending() == []

    asyncio.run(restart())
    assert counts(db)[2] == counts(db)[0] == stored

    # Importing again stores the rest once: every message exactly once, each classified.
    done = subprocess.run(
        ingest_cmd(export, db), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert f"{n - stored} stored, {stored} already stored" in done.stdout
    assert counts(db) == (n, n, n, n)


def schema(db: Path) -> dict[str, str]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT name, sql FROM sqlite_master"
            " WHERE sql IS NOT NULL AND name != 'schema_migrations'"
        ).fetchall()
    finally:
        con.close()
    return {name: " ".join(sql.split()) for name, sql in rows}


@pytest.mark.parametrize("version", range(len(migrations())))
async def test_a_database_from_every_earlier_version_upgrades_to_the_newest_schema(
    tmp_path, version
):
    """A database left at schema `version` (by an older stancebot) with a reply in it reaches
    exactly the schema a new database gets, and keeps the reply."""
    old = tmp_path / f"v{version}.db"
    con = sqlite3.connect(old, isolation_level=None)
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    for number, name, sql in migrations()[:version]:
        con.executescript(f"BEGIN; {sql}; COMMIT;")
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, 'then')", (number, name))
    if version >= 1:
        con.execute(
            "INSERT INTO replies (message_id, guild_id, channel_id, question_id, author_id,"
            " author_name, content, created_at) VALUES (9001, ?, 5, 'partnership', 7, 'old',"
            " 'kept across upgrades', '2025-01-01T00:00:00.000000+00:00')",
            (GUILD_A,),
        )
    con.close()

    async with Database(old) as db:
        assert await db.schema_version() == len(migrations())
        if version >= 1:
            async with db.conn.execute("SELECT content FROM replies") as cur:
                assert [r[0] for r in await cur.fetchall()] == ["kept across upgrades"]
    async with Database(tmp_path / "new.db"):
        pass
    assert schema(old) == schema(tmp_path / "new.db")


def test_backup_then_restore_brings_back_the_state_at_backup_time(
    tmp_path, capsys, classifier, library, make_reply
):
    live, copy = tmp_path / "live.db", tmp_path / "backup.db"
    settings = load_settings(database=live)

    async def ingest(*replies) -> None:
        async with await App.open(settings, classifier=classifier, library=library) as app:
            async with app.db.conn.execute("PRAGMA integrity_check") as cur:
                assert (await cur.fetchone())[0] == "ok"
            for reply in replies:
                await app.service.ingest(reply)
            await app.service.drain()

    asyncio.run(ingest(*(make_reply(TEXTS[i], author=i) for i in range(3))))
    assert main(["db", "backup", str(copy), "--db", str(live)]) == 0
    asyncio.run(ingest(make_reply("After the backup", author=9)))
    assert counts(live) == (4, 4, 4, 4)

    # Restore as the README says: stop the bot, put the backup in the database's place.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{live}{suffix}").unlink(missing_ok=True)
    shutil.copy(copy, live)
    asyncio.run(ingest(make_reply("The bot carries on", author=10)))
    assert counts(live) == (4, 4, 4, 4)  # the three backed-up replies and the new one
    capsys.readouterr()


@pytest.fixture
def locked(tmp_path):
    """A database another program holds the write lock of."""
    path = tmp_path / "busy.db"
    assert main(["db", "migrate", "--db", str(path)]) == 0
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO opt_outs VALUES (1, 2, 'x')")
    yield path
    other.execute("ROLLBACK")
    other.close()


def test_a_locked_database_mid_import_is_one_clear_line(locked, tmp_path, capsys):
    export = write_dce_export(tmp_path / "c.json", [dce_message(901, TEXTS[0])])
    capsys.readouterr()
    code = main(["ingest", str(export), "--question", "partnership", "--db", str(locked)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"stancebot: error: {locked}: database is locked by another program; stop it or wait\n"
    )


def _make_read_only(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o444)
        path.parent.chmod(0o555)
        return
    # root ignores permissions: the immutable attribute holds even for root.
    done = subprocess.run(["chattr", "+i", str(path), str(path.parent)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only file here: {done.stderr.decode().strip()}")


def _make_writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path), str(path.parent)], capture_output=True)
    else:
        path.parent.chmod(0o755)
        path.chmod(0o644)


def test_a_read_only_database_is_one_clear_line(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "club.db"
    assert main(["db", "migrate", "--db", str(path)]) == 0
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    capsys.readouterr()
    _make_read_only(path)
    try:
        code = main(["db", "migrate", "--db", str(path)])
    finally:
        _make_writable(path)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"stancebot: error: {path}: ")
    assert "read-only" in err or "cannot open" in err
    assert "Traceback" not in err
