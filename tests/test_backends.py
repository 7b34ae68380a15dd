"""SQLite and PostgreSQL give the same answers: the same random operations applied to both,
then every report query compared; `stancebot db copy` between them; PostgreSQL's own errors
and concurrent migration."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from datetime import timedelta

import pytest

from bot.__main__ import main
from bot.core.models import Action, Prediction, Verdict
from bot.core.records import PendingItem
from bot.storage.db import open_database
from bot.storage.moderation import ModerationStore
from bot.storage.postgres import migrations as postgres_migrations
from bot.storage.repository import Repository

from .conftest import GUILD_A, GUILD_B, T0, ReplyFactory, drop_postgres_database
from .conftest import new_postgres_database as new_pg
from .test_totals import ASIDE, EVER, LABELS, apply_random_operations


@pytest.fixture
async def pg_url():
    url = await new_pg()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


async def answers(db) -> dict:
    """What every report and export query says about the database."""
    repo, store = Repository(db), ModerationStore(db)
    week = [T0, T0 + timedelta(days=7)]
    halves = [T0, T0 + timedelta(minutes=100), T0 + timedelta(minutes=210), EVER[1]]
    out: dict = {"guilds": await repo.guild_ids()}
    for guild in (GUILD_A, GUILD_B):
        out[guild, "tally"] = await repo.moderation_tally(guild)
        out[guild, "removed"] = await store.removals_by_stance(guild, *EVER)
        for question in ("partnership", "oil-claims"):
            key = (guild, question)
            out[key, "totals"] = await repo.stance_tallies(
                guild, question, EVER, labels=LABELS, set_aside=ASIDE
            )
            out[key, "scan"] = await repo.stance_tallies(
                guild, question, halves, labels=LABELS, set_aside=ASIDE, use_totals=False
            )
            out[key, "changes"] = await repo.stance_changes(
                guild, question, (halves[0], halves[1]), (halves[1], halves[3]), set_aside=ASIDE
            )
            out[key, "participation"] = await repo.participation(guild, question, *week)
            out[key, "versions"] = await repo.model_versions(guild, question, *EVER)
            for label in LABELS:
                out[key, label] = await repo.representative_replies(
                    guild, question, label, *EVER, min_chars=1, limit=5
                )
        out[guild, "new"] = await store.new_member_replies(
            guild, *EVER, new_member_days=3, set_aside=ASIDE
        )
        out[guild, "cases"] = (await store.open_cases(guild, limit=100))[1]
    out["export"] = [row async for row in repo.export_rows()]
    out["corrections"] = await repo.corrections()
    return out


async def apply_moderation_operations(db, rng: random.Random, make_reply) -> None:
    repo, store = Repository(db), ModerationStore(db)
    for i in range(30):
        joined = T0 - timedelta(days=rng.choice((1, 10))) if rng.random() < 0.5 else None
        r = make_reply(
            f"burst {i}",
            author=rng.randrange(12),  # the random operations' members, later
            minutes=200 + i,
            member_joined_at=joined,
        )
        await repo.insert_reply(r, classify=True)
        item = PendingItem(r.guild_id, r.message_id, r.question_id, r.content, 0)
        label = rng.choice(LABELS)
        await repo.write_model_stances([(item, Prediction(label, 0.9, {label: 0.9}, "m2"))])
        verdict = Verdict(Action.REVIEW, ("spam",)) if rng.random() < 0.3 else Verdict(Action.ALLOW)
        await repo.record_verdict(r.guild_id, r.message_id, r.author_id, verdict)
    _, n = await store.open_cases(GUILD_A, limit=1)
    if n:
        await store.resolve(GUILD_A, 1, "removed", moderator_id=9, note="checked")
    await store.record_case(GUILD_A, "timeout", author_id=101, reasons=("repeat",))
    await store.forget_member(GUILD_A, 3)
    await store.record_brigade_alert(
        GUILD_A,
        "partnership",
        "gamesmanship",
        first_at=T0,
        last_at=T0 + timedelta(minutes=20),
        replies=5,
        members=5,
        first_message_id=1,
        window_minutes=30,
    )


@pytest.mark.parametrize("seed", [11, 12])
async def test_the_same_operations_give_the_same_answers_on_both_backends(tmp_path, pg_url, seed):
    results = []
    for target in (str(tmp_path / "same.db"), pg_url):
        async with open_database(target) as db:
            rng = random.Random(seed)
            make_reply = ReplyFactory()
            await apply_random_operations(Repository(db), rng, make_reply, 150)
            await apply_moderation_operations(db, rng, make_reply)
            results.append(await answers(db))
    sqlite, postgres = results
    assert sqlite["export"] and sqlite[(GUILD_A, "partnership"), "totals"][0]["people"]
    assert sqlite.keys() == postgres.keys()
    for key in sqlite:
        assert sqlite[key] == postgres[key], key


async def _seed(target: str, make_reply) -> None:
    async with open_database(target) as db:
        repo = Repository(db)
        d = await repo.create_discussion(GUILD_A, 5, "partnership", thread_id=6, opened_by=1)
        for i in range(5):
            r = make_reply(f"copied reply {i}", author=i, minutes=i, discussion_id=d.id)
            await repo.insert_reply(r, classify=True)
            item = PendingItem(r.guild_id, r.message_id, r.question_id, r.content, 0)
            await repo.write_model_stances([(item, Prediction("partnership", 0.9, {}, "m"))])
        await repo.record_verdict(GUILD_A, r.message_id, r.author_id, Verdict(Action.REVIEW))
        await repo.set_opt_out(GUILD_B, 77, True)
        await ModerationStore(db).set_retention(GUILD_A, 30)


async def _export(target: str) -> list[dict]:
    async with open_database(target) as db:
        return [row async for row in Repository(db).export_rows()]


def test_db_copy_moves_sqlite_into_postgresql_and_back(tmp_path, pg_url, make_reply, capsys):
    source, back = str(tmp_path / "old.db"), str(tmp_path / "back.db")
    asyncio.run(_seed(source, make_reply))
    assert main(["db", "copy", source, pg_url]) == 0
    assert "5 replies" in capsys.readouterr().out
    assert asyncio.run(_export(pg_url)) == asyncio.run(_export(source))

    async def use_copy() -> tuple:
        async with open_database(pg_url) as db:
            repo = Repository(db)
            # New rows get new ids after the copied ones, and case numbers go on.
            d = await repo.create_discussion(GUILD_A, 5, "oil-claims", thread_id=8)
            r = make_reply("after the move", author=9, minutes=30)
            await repo.insert_reply(r, classify=True)
            case = await repo.record_verdict(GUILD_A, r.message_id, 9, Verdict(Action.REVIEW))
            settings = await ModerationStore(db).settings(GUILD_A)
            return d.id, case, settings.retention_days, await repo.is_opted_out(GUILD_B, 77)

    assert asyncio.run(use_copy()) == (2, 2, 30, True)
    assert main(["db", "copy", pg_url, back]) == 0
    assert asyncio.run(_export(back)) == asyncio.run(_export(pg_url))
    # The target must be new and empty: nothing is merged or overwritten.
    assert main(["db", "copy", source, pg_url]) == 2
    assert "already holds data" in capsys.readouterr().err
    assert main(["db", "copy", source, back]) == 2
    assert "already exists" in capsys.readouterr().err


def test_an_unreachable_postgresql_is_one_clear_line(capsys):
    assert main(["export", "--db", "postgresql://nobody@127.0.0.1:9/nowhere"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stancebot: error: postgresql://nobody@127.0.0.1:9/nowhere: cannot")
    assert "Traceback" not in err and err.count("\n") == 1


def test_a_password_never_shows_in_messages(capsys):
    assert main(["export", "--db", "postgresql://bot:hunter2@127.0.0.1:9/x"]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err and "bot:***@127.0.0.1:9/x" in err


async def test_a_database_of_another_program_is_refused(pg_url):
    import asyncpg

    conn = await asyncpg.connect(pg_url)
    await conn.execute("CREATE TABLE invoices (id INTEGER)")
    await conn.close()
    with pytest.raises(Exception, match="not a stancebot database"):
        await open_database(pg_url).open()


def test_two_processes_migrating_one_new_postgresql_database_at_once_both_succeed(pg_url):
    code = (
        "import asyncio, sys\n"
        "from bot.storage.db import open_database\n"
        "async def go():\n"
        "    db = await open_database(sys.argv[1]).open()\n"
        "    print(await db.schema_version())\n"
        "    await db.close()\n"
        "asyncio.run(go())\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, pg_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert {out.strip() for out, _ in outs} == {str(len(postgres_migrations()))}


def test_two_processes_write_one_postgresql_database_at_once(tmp_path, pg_url):
    """Two shards' processes on one database: each imports its own server's replies at the same
    time; every reply is stored and classified once, case numbers stay per server and gapless,
    and the weekly summary of a server is claimed by one process only."""
    from bot.config import PROJECT_ROOT
    from bot.storage.guilds import GuildStore

    from .conftest import dce_message, write_dce_export

    texts = ["Genuine partnership.", "Backroom deals.", "@everyone free nitro", "cricket?"]
    n = 120
    procs = []
    for offset, guild in ((10_000, GUILD_A), (20_000, GUILD_B)):
        export = write_dce_export(
            tmp_path / f"{guild}.json",
            [dce_message(offset + i, texts[i % 4], author=1 + i % 13, minutes=i) for i in range(n)],
            guild=guild,
        )
        cmd = [sys.executable, "-m", "bot", "ingest", str(export), "--question", "partnership"]
        procs.append(
            subprocess.Popen(
                [*cmd, "--db", pg_url],
                cwd=PROJECT_ROOT,
                env={**os.environ, "STANCEBOT_TORCH_THREADS": "1"},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs

    async def check() -> None:
        async with open_database(pg_url) as db:
            rows = await db.conn.execute_fetchall(
                "SELECT guild_id, COUNT(*), COUNT(*) FILTER (WHERE classify_state = 'done'),"
                " (SELECT COUNT(*) FROM stances s WHERE s.guild_id = r.guild_id"
                " AND s.is_current = 1) FROM replies r GROUP BY guild_id ORDER BY guild_id"
            )
            assert [tuple(r) for r in rows] == [(GUILD_A, n, n, n), (GUILD_B, n, n, n)]
            for guild in (GUILD_A, GUILD_B):
                cases = await db.conn.execute_fetchall(
                    "SELECT case_number FROM moderation_events WHERE guild_id = ?"
                    " ORDER BY case_number",
                    (guild,),
                )
                numbers = [r[0] for r in cases]
                assert numbers and numbers == list(range(1, len(numbers) + 1))
        # Each "process" (its own pool) tries to claim the same weeks at once.
        dbs = [await open_database(pg_url).open() for _ in range(2)]
        try:
            claims = await asyncio.gather(
                *(
                    GuildStore(db).claim_job(GUILD_A, "weekly", f"2025-W{w}", ran_at=T0, late=False)
                    for w in range(40, 50)
                    for db in dbs
                    for _ in range(3)
                )
            )
        finally:
            for db in dbs:
                await db.close()
        assert sum(claims) == 10  # one claim per week, whoever got there first

    asyncio.run(check())


def test_backing_up_a_postgresql_database_points_to_pg_dump(tmp_path, pg_url, capsys):
    asyncio.run(_export(pg_url))  # creates the schema
    assert main(["db", "backup", str(tmp_path / "x.dump"), "--db", pg_url]) == 2
    err = capsys.readouterr().err
    assert "pg_dump" in err and err.count("\n") == 1
    assert not (tmp_path / "x.dump").exists()
