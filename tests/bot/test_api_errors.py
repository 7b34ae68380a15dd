"""Discord API errors (403, 404, 5xx) in SimCord: the bot logs them, tells the moderator where
it matters, and keeps collecting replies. (SimCord raises injected errors past discord.py's
HTTP client; its retries of 429 and 5xx are tested over the wire in test_wire.py.)"""

from __future__ import annotations

import logging

import pytest

from .conftest import GAMESMANSHIP, World

FORBIDDEN = {"status": 403, "code": 50013, "message": "Missing Permissions"}


async def still_collecting(world: World, thread, text: str = GAMESMANSHIP) -> None:
    """A member's next reply is stored and classified: the bot kept running."""
    reply = await world.bob.send(thread, text)
    await world.classified()
    stance = await world.app.repo.current_stance(world.guild.id, reply.id)
    assert stance is not None


async def test_403_posting_a_question_tells_the_moderator_and_is_logged(world: World, caplog):
    thread = await world.start_discussion()
    world.env.inject_error("POST", f"/channels/{world.news.id}/messages", **FORBIDDEN)

    result = await world.mod.slash(world.news, "discussion start", question="oil-claims")

    assert result.ephemeral
    assert "Discord refused me a permission" in result.response.content
    assert world.refusals() == [result.response.content]
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    await still_collecting(world, thread)


async def test_404_reading_a_deleted_channel_during_backfill_is_logged_and_skipped(
    world: World, caplog
):
    thread = await world.start_discussion()
    world.env.inject_error("GET", f"/channels/{thread.id}/messages", status=404, code=10003)

    assert await world.bot.get_cog("Replies").backfill() == 0
    assert f"channel {thread.id} of an open discussion" in caplog.text and "is gone" in caplog.text
    await still_collecting(world, thread)


async def test_403_reading_history_names_the_permission_to_grant(world: World, caplog):
    thread = await world.start_discussion()
    world.env.inject_error("GET", f"/channels/{thread.id}/messages", **FORBIDDEN)

    assert await world.bot.get_cog("Replies").backfill() == 0
    assert "grant View Channel and Read Message History" in caplog.text
    await still_collecting(world, thread)


async def test_discord_down_for_a_command_gets_a_short_answer_and_the_bot_carries_on(
    world: World, caplog
):
    thread = await world.start_discussion()
    path = f"/channels/{world.news.id}/messages"
    world.env.inject_error("POST", path, status=503, message="Service Unavailable", times=None)

    result = await world.mod.slash(world.news, "discussion start", question="oil-claims")

    assert result.ephemeral
    assert result.response.content == (
        "Something went wrong on my side; it is logged. Please try again in a moment."
    )
    assert "discussion start failed" in caplog.text and "503" in caplog.text
    with pytest.raises(ExceptionGroup) as raised:  # what the central handler logged
        world.env.raise_errors()
    assert "503" in str(raised.value.exceptions[0])
    await still_collecting(world, thread)
