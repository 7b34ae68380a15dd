"""Moderation storage: the 0004 migration from every earlier schema, per-guild case numbers,
resolving a case once, repeat-offender counts, per-guild policy, forget-me, retention, and
export honouring deletions and opt-outs."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.__main__ import main
from bot.core.models import Action, Prediction, Verdict, utcnow
from bot.core.records import PendingItem
from bot.storage.db import Database, migrations, open_database
from bot.storage.moderation import ModerationStore
from bot.storage.repository import Repository

from .conftest import GUILD_A, GUILD_B, T0

REVIEW = Verdict(Action.REVIEW, ("personal_attack",))
REMOVE = Verdict(Action.REMOVE, ("scam",))


@pytest.fixture
async def db(database_target):
    async with open_database(database_target) as db:
        yield db


async def stored(repo: Repository, reply, label: str | None = None) -> None:
    await repo.insert_reply(reply, classify=True)
    if label is not None:
        item = PendingItem(reply.guild_id, reply.message_id, reply.question_id, reply.content, 0)
        await repo.write_model_stances([(item, Prediction(label, 0.9, {label: 0.9}, "m"))])


@pytest.mark.parametrize("version", [0, 1, 2, 3])
async def test_migration_4_upgrades_every_earlier_schema(tmp_path, version):
    path = tmp_path / f"v{version}.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    for number, name, sql in migrations()[:version]:
        con.executescript(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, 'x')", (number, name))
    if version:
        for case, action in ((1, "review"), (2, "remove"), (3, "allow")):
            con.execute(
                "INSERT INTO moderation_events (guild_id, case_number, message_id, author_id,"
                " action, actor, created_at) VALUES (?, ?, ?, 7, ?, 'auto', ?)",
                (GUILD_A, case, 100 + case, action, T0.isoformat()),
            )
    con.commit()
    con.close()

    async with Database(path) as db:
        assert await db.schema_version() == len(migrations())
        store = ModerationStore(db)
        if version:
            statuses = [(await store.case(GUILD_A, n)).status for n in (1, 2, 3)]
            assert statuses == ["open", "removed", "closed"]
        # Numbering goes on from the old cases, and a new review case opens.
        number = await Repository(db).record_verdict(GUILD_A, 999, 8, REVIEW)
        assert number == (4 if version else 1)
        assert (await store.case(GUILD_A, number)).status == "open"
        assert (await store.settings(GUILD_A)).retention_days is None


async def test_cases_are_numbered_per_guild_and_resolved_once(db, make_reply):
    repo, store = Repository(db), ModerationStore(db)
    a1, a2 = make_reply("you are an idiot"), make_reply("free nitro")
    b1 = make_reply("you are a clown", guild=GUILD_B)
    for r in (a1, a2, b1):
        await stored(repo, r)
    assert await repo.record_verdict(GUILD_A, a1.message_id, 42, REVIEW) == 1
    assert await repo.record_verdict(GUILD_A, a2.message_id, 42, REMOVE) == 2
    assert await repo.record_verdict(GUILD_B, b1.message_id, 42, REVIEW) == 1

    opened, total = await store.open_cases(GUILD_A)
    assert [c.number for c in opened] == [1] and total == 1
    assert opened[0].content == "you are an idiot" and opened[0].reasons == ("personal_attack",)

    await store.set_review_post(GUILD_A, 1, 555, 777)
    approved = await store.resolve(GUILD_A, 1, "approved", moderator_id=9, note="fair comment")
    assert (approved.status, approved.resolved_by, approved.resolution) == (
        "approved",
        9,
        "fair comment",
    )
    assert (approved.review_channel_id, approved.review_message_id) == (555, 777)
    assert (await repo.get_reply(GUILD_A, a1.message_id)).moderation == "allow"
    # A second press (or another moderator at the same moment) changes nothing.
    assert await store.resolve(GUILD_A, 1, "removed", moderator_id=10, note="late") is None
    assert (await store.case(GUILD_A, 1)).resolved_by == 9
    # Guild B's case 1 is its own.
    removed = await store.resolve(GUILD_B, 1, "removed", moderator_id=11, note="attack")
    assert removed.status == "removed"
    assert (await repo.get_reply(GUILD_B, b1.message_id)).moderation == "remove"
    assert (await store.case(GUILD_A, 1)).status == "approved"
    assert await store.case(GUILD_A, 3) is None

    timeout = await store.record_case(
        GUILD_A, "timeout", author_id=42, reasons=["2 removals in 24 h"]
    )
    assert timeout == 3 and (await store.case(GUILD_A, 3)).status == "closed"


async def test_removals_are_counted_per_member_in_a_window(db, make_reply):
    repo, store = Repository(db), ModerationStore(db)
    for author in (42, 42, 43):
        r = make_reply("spam spam", author=author)
        await stored(repo, r)
        await repo.record_verdict(GUILD_A, r.message_id, author, REMOVE)
    held = make_reply("you are a moron", author=42)
    await stored(repo, held)
    case = await repo.record_verdict(GUILD_A, held.message_id, 42, REVIEW)
    since = T0 - timedelta(hours=1)
    assert await store.removals_since(GUILD_A, 42, since) == 2
    await store.resolve(GUILD_A, case, "removed", moderator_id=9, note="attack")
    assert await store.removals_since(GUILD_A, 42, since) == 3
    assert await store.removals_since(GUILD_A, 43, since) == 1
    assert await store.removals_since(GUILD_B, 42, since) == 0


async def test_policy_is_stored_per_guild(db):
    store = ModerationStore(db)
    policy = (await store.policy(GUILD_A)).with_threshold("insult", 0.3, 0.8)
    await store.set_policy(GUILD_A, policy)
    fresh = ModerationStore(db)  # another process / after a restart
    assert (await fresh.policy(GUILD_A)).threshold("insult").review == 0.3
    assert (await fresh.policy(GUILD_B)).threshold("insult").review == 0.5


async def export(repo: Repository, guild: int) -> list[dict]:
    return [row async for row in repo.export_rows(guild)]


async def test_forget_member_deletes_their_replies_stances_and_case_content(db, make_reply):
    repo, store = Repository(db), ModerationStore(db)
    mine = [make_reply("a genuine partnership", author=42), make_reply("you idiot", author=42)]
    theirs = make_reply("backroom deals", author=43)
    elsewhere = make_reply("my reply in another server", author=42, guild=GUILD_B)
    await stored(repo, mine[0], "partnership")
    await stored(repo, mine[1], "gamesmanship")
    await stored(repo, theirs, "gamesmanship")
    await stored(repo, elsewhere, "neutral")
    case = await repo.record_verdict(GUILD_A, mine[1].message_id, 42, REVIEW)
    await store.set_review_post(GUILD_A, case, 555, 777)

    forgotten = await store.forget_member(GUILD_A, 42)

    assert (forgotten.replies, forgotten.stances, forgotten.cases) == (2, 2, 1)
    assert forgotten.review_posts == ((555, 777),)
    assert [r["author_id"] for r in await export(repo, GUILD_A)] == [43]
    assert [r["author_id"] for r in await export(repo, GUILD_B)] == [42]
    left = await store.case(GUILD_A, case)
    assert left.author_id is None and left.content is None and left.status == "closed"
    async with db.conn.execute(
        "SELECT COUNT(*) FROM stances WHERE guild_id = ? AND message_id IN (?, ?)",
        (GUILD_A, mine[0].message_id, mine[1].message_id),
    ) as cur:
        assert (await cur.fetchone())[0] == 0
    again = await store.forget_member(GUILD_A, 42)
    assert (again.replies, again.stances, again.cases) == (0, 0, 0)


async def test_export_leaves_out_members_who_opted_out(db, make_reply):
    repo = Repository(db)
    await stored(repo, make_reply("partnership all the way", author=42))
    await stored(repo, make_reply("gamesmanship", author=43))
    await repo.set_opt_out(GUILD_A, 42, True)
    assert [r["author_id"] for r in await export(repo, GUILD_A)] == [43]
    await repo.set_opt_out(GUILD_A, 42, False)
    assert [r["author_id"] for r in await export(repo, GUILD_A)] == [42, 43]


async def test_retention_purges_old_replies_of_one_guild(db, make_reply):
    repo, store = Repository(db), ModerationStore(db)
    old = make_reply("old", minutes=0)
    new = make_reply("new", minutes=60 * 24 * 10)
    other = make_reply("other server, old", guild=GUILD_B, minutes=0)
    for r in (old, new, other):
        await stored(repo, r, "neutral")
    await store.set_retention(GUILD_A, 5)
    assert await store.retention_guilds() == [(GUILD_A, 5)]
    cutoff = T0 + timedelta(days=5)
    assert await store.purge_replies(cutoff, guild_id=GUILD_A) == 1
    assert [r["content"] for r in await export(repo, GUILD_A)] == ["new"]
    assert [r["content"] for r in await export(repo, GUILD_B)] == ["other server, old"]
    with pytest.raises(ValueError, match="at least 1 day"):
        await store.set_retention(GUILD_A, 0)


def test_cli_db_purge_deletes_replies_older_than_days(tmp_path, make_reply, capsys):
    path = tmp_path / "purge.db"

    async def fill() -> None:
        async with Database(path) as db:
            repo = Repository(db)
            await stored(repo, make_reply("from 2025"))
            fresh = make_reply("from today")
            await stored(repo, replace(fresh, created_at=utcnow()))

    asyncio.run(fill())
    assert main(["db", "purge", "--older-than", "30", "--db", str(path)]) == 0
    assert capsys.readouterr().out.startswith("deleted 1 replies posted before ")

    async def left() -> list[str]:
        async with Database(path) as db:
            return [r["content"] async for r in Repository(db).export_rows()]

    assert asyncio.run(left()) == ["from today"]
    assert main(["db", "purge", "--older-than", "0", "--db", str(path)]) == 2
    assert "at least 1 day" in capsys.readouterr().err


async def test_forget_member_leaves_no_message_id_of_theirs_in_brigading_alerts(db, make_reply):
    repo, store = Repository(db), ModerationStore(db)
    mine = make_reply("backroom deals", author=42)
    theirs = make_reply("backroom deals again", author=43, minutes=1)
    elsewhere = make_reply("backroom deals there", author=42, guild=GUILD_B)
    for r in (mine, theirs, elsewhere):
        await stored(repo, r, "gamesmanship")
    alert = {"first_at": T0, "last_at": T0, "replies": 5, "members": 2, "window_minutes": 30}
    await store.record_brigade_alert(
        GUILD_A, "partnership", "gamesmanship", first_message_id=mine.message_id, **alert
    )
    await store.record_brigade_alert(
        GUILD_A, "oil-claims", "overstated", first_message_id=theirs.message_id, **alert
    )
    await store.record_brigade_alert(
        GUILD_B, "partnership", "gamesmanship", first_message_id=elsewhere.message_id, **alert
    )

    await store.forget_member(GUILD_A, 42)

    async with db.conn.execute(
        "SELECT guild_id, question_id, first_message_id FROM brigading_alerts ORDER BY id"
    ) as cur:
        rows = await cur.fetchall()
    assert mine.message_id not in [r[2] for r in rows]
    assert [(r[0], r[1]) for r in rows] == [
        (GUILD_A, "partnership"),  # the alert stays (the moderators' record), without the id
        (GUILD_A, "oil-claims"),
        (GUILD_B, "partnership"),
    ]
    assert rows[1][2] == theirs.message_id and rows[2][2] == elsewhere.message_id


async def test_forget_member_and_retention_keep_the_whole_discussion_totals_right(db, make_reply):
    repo, store = Repository(db), ModerationStore(db)
    labels = ("partnership", "gamesmanship", "neutral", "off_topic")
    ever = [T0 - timedelta(days=3650), T0 + timedelta(days=3650)]
    for i, author in enumerate((42, 43, 42, 44, 43, 42)):
        await stored(
            repo, make_reply(f"reply {i}", author=author, minutes=i * 60 * 24), labels[i % 2]
        )

    async def both_ways() -> tuple[dict, dict]:
        fast = await repo.stance_tallies(
            GUILD_A, "partnership", ever, labels=labels, set_aside=("off_topic",)
        )
        scan = await repo.stance_tallies(
            GUILD_A, "partnership", ever, labels=labels, set_aside=("off_topic",), use_totals=False
        )
        return fast[0], scan[0]

    await store.forget_member(GUILD_A, 42)
    fast, scan = await both_ways()
    assert fast == scan
    await store.purge_replies(T0 + timedelta(days=2), guild_id=GUILD_A)
    fast, scan = await both_ways()
    assert fast == scan
