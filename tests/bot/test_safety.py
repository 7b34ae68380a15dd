"""Quoted member text pings no one; long text is cut to Discord's limits; errors get one short
answer while the details go to the log."""

from __future__ import annotations

import logging

from .conftest import PARTNERSHIP, World

EVERYONE = "@everyone wake up, this is just political theatre and backroom deals <@&{role}>"


async def test_a_quoted_everyone_pings_nobody(world: World):
    pingable = world.guild.create_role("Pingable", mentionable=True)
    thread = await world.start_discussion()
    text = EVERYONE.format(role=pingable.id)
    reply = await world.alice.send(thread, text)
    await world.classified()
    # The bot itself may mention everyone here, so only allowed_mentions keeps it quiet.
    assert world.guild.me.guild_permissions.mention_everyone

    quoted = []
    menu = await world.mod.context_menu(thread, "Correct stance", reply)
    quoted.append(menu.response.message)
    chosen = await world.mod.select(menu.response, ["gamesmanship"])
    quoted.append(chosen.response.message)
    corrected = await world.mod.slash(
        world.news, "stance correct", message_id=str(reply.id), label="gamesmanship"
    )
    quoted.append(corrected.response.message)
    mine = await world.alice.slash(world.news, "mystance")
    quoted.append(mine.response.message)

    for message in quoted:
        assert "@everyone wake up" in message.content
        assert not message.mention_everyone
    # ... and the role mention in the quote was sent with mentions switched off, too.
    quoting = [
        r.json
        for r in world.env.http_requests
        if isinstance(r.json, dict) and "@everyone wake up" in str(r.json)
    ]
    assert len(quoting) == len(quoted)
    for body in quoting:
        body = body.get("data", body)  # an interaction callback wraps the message in "data"
        assert body["allowed_mentions"]["parse"] == []
        assert not body["allowed_mentions"].get("roles")


async def test_long_replies_are_quoted_within_discords_limits(world: World):
    thread = await world.start_discussion()
    long_reply = (PARTNERSHIP + " ") * 21  # ~1,900 characters each
    for _ in range(5):
        await world.alice.send(thread, long_reply)
    await world.classified()

    mine = await world.alice.slash(world.news, "mystance")

    content = mine.response.content
    assert len(content) <= 2000
    assert content.count("> This is a genuine partnership") == 5
    assert "…" in content


async def test_an_unexpected_error_gets_a_short_answer_and_the_details_are_logged(
    world: World, caplog
):
    world.env.inject_error("POST", "/channels/*/messages", status=500)
    with caplog.at_level(logging.ERROR, logger="bot.cogs.utils.messages"):
        result = await world.mod.slash(world.news, "discussion start", question="partnership")

    assert result.ephemeral
    assert result.response.content.startswith("Something went wrong on my side")
    assert "500" not in result.response.content  # no traceback or HTTP detail for the user
    assert "discussion start failed" in caplog.text and "500" in caplog.text
    assert await world.app.repo.list_discussions(world.guild.id) == []
    assert len(world.env.errors) == 1  # the bot saw the error (and answered it)


async def test_a_refusal_names_the_fix(world: World):
    result = await world.mod.slash(world.news, "discussion start", question="climate")
    assert "unknown question id 'climate': choose one of oil-claims, partnership" in (
        result.response.content
    )
    assert world.refusals()


async def test_a_question_whose_thread_cannot_be_opened_is_taken_back(world: World):
    world.env.inject_error("POST", "/channels/*/messages/*/threads", status=403, code=50013)

    result = await world.mod.slash(world.news, "discussion start", question="partnership")

    assert "refused me a permission" in result.response.content
    assert world.bot_messages(world.news) == []  # the question was deleted again
    assert await world.app.repo.list_discussions(world.guild.id) == []
    assert world.refusals()
