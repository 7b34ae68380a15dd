"""The trigger-kept whole-discussion totals (migration 0005) always equal a full scan."""

import random
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.models import Action, Prediction, Verdict
from bot.core.records import PendingItem
from bot.storage.db import Database, migrations, open_database
from bot.storage.repository import Repository

from .conftest import GUILD_A, GUILD_B, T0

LABELS = ("partnership", "gamesmanship", "neutral", "off_topic")
ASIDE = ("off_topic",)  # what both shipped questions set apart
EVER = [datetime(2015, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)]


async def both_ways(repo: Repository, guild: int, question: str) -> tuple[dict, dict]:
    fast = await repo.stance_tallies(guild, question, EVER, labels=LABELS, set_aside=ASIDE)
    scan = await repo.stance_tallies(
        guild, question, EVER, labels=LABELS, set_aside=ASIDE, use_totals=False
    )
    return fast[0], scan[0]


async def apply_random_operations(repo: Repository, rng: random.Random, make_reply, steps: int):
    """Everything that can change a reply's visibility or stance, in a random order."""
    live: list = []
    for step in range(steps):
        op = rng.random()
        if op < 0.35 or not live:
            r = make_reply(
                f"reply {step}",
                author=rng.randrange(12),
                guild=rng.choice((GUILD_A, GUILD_A, GUILD_B)),
                question=rng.choice(("partnership", "partnership", "oil-claims")),
                minutes=step,
            )
            await repo.insert_reply(r, classify=True)
            live.append(r)
            continue
        r = rng.choice(live)
        if op < 0.6:
            label = rng.choice(LABELS)
            conf = rng.choice((0.3, 0.9))
            version = (await repo.get_reply(r.guild_id, r.message_id)).content_version
            item = PendingItem(r.guild_id, r.message_id, r.question_id, "t", version)
            await repo.write_model_stances(
                [(item, Prediction(label, conf, {label: conf}, "m", low_confidence=conf < 0.45))]
            )
        elif op < 0.7:
            await repo.correct_stance(r.guild_id, r.message_id, rng.choice(LABELS), 7)
        elif op < 0.78:
            await repo.update_content(
                r.guild_id,
                r.message_id,
                f"edited {step}",
                rng.choice((0, 1)),
                T0 + timedelta(minutes=step),
                classify=rng.random() < 0.7,
            )
        elif op < 0.86:
            await repo.record_verdict(
                r.guild_id,
                r.message_id,
                r.author_id,
                Verdict(rng.choice((Action.REMOVE, Action.ALLOW, Action.REVIEW))),
            )
        elif op < 0.94:
            await repo.mark_deleted(r.guild_id, r.message_id, T0 + timedelta(minutes=step))
        else:  # a member's data erased for good (privacy deletion, retention)
            async with repo.db.transaction() as conn:
                await conn.execute("DELETE FROM replies WHERE message_id = ?", (r.message_id,))
            live.remove(r)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_totals_equal_a_full_scan_after_any_sequence_of_changes(
    database_target, make_reply, seed
):
    rng = random.Random(seed)
    async with open_database(database_target) as db:
        repo = Repository(db)
        for _ in range(4):
            await apply_random_operations(repo, rng, make_reply, 60)
            for guild in (GUILD_A, GUILD_B):
                for question in ("partnership", "oil-claims"):
                    fast, scan = await both_ways(repo, guild, question)
                    assert fast == scan
        fast, _ = await both_ways(repo, GUILD_A, "partnership")
        assert fast["total_messages"] > 0 and fast["people"]  # the test exercised real data


async def test_a_period_ending_before_the_last_reply_is_scanned_not_read_from_totals(
    database_target, make_reply
):
    async with open_database(database_target) as db:
        repo = Repository(db)
        early, late = make_reply("early", author=1), make_reply("late", author=1, minutes=60)
        for r, label in ((early, "partnership"), (late, "gamesmanship")):
            await repo.insert_reply(r, classify=True)
            item = PendingItem(r.guild_id, r.message_id, r.question_id, r.content, 0)
            await repo.write_model_stances([(item, Prediction(label, 0.9, {}, "m"))])
        until_early = [EVER[0], T0 + timedelta(minutes=30)]
        (t,) = await repo.stance_tallies(
            GUILD_A, "partnership", until_early, labels=LABELS, set_aside=ASIDE
        )
        assert t["people"] == {"partnership": 1} and t["total_messages"] == 1
        fast, scan = await both_ways(repo, GUILD_A, "partnership")
        assert fast == scan and fast["people"] == {"gamesmanship": 1}


async def test_migration_5_builds_the_totals_of_an_older_database(tmp_path, make_reply):
    path = tmp_path / "v4.db"
    older = [m for m in migrations() if m[0] < 5]
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    for version, name, sql in older:
        con.executescript(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, 'x')", (version, name))
    rows = [
        # (author, label, low confidence, moderation)
        (1, "partnership", 0, "allow"),
        (1, "gamesmanship", 0, "allow"),  # author 1's latest: gamesmanship
        (2, "neutral", 1, "allow"),  # low confidence: message counted, no stance
        (3, "partnership", 0, "remove"),  # removed: not counted
        (4, "off_topic", 0, "allow"),  # set aside: a participant without a stance
    ]
    for i, (author, label, low, moderation) in enumerate(rows):
        mid = 1_400_000_000_000_000_000 + i
        con.execute(
            "INSERT INTO replies (message_id, guild_id, channel_id, question_id, author_id,"
            " content, created_at, moderation) VALUES (?, ?, 1, 'partnership', ?, 'x', ?, ?)",
            (mid, GUILD_A, author, f"2025-01-0{i + 1}T00:00:00", moderation),
        )
        con.execute(
            "INSERT INTO stances (message_id, guild_id, question_id, label, confidence,"
            " low_confidence, scores, model_version, source, created_at)"
            " VALUES (?, ?, 'partnership', ?, 0.9, ?, '{}', 'm', 'model', 'x')",
            (mid, GUILD_A, label, low),
        )
    con.commit()
    con.close()
    async with Database(path) as db:
        repo = Repository(db)
        fast, scan = await both_ways(repo, GUILD_A, "partnership")
        assert fast == scan
        assert fast["people"] == {"gamesmanship": 1}
        assert fast["participants"] == 3 and fast["removed_messages"] == 1
        assert fast["low_confidence_messages"] == 1 and fast["messages"]["off_topic"] == 1
