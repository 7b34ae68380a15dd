"""Collecting replies: thread messages and replies to the question count; edits re-read, deletes
leave the tally, bots and other channels are ignored; removed spam is deleted; and replies
posted while the bot was offline are read back from history when it returns."""

from __future__ import annotations

import discord

from bot.client import build_bot

from .conftest import GAMESMANSHIP, PARTNERSHIP, POSTURING, UNDECIDED, World, members_by_label


async def tally(world: World) -> dict[str, int]:
    await world.classified()
    await world.env.advance_time(60)
    result = await world.mod.slash(world.news, "stance report", question="partnership")
    return members_by_label(result.response.embeds[0])


async def stored_ids(world: World) -> list[int]:
    return [row["message_id"] async for row in world.app.repo.export_rows(world.guild.id)]


async def test_only_member_replies_in_open_discussions_are_collected(world: World):
    thread = await world.start_discussion()
    question = world.question_message()
    counted = [
        await world.alice.send(thread, PARTNERSHIP),
        await world.bob.send(world.news, GAMESMANSHIP, reply_to=question),
    ]
    await world.carol.send(world.news, POSTURING)  # in the channel, not a reply: chatter
    newsfeed = world.guild.add_member(world.env.create_user("newsfeed", bot=True))
    await newsfeed.send(thread, GAMESMANSHIP)  # another bot
    other = world.guild.create_text_channel("random")
    await world.dave.send(other, UNDECIDED)

    assert await stored_ids(world) == [m.id for m in counted]

    await world.mod.slash(world.news, "discussion close")  # not in a thread: needs a number
    closed = await world.mod.slash(world.news, "discussion close", discussion=1)
    assert "Closed discussion #1" in closed.response.content
    assert "closed" in thread.history()[-1].content
    await world.carol.send(thread, POSTURING)
    assert len(await stored_ids(world)) == 2

    reopened = await world.mod.slash(world.news, "discussion reopen", discussion=1)
    assert "Reopened discussion #1" in reopened.response.content
    await world.carol.send(thread, POSTURING)
    assert len(await stored_ids(world)) == 3
    assert world.refusals() == [
        "Name the discussion (see /discussion list) or run this in its thread."
    ]


async def test_an_edit_is_read_again_and_a_delete_leaves_the_tally(world: World):
    thread = await world.start_discussion()
    reply = await world.alice.send(thread, PARTNERSHIP)
    await world.bob.send(thread, PARTNERSHIP)
    assert (await tally(world))["partnership"] == 2

    await world.alice.edit(reply, GAMESMANSHIP)
    after_edit = await tally(world)
    assert (after_edit["partnership"], after_edit["gamesmanship"]) == (1, 1)

    await world.alice.delete(reply)
    after_delete = await tally(world)
    assert (after_delete["partnership"], after_delete["gamesmanship"]) == (1, 0)


async def test_spam_is_stored_then_deleted_and_counted_as_removed(world: World):
    thread = await world.start_discussion()
    await world.alice.send(thread, PARTNERSHIP)
    spam = await world.bob.send(thread, "@everyone @here FREE NITRO giveaway, claim your prize!")

    assert spam.id not in [m.id for m in thread.history()]  # deleted by the bot
    await world.classified()
    await world.env.advance_time(60)
    result = await world.mod.slash(world.news, "stance report", question="partnership")
    assert "1 removed by moderation" in result.response.embeds[0].description
    assert members_by_label(result.response.embeds[0])["gamesmanship"] == 0


async def test_replies_posted_while_the_bot_was_offline_are_backfilled(world: World):
    thread = await world.start_discussion()
    question = world.question_message()
    seen_live = await world.alice.send(thread, PARTNERSHIP)

    # The bot goes down; the discussion goes on without it.
    await world.env.shutdown()
    missed = [
        await world.bob.send(thread, GAMESMANSHIP),
        await world.carol.send(world.news, POSTURING, reply_to=question),
        await world.dave.send(thread, UNDECIDED),
    ]
    await world.carol.send(world.news, "lunch anyone?")  # channel chatter stays out
    assert await stored_ids(world) == [seen_live.id]

    # It comes back (a new process on the same database) and reads what it missed.
    world.env.bot = build_bot(world.settings, app=world.app)
    await world.env.start()

    assert await stored_ids(world) == sorted([seen_live.id, *(m.id for m in missed)])
    assert await tally(world) == {"partnership": 1, "gamesmanship": 2, "neutral": 1}

    # A second reconnect finds nothing new and stores nothing twice.
    assert await world.bot.get_cog("Replies").backfill() == 0


async def test_without_manage_messages_spam_stays_up_and_the_bot_carries_on(world: World, caplog):
    me = world.guild.me
    quiet = world.guild.create_text_channel(
        "quiet", overwrites={me: discord.PermissionOverwrite(manage_messages=False)}
    )
    await world.mod.slash(world.news, "discussion start", question="partnership", channel=quiet)
    thread = quiet.threads[-1]

    spam = await world.bob.send(thread, "@everyone @here FREE NITRO giveaway, claim your prize!")
    reply = await world.alice.send(thread, PARTNERSHIP)

    assert spam.id in [m.id for m in thread.history()]  # could not be deleted
    assert "could not delete reply" in caplog.text and "Manage Messages" in caplog.text
    stored = await world.app.repo.get_reply(world.guild.id, spam.id)
    assert stored.moderation == "remove"  # still left out of the shares
    assert await world.app.repo.get_reply(world.guild.id, reply.id) is not None
