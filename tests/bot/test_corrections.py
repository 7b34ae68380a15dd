"""A moderator's correction wins over the model and changes what the report says."""

from __future__ import annotations

import pytest
import simcord

from .conftest import GAMESMANSHIP, PARTNERSHIP, World, members_by_label


async def report(world: World) -> dict[str, int]:
    await world.env.advance_time(60)
    result = await world.mod.slash(world.news, "stance report", question="partnership")
    return members_by_label(result.response.embeds[0])


async def test_correct_stance_from_the_message_menu_changes_the_tally(world: World):
    thread = await world.start_discussion()
    reply = await world.alice.send(thread, PARTNERSHIP)
    await world.bob.send(thread, GAMESMANSHIP)
    await world.classified()
    assert (await report(world))["partnership"] == 1

    shown = await world.mod.context_menu(thread, "Correct stance", reply)
    assert shown.ephemeral
    assert "Now: **partnership**" in shown.response.content
    assert PARTNERSHIP[:40] in shown.response.content  # the reply is quoted for context

    chosen = await world.mod.select(shown.response, ["gamesmanship"])
    assert "Stance set to **gamesmanship**" in chosen.response.content

    after = await report(world)
    assert after["partnership"] == 0
    assert after["gamesmanship"] == 2
    stance = await world.app.repo.current_stance(world.guild.id, reply.id)
    assert stance["source"] == "moderator"


async def test_correct_stance_by_message_id(world: World):
    thread = await world.start_discussion()
    reply = await world.alice.send(thread, GAMESMANSHIP)
    await world.classified()

    done = await world.mod.slash(
        world.news, "stance correct", message_id=str(reply.id), label="neutral"
    )
    assert "set to **neutral** (was gamesmanship)" in done.response.content
    assert (await report(world))["neutral"] == 1

    wrong = await world.mod.slash(
        world.news, "stance correct", message_id=str(reply.id), label="maybe"
    )
    assert "'maybe' is not a label of 'partnership'" in wrong.response.content
    not_a_reply = await world.mod.slash(
        world.news, "stance correct", message_id="12345", label="neutral"
    )
    assert "not a reply the bot collected" in not_a_reply.response.content
    assert len(world.refusals()) == 2


async def test_correct_stance_menu_on_a_message_that_is_not_a_reply(world: World):
    chatter = await world.alice.send(world.news, "Anyone up for lunch?")
    shown = await world.mod.context_menu(world.news, "Correct stance", chatter)
    assert shown.ephemeral
    assert "not a reply the bot collected" in shown.response.content
    assert len(world.refusals()) == 1


async def test_members_cannot_use_the_correct_stance_menu(world: World):
    thread = await world.start_discussion()
    reply = await world.alice.send(thread, PARTNERSHIP)
    with pytest.raises(simcord.SetupError, match="not visible"):
        await world.bob.context_menu(thread, "Correct stance", reply)


async def test_an_unanswered_correct_stance_menu_expires(world: World):
    thread = await world.start_discussion()
    reply = await world.alice.send(thread, PARTNERSHIP)
    shown = await world.mod.context_menu(thread, "Correct stance", reply)
    assert shown.response.components  # the select menu

    await world.env.advance_time(301)

    assert "No stance chosen" in shown.response.content
    assert not shown.response.components


async def test_a_correction_on_a_deleted_reply_is_refused_not_answered_stance_set(world: World):
    thread = await world.start_discussion()
    reply = await world.alice.send(thread, GAMESMANSHIP)
    await world.classified()
    await world.alice.delete(reply)

    done = await world.mod.slash(
        world.news, "stance correct", message_id=str(reply.id), label="neutral"
    )

    assert "Stance" not in done.response.content and "set to" not in done.response.content
    assert "was deleted by its author" in done.response.content
    assert world.refusals() == [done.response.content]
