"""The weekly summary: posted on (virtual) time, once; never doubled by a restart; a week missed
while the bot was offline is posted late and says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import discord

from bot.app import App
from bot.client import build_bot
from bot.core.schedule import WEEKLY_SUMMARY_JOB
from bot.storage.guilds import GuildStore

from .conftest import GAMESMANSHIP, PARTNERSHIP, World, members_by_label

MONDAY_9 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # SimCord's clock starts Thu 1 Jan 2026


def summaries_posted(world: World) -> list[discord.Message]:
    return [m for m in world.bot_messages(world.summaries) if "summary" in m.content.lower()]


async def advance_to(world: World, when: datetime) -> None:
    await world.env.advance_time((when - world.env.now()).total_seconds())


async def test_weekly_summary_fires_once_on_time_and_not_again_after_a_restart(
    world: World, bot_settings, shared_classifier, library
):
    scheduled = await world.mod.slash(
        world.news, "summary schedule", channel=world.summaries, weekday=0, hour=9
    )
    assert "every Monday at 09:00 UTC" in scheduled.response.content
    assert "Next: Mon 05 Jan 2026 09:00 UTC" in scheduled.response.content
    thread = await world.start_discussion()
    await world.alice.send(thread, PARTNERSHIP)
    await world.bob.send(thread, GAMESMANSHIP)
    await world.classified()

    await advance_to(world, MONDAY_9 - timedelta(minutes=1))
    assert summaries_posted(world) == []

    await advance_to(world, MONDAY_9 + timedelta(hours=3))
    posted = summaries_posted(world)
    assert len(posted) == 1
    assert posted[0].content.startswith("**Weekly summary")
    assert "Posted late" not in posted[0].content
    assert posted[0].created_at == MONDAY_9  # at the hour, not an hour late
    assert {a.filename for a in posted[0].attachments} >= {"partnership-shares.png"}
    embed = posted[0].embeds[0]
    assert "genuine partnership" in embed.title
    assert members_by_label(embed) == {"partnership": 1, "gamesmanship": 1, "neutral": 0}

    # The bot restarts (new process, same database): the week is not posted again.
    app2 = await App.open(bot_settings, classifier=shared_classifier, library=library)
    try:
        await world.env.restart_bot(build_bot(bot_settings, app=app2))
        await world.env.advance_time(2 * 3600)
        assert len(summaries_posted(world)) == 1
    finally:
        await world.env.shutdown()
        await app2.close()
    runs = await GuildStore(world.app.db).job_runs(world.guild.id, WEEKLY_SUMMARY_JOB)
    assert [(r.period, r.late) for r in runs] == [("2026-W02", False)]


async def test_a_week_missed_while_offline_is_posted_late_and_marked(
    world: World, bot_settings, shared_classifier, library
):
    # The bot was set up in mid-December and posted its weekly summaries, then it was offline
    # over Monday 29 December (ISO week 2026-W01). It comes back on Thursday 1 January.
    store = GuildStore(world.app.db)
    set_up = datetime(2025, 12, 10, 12, 0, tzinfo=UTC)
    await store.set_summary_schedule(world.guild.id, world.summaries.id, 0, 9, scheduled_at=set_up)
    for period, day in (("2025-W51", 15), ("2025-W52", 22)):
        ran = datetime(2025, 12, day, 9, 0, tzinfo=UTC)
        await store.claim_job(world.guild.id, WEEKLY_SUMMARY_JOB, period, ran_at=ran, late=False)

    app2 = await App.open(bot_settings, classifier=shared_classifier, library=library)
    try:
        await world.env.restart_bot(build_bot(bot_settings, app=app2))
        posted = summaries_posted(world)
        assert len(posted) == 1
        assert (
            "Posted late: the bot was offline when this summary was due (Mon 29 Dec 09:00 UTC)"
            in (posted[0].content)
        )
        assert "Mon 22 Dec 09:00 – Mon 29 Dec 2025 09:00 UTC" in posted[0].content

        # The next Monday's summary comes on time, and only once.
        await advance_to(world, MONDAY_9 + timedelta(hours=2))
        posted = summaries_posted(world)
        assert len(posted) == 2
        assert "Posted late" not in posted[1].content
    finally:
        await world.env.shutdown()
        await app2.close()
    runs = await store.job_runs(world.guild.id, WEEKLY_SUMMARY_JOB)
    assert [(r.period, r.late) for r in runs] == [
        ("2026-W02", False),
        ("2026-W01", True),
        ("2025-W52", False),
        ("2025-W51", False),
    ]


async def test_a_schedule_set_after_this_weeks_time_waits_for_next_week(world: World):
    # Thursday: a Monday 09:00 schedule set now does not post last Monday's week late.
    await world.mod.slash(world.news, "summary schedule", channel=world.summaries, weekday=0)
    await world.env.advance_time(3 * 3600)
    assert summaries_posted(world) == []


async def test_summary_now_posts_the_same_summary_in_the_channel(world: World):
    thread = await world.start_discussion()
    await world.alice.send(thread, PARTNERSHIP)
    await world.classified()
    await world.env.advance_time(60)

    result = await world.mod.slash(world.news, "summary now")

    assert not result.ephemeral
    assert result.response.content.startswith("**Summary · ")
    titles = [e.title for e in result.response.embeds]
    assert any("genuine partnership" in t for t in titles)
    assert any("Russian oil" in t for t in titles)


async def test_summary_now_quotes_member_markdown_as_text_never_as_a_live_link(world: World):
    thread = await world.start_discussion()
    await world.alice.send(
        thread,
        "Genuine **partnership** built on respect: [Read it](https://evil.example/x) __here__",
    )
    await world.classified()
    await world.env.advance_time(60)

    result = await world.mod.slash(world.news, "summary now")

    [embed] = [e for e in result.response.embeds if "genuine partnership" in e.title]
    [words] = [f.value for f in embed.fields if f.name == "In their words"]
    assert "[Read it](https://evil.example/x)" not in words  # not a masked link any more
    assert "\\[Read it\\]" in words and "\\*\\*partnership\\*\\*" in words
    assert "\\_\\_here\\_\\_" in words
