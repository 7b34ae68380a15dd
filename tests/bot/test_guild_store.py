"""GuildStore: per-guild schedules, durable job claims, a member's own replies; export bytes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from bot.config import load_settings
from bot.export import export_bytes
from bot.storage.guilds import GuildStore

from ..conftest import GUILD_A, GUILD_B

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.fixture
def settings(database_target):
    """Every test here runs on SQLite and on PostgreSQL."""
    return load_settings(database=database_target, batch_max_delay_ms=5)


async def test_schedule_is_per_guild(app):
    store = GuildStore(app.db)
    assert await store.summary_schedule(GUILD_A) is None
    await store.set_summary_schedule(GUILD_A, 55, 0, 9, scheduled_at=NOW)
    await store.set_summary_schedule(GUILD_A, 56, 4, 17, scheduled_at=NOW)
    got = await store.summary_schedule(GUILD_A)
    assert (got.channel_id, got.weekday, got.hour, got.scheduled_at) == (56, 4, 17, NOW)
    assert await store.summary_schedule(GUILD_B) is None


async def test_a_job_period_is_claimed_once_per_guild(app):
    store = GuildStore(app.db)
    assert await store.claim_job(GUILD_A, "weekly_summary", "2026-W02", ran_at=NOW, late=False)
    assert not await store.claim_job(GUILD_A, "weekly_summary", "2026-W02", ran_at=NOW, late=True)
    assert await store.claim_job(GUILD_B, "weekly_summary", "2026-W02", ran_at=NOW, late=True)
    assert await store.job_ran(GUILD_A, "weekly_summary", "2026-W02")
    await store.release_job(GUILD_A, "weekly_summary", "2026-W02")
    assert not await store.job_ran(GUILD_A, "weekly_summary", "2026-W02")
    assert [(r.period, r.late) for r in await store.job_runs(GUILD_B, "weekly_summary")] == [
        ("2026-W02", True)
    ]


async def test_member_replies_are_the_members_own_newest_first(app, make_reply):
    store = GuildStore(app.db)
    old = make_reply("This is a genuine partnership built on mutual respect.", author=7)
    new = make_reply("Pure theatre and backroom deals.", author=7, minutes=5)
    other = make_reply("Pure theatre.", author=8, minutes=6)
    elsewhere = make_reply("Pure theatre.", author=7, guild=GUILD_B, minutes=7)
    for r in (old, new, other, elsewhere):
        await app.service.ingest(r)
    await app.service.drain()
    await app.service.delete(GUILD_A, old.message_id)

    mine = await store.member_replies(GUILD_A, 7)
    assert [r.message_id for r in mine] == [new.message_id]
    assert mine[0].label == "gamesmanship" and mine[0].source == "model"


async def test_export_bytes_as_csv_and_jsonl():
    async def rows():
        yield {"message_id": 1, "author": "ann", "content": 'say "hi",\nthen go', "label": None}

    data, n = await export_bytes(rows(), "csv")
    parsed = list(csv.DictReader(io.StringIO(data.decode())))
    assert n == 1 and parsed[0]["content"] == 'say "hi",\nthen go' and parsed[0]["label"] == ""
    data, n = await export_bytes(rows(), "jsonl")
    assert json.loads(data)["content"] == 'say "hi",\nthen go'
