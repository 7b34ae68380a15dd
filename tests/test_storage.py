import os
import sqlite3

import pytest

from bot.core.models import Prediction
from bot.core.records import PendingItem
from bot.storage.db import Database, StorageError, migrations, open_database
from bot.storage.repository import Repository

from .conftest import GUILD_A

TABLES = {
    "discussions",
    "replies",
    "stances",
    "moderation_events",
    "jobs_run",
    "opt_outs",
    "guild_settings",
    "schema_migrations",
}


async def test_migrations_on_an_empty_database(tmp_path):
    async with Database(tmp_path / "new.db") as db:
        assert await db.schema_version() == len(migrations())
        async with db.conn.execute("SELECT name FROM sqlite_master WHERE type='table'") as cur:
            names = {r[0] for r in await cur.fetchall()}
        assert TABLES <= names
        async with db.conn.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
        async with db.conn.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone())[0] == 1
        async with db.conn.execute("SELECT version, name FROM schema_migrations") as cur:
            rows = [tuple(r) for r in await cur.fetchall()]
        assert rows[0] == (1, "initial") and len(rows) == len(migrations())


async def test_reopening_an_existing_database_keeps_data_and_applies_nothing(tmp_path, make_reply):
    path = tmp_path / "old.db"
    async with Database(path) as db:
        await Repository(db).insert_reply(make_reply("kept"), classify=True)
    db = Database(path)
    await db.open(migrate=False)
    try:
        assert await db.migrate() == []
        async with db.conn.execute("SELECT content FROM replies") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["kept"]
    finally:
        await db.close()


async def test_database_from_an_older_stancebot_is_upgraded(tmp_path):
    """A database that only has the version table (schema 0) gets every migration."""
    path = tmp_path / "v0.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    con.commit()
    con.close()
    db = Database(path)
    await db.open(migrate=False)
    try:
        assert await db.schema_version() == 0
        assert await db.migrate() == list(range(1, len(migrations()) + 1))
    finally:
        await db.close()


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    async with Database(path) as db:
        await db.conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    with pytest.raises(StorageError, match="newer than this stancebot knows"):
        await Database(path).open()


async def test_not_a_database_and_missing_folder_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="not a stancebot database"):
        await Database(junk).open()
    with pytest.raises(StorageError, match="does not exist"):
        await Database(tmp_path / "nope" / "x.db").open()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
async def test_read_only_database_is_a_clear_error(tmp_path):
    path = tmp_path / "ro.db"
    async with Database(path):
        pass
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(StorageError, match=r"read-only|cannot open"):
            await Database(path).open()
    finally:
        tmp_path.chmod(0o755)


async def test_backup_is_a_usable_copy(tmp_path, make_reply):
    async with Database(tmp_path / "live.db") as db:
        await Repository(db).insert_reply(make_reply("backed up"), classify=True)
        await db.backup(tmp_path / "copy.db")
        with pytest.raises(StorageError, match="already exists"):
            await db.backup(tmp_path / "copy.db")
    async with Database(tmp_path / "copy.db") as copy:
        async with copy.conn.execute("SELECT content FROM replies") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["backed up"]


async def test_stale_prediction_for_edited_text_is_dropped(database_target, make_reply):
    async with open_database(database_target) as db:
        repo = Repository(db)
        r = make_reply("first text")
        await repo.insert_reply(r, classify=True)
        version = await repo.update_content(
            GUILD_A, r.message_id, "second", 0, r.created_at, classify=True
        )
        assert version == 1
        pred = Prediction("partnership", 0.9, {"partnership": 0.9}, "m1")
        stale = PendingItem(GUILD_A, r.message_id, "partnership", "first text", 0)
        assert await repo.write_model_stances([(stale, pred)]) == 0
        fresh = PendingItem(GUILD_A, r.message_id, "partnership", "second", 1)
        assert await repo.write_model_stances([(fresh, pred)]) == 1
        assert await repo.write_model_stances([(fresh, pred)]) == 0  # replay: no change


async def _label(db, mid):
    async with db.conn.execute(
        "SELECT stance_label, stance_low FROM replies WHERE message_id = ?", (mid,)
    ) as cur:
        return tuple(await cur.fetchone())


async def test_triggers_keep_each_replys_current_label_in_step(database_target, make_reply):
    async with open_database(database_target) as db:
        repo = Repository(db)
        r = make_reply("some text")
        await repo.insert_reply(r, classify=True)
        assert await _label(db, r.message_id) == (None, None)
        item = PendingItem(GUILD_A, r.message_id, "partnership", "some text", 0)
        low = Prediction("neutral", 0.3, {"neutral": 0.3}, "m", low_confidence=True)
        await repo.write_model_stances([(item, low)])
        assert await _label(db, r.message_id) == ("neutral", 1)
        await repo.correct_stance(GUILD_A, r.message_id, "gamesmanship", moderator_id=1)
        assert await _label(db, r.message_id) == ("gamesmanship", 0)
        # Edited to an attachment only: the moderator's label stays, a model label would go.
        await repo.update_content(GUILD_A, r.message_id, "", 1, r.created_at, classify=False)
        assert await _label(db, r.message_id) == ("gamesmanship", 0)
        await db.conn.execute("DELETE FROM stances WHERE message_id = ?", (r.message_id,))
        assert await _label(db, r.message_id) == (None, None)


async def test_migration_3_backfills_labels_of_an_older_database(tmp_path, make_reply):
    path = tmp_path / "v2.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    for version, name, sql in migrations()[:2]:
        con.executescript(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, 'x')", (version, name))
    r = make_reply("old reply")
    con.execute(
        "INSERT INTO replies (message_id, guild_id, channel_id, question_id, author_id,"
        " content, created_at) VALUES (?, ?, 1, 'partnership', 5, 'old', 'x')",
        (r.message_id, GUILD_A),
    )
    con.execute(
        "INSERT INTO stances (message_id, guild_id, question_id, label, confidence,"
        " scores, model_version, source, created_at) VALUES (?, ?, 'partnership',"
        " 'partnership', 0.9, '{}', 'm', 'model', 'x')",
        (r.message_id, GUILD_A),
    )
    con.commit()
    con.close()
    async with Database(path) as db:
        assert await db.schema_version() == len(migrations())
        assert await _label(db, r.message_id) == ("partnership", 0)


async def test_readers_see_committed_data_and_cannot_write(tmp_path, make_reply):
    async with Database(tmp_path / "r.db") as db:
        await Repository(db).insert_reply(make_reply("visible"), classify=True)
        async with db.reader() as reader:
            async with reader.conn.execute("SELECT content FROM replies") as cur:
                assert [r[0] for r in await cur.fetchall()] == ["visible"]
            with pytest.raises(sqlite3.OperationalError):
                await reader.conn.execute("DELETE FROM replies")


async def test_reader_works_when_the_path_has_uri_characters(tmp_path, make_reply):
    folder = tmp_path / "club #1?"
    folder.mkdir()
    async with Database(folder / "s.db") as db:
        await Repository(db).insert_reply(make_reply("kept"), classify=True)
        async with db.reader() as reader, reader.conn.execute("SELECT COUNT(*) FROM replies") as c:
            assert (await c.fetchone())[0] == 1


async def test_backup_into_a_missing_folder_is_a_clear_error(tmp_path):
    async with Database(tmp_path / "b.db") as db:
        with pytest.raises(StorageError, match="does not exist; create it first"):
            await db.backup(tmp_path / "nope" / "copy.db")


def test_two_processes_opening_a_new_database_at_once_both_succeed(tmp_path):
    """Two processes (say the bot and `stancebot report`) start on a database not yet created:
    each reads the schema version inside its own write transaction, so one applies the
    migrations and the other finds them applied; neither fails."""
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    script = (
        "import asyncio, sys\n"
        "from bot.storage.db import Database\n"
        "async def go():\n"
        "    db = await Database(sys.argv[1]).open()\n"
        "    print(await db.schema_version())\n"
        "    await db.close()\n"
        "asyncio.run(go())\n"
    )
    for trial in range(4):
        path = tmp_path / f"race{trial}.db"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(2)
        ]
        results = [p.communicate(timeout=60) for p in procs]
        for proc, (out, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0, err
            assert out.strip() == str(len(migrations()))


async def test_two_connections_migrating_a_new_database_at_once_both_succeed(tmp_path):
    import asyncio

    for trial in range(10):
        path = tmp_path / f"race{trial}.db"
        dbs = [Database(path), Database(path)]
        try:
            await asyncio.gather(*(db.open() for db in dbs))
            assert [await db.schema_version() for db in dbs] == [len(migrations())] * 2
        finally:
            for db in dbs:
                await db.close()
