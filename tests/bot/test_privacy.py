"""A member's data: /privacy forget-me deletes it (and export shows none of it after), opt-out
stops the bot storing or exporting their replies, and retention deletes old replies, at once
and in the daily job."""

from __future__ import annotations

import json
import sqlite3

from bot.client import build_bot

from .conftest import GAMESMANSHIP, PARTNERSHIP, POSTURING, UNDECIDED, World
from .test_cases import ATTACK, SPAM, with_log_channel


async def exported(world: World) -> list[dict]:
    result = await world.mod.slash(world.news, "export", format="jsonl")
    data = await result.response.attachments[0].read()
    return [json.loads(line) for line in data.decode().splitlines()]


async def test_forget_me_deletes_a_members_replies_stances_and_case_content(world: World):
    log = await with_log_channel(world)
    thread = await world.start_discussion()
    await world.alice.send(thread, PARTNERSHIP)
    await world.alice.send(thread, ATTACK)  # held for review: a case with a post quoting it
    await world.bob.send(thread, GAMESMANSHIP)
    await world.classified()
    assert {r["author"] for r in await exported(world)} == {"alice", "bob"}

    forgot = await world.alice.slash(world.news, "privacy forget-me")

    text = forgot.followups[0].content if forgot.followups else forgot.response.content
    assert forgot.ephemeral
    assert "Deleted 2 replies and 2 stance readings" in text
    assert "1 moderation case no longer names you" in text
    assert [r["author"] for r in await exported(world)] == ["bob"]
    [post] = log.history()  # the review post of Alice's held reply, now without her text
    assert "deleted at the member's request" in post.content and not post.embeds
    assert not post.components
    store = world.bot.get_cog("Moderation").store
    case = await store.case(world.guild.id, 1)
    assert case.author_id is None and case.content is None and case.status == "closed"
    assert await store.posts_quoting_deleted_replies() == []  # done: the daily job leaves it
    mine = await world.alice.slash(world.news, "mystance")
    assert "no replies from you yet" in mine.response.content
    again = await world.alice.slash(world.news, "privacy forget-me")
    again_text = again.followups[0].content if again.followups else again.response.content
    assert "nothing to delete" in again_text


async def test_opting_out_stops_storing_and_exporting_a_members_replies(world: World):
    thread = await world.start_discussion()
    before = await world.alice.send(thread, PARTNERSHIP)
    await world.bob.send(thread, GAMESMANSHIP)

    out = await world.alice.slash(world.news, "privacy opt-out")
    assert out.ephemeral and "not stored" in out.response.content
    during = await world.alice.send(thread, POSTURING)

    repo = world.app.repo
    assert await repo.get_reply(world.guild.id, during.id) is None
    assert await repo.get_reply(world.guild.id, before.id) is not None  # kept, never exported
    assert [r["author"] for r in await exported(world)] == ["bob"]

    back = await world.alice.slash(world.news, "privacy opt-in")
    assert "read and counted again" in back.response.content
    after = await world.alice.send(thread, POSTURING)
    assert await repo.get_reply(world.guild.id, after.id) is not None
    assert [r["author"] for r in await exported(world)] == ["alice", "bob", "alice"]


async def test_retention_deletes_old_replies_now_and_in_the_daily_job(world: World):
    thread = await world.start_discussion()
    await world.alice.send(thread, PARTNERSHIP)
    await world.env.advance_time(3 * 86400)
    await world.bob.send(thread, GAMESMANSHIP)

    set_ = await world.mod.slash(world.news, "moderation settings retention", days=2)

    assert "1 older replies were deleted now" in set_.response.content
    assert [r["author"] for r in await exported(world)] == ["bob"]
    shown = await world.mod.slash(world.news, "moderation settings show")
    assert "Retention: 2 days" in shown.response.content

    # Two and a half days on, the daily job (03:00 UTC) deletes Bob's reply too.
    await world.env.advance_time(2.5 * 86400)
    assert await exported(world) == []

    off = await world.mod.slash(world.news, "moderation settings retention", days=0)
    assert "kept" in off.response.content


async def test_forget_me_takes_the_members_text_out_of_removal_log_posts_too(world: World):
    log = await with_log_channel(world)
    thread = await world.start_discussion()
    await world.bob.send(thread, SPAM)  # removed: the log post quotes it
    await world.alice.send(thread, SPAM + " Alice's copy.")
    assert ["FREE NITRO" in (m.embeds[0].description or "") for m in log.history()] == [
        True,
        True,
    ]

    await world.bob.slash(world.news, "privacy forget-me")

    bobs, alices = log.history()
    assert "deleted at the member's request" in bobs.content and not bobs.embeds
    assert "FREE NITRO" in alices.embeds[0].description  # another member's case is untouched


async def test_a_failed_retention_run_does_not_stop_the_daily_job(world: World, caplog):
    thread = await world.start_discussion()
    await world.mod.slash(world.news, "moderation settings retention", days=1)
    await world.alice.send(thread, PARTNERSHIP)
    store = world.bot.get_cog("Moderation").store
    purge = store.purge_replies
    locked = [True]

    async def maybe_locked(before, *, guild_id=None):
        if locked[0]:
            raise sqlite3.OperationalError("database is locked")
        return await purge(before, guild_id=guild_id)

    store.purge_replies = maybe_locked
    await world.env.advance_time(1.5 * 86400)  # the daily runs fail
    assert "retention failed" in caplog.text
    assert [r["author"] for r in await exported(world)] == ["alice"]

    locked[0] = False
    await world.env.advance_time(86400)  # the next one still runs
    assert await exported(world) == []


async def test_retention_takes_deleted_replies_text_out_of_log_posts_and_closes_their_cases(
    world: World,
):
    log = await with_log_channel(world)
    thread = await world.start_discussion()
    await world.alice.send(thread, ATTACK)  # held for review: the post quotes it, case open
    await world.bob.send(thread, SPAM)  # removed: the removal's log post quotes it too
    await world.classified()
    assert [bool(m.embeds and m.embeds[0].description) for m in log.history()] == [True, True]
    held = log.history()[0]
    assert held.components  # Approve / Remove

    await world.env.advance_time(3 * 86400)
    await world.mod.slash(world.news, "moderation settings retention", days=2)

    posts = log.history()
    for post in posts:
        text = post.content + " ".join(e.description or "" for e in post.embeds)
        assert "FREE NITRO" not in text and ATTACK[:20] not in text
        assert "no longer stored" in text  # the case stays, without the member's words
    assert not posts[0].components  # nothing left to decide
    store = world.bot.get_cog("Moderation").store
    case = await store.case(world.guild.id, 1)
    assert case.status == "closed" and case.resolution == "reply deleted by retention"
    assert case.review_message_id is None  # done: the next daily run leaves the post alone
    assert await store.posts_quoting_deleted_replies() == []


async def test_log_posts_of_replies_purged_offline_are_unquoted_by_the_next_daily_run(
    world: World,
):
    from datetime import timedelta

    from bot.core.models import utcnow

    log = await with_log_channel(world)
    thread = await world.start_discussion()
    await world.bob.send(thread, SPAM)
    store = world.bot.get_cog("Moderation").store
    # `stancebot db purge` runs without Discord: it can delete the reply, not edit the post.
    assert await store.purge_replies(utcnow() + timedelta(seconds=1)) == 1
    assert "FREE NITRO" in log.history()[0].embeds[0].description

    await world.env.advance_time(86400)  # the daily job
    assert "FREE NITRO" not in (log.history()[0].embeds[0].description or "")
    assert await store.posts_quoting_deleted_replies() == []


async def restart(world: World) -> None:
    """The bot goes down and comes back (a new process on the same database): at READY it
    reads each open discussion's thread from its latest stored reply on."""
    await world.env.shutdown()
    world.env.bot = build_bot(world.settings, app=world.app)
    await world.env.start()


async def test_forget_me_is_not_undone_by_a_restarts_backfill_or_a_replayed_event(world: World):
    thread = await world.start_discussion()
    await world.bob.send(thread, GAMESMANSHIP)
    mine = [await world.alice.send(thread, PARTNERSHIP), await world.alice.send(thread, UNDECIDED)]
    await world.classified()

    await world.alice.slash(world.news, "privacy forget-me")
    await restart(world)  # Alice's replies were the latest in the thread: the catch-up reads them
    await world.classified()

    for message in mine:
        assert await world.app.repo.get_reply(world.guild.id, message.id) is None
    assert [r["author"] for r in await exported(world)] == ["bob"]
    shown = await world.alice.slash(world.news, "mystance")
    assert "no replies from you yet" in shown.response.content
    # A late or replayed gateway event for an erased message stores nothing either.
    replayed = await world.bot.get_cog("Replies").collect(mine[0])
    assert replayed.outcome == "erased"
    # What she posts after asking to be forgotten is hers to share again.
    await world.env.advance_time(1)
    later = await world.alice.send(thread, POSTURING)
    assert await world.app.repo.get_reply(world.guild.id, later.id) is not None


async def test_retention_is_not_undone_by_a_restarts_backfill(world: World):
    thread = await world.start_discussion()
    old = await world.alice.send(thread, PARTNERSHIP)
    await world.env.advance_time(3 * 86400)
    await world.mod.slash(world.news, "moderation settings retention", days=2)
    assert await exported(world) == []

    await restart(world)

    assert await world.app.repo.get_reply(world.guild.id, old.id) is None
    assert await exported(world) == []
