"""Faults over the wire, with the real discord.py client against the fake Discord: a dropped
gateway connection is resumed and replayed events store nothing twice; a 429 and a 502 from
the REST API are retried by discord.py and the bot carries on."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.client import build_bot
from bot.config import load_settings

from . import fake_discord as fake

TOKEN = "wire.FAULT-token.do-not-log"
TIMEOUT = 20
HISTORY = ("GET", f"/channels/{fake.THREAD_ID}/messages")


@pytest.fixture
async def server():
    async for discord_fake in fake.serving(TOKEN):
        yield discord_fake


@pytest.fixture
async def running_bot(server, tmp_path, shared_classifier, library):
    settings = load_settings(database=tmp_path / "wire.db", batch_max_delay_ms=5)
    await fake.open_question_thread(settings.database)
    bot = build_bot(settings, classifier=shared_classifier, library=library)
    bot._connection.guild_ready_timeout = 0.05

    async def start():
        task = asyncio.create_task(bot.start(TOKEN))
        await asyncio.wait_for(bot.wait_until_ready(), TIMEOUT)
        return task

    bot.start_and_wait = start  # type: ignore[attr-defined]
    yield bot
    await bot.close()


async def eventually(check) -> None:
    for _ in range(TIMEOUT * 20):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{check.__name__}: not within {TIMEOUT} s")


async def stored_ids(bot) -> list[int]:
    async with bot.app.db.conn.execute("SELECT message_id FROM replies ORDER BY 1") as cur:
        return [r[0] for r in await cur.fetchall()]


async def test_a_dropped_gateway_is_resumed_and_replayed_events_store_nothing_twice(
    server, running_bot
):
    running = await running_bot.start_and_wait()
    first = fake.message_create(fake.QUESTION_ID + 1, "Pure political gamesmanship.")
    await server.dispatch("MESSAGE_CREATE", first)

    async def first_stored():
        return await stored_ids(running_bot) == [fake.QUESTION_ID + 1]

    await eventually(first_stored)

    # Discord drops the connection; on RESUME it sends again what the bot may have missed,
    # including the event the bot already handled, and then something new.
    second = fake.message_create(fake.QUESTION_ID + 2, "A genuine partnership of equals.")
    server.replay = [("MESSAGE_CREATE", first), ("MESSAGE_CREATE", second)]
    await server.drop_connection()

    async def both_stored():
        return await stored_ids(running_bot) == [fake.QUESTION_ID + 1, fake.QUESTION_ID + 2]

    await eventually(both_stored)
    assert len(server.resumes) == 1 and server.resumes[0]["session_id"] == "wire-session"
    assert server.resumes[0]["token"] == TOKEN
    await asyncio.wait_for(running_bot.app.service.drain(), TIMEOUT)
    async with running_bot.app.db.conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM stances WHERE is_current"
    ) as cur:
        assert tuple(await cur.fetchone()) == (2, 2)

    # And it keeps collecting on the resumed connection.
    await server.dispatch("MESSAGE_CREATE", fake.message_create(fake.QUESTION_ID + 3, "Hmm."))

    async def third_stored():
        return len(await stored_ids(running_bot)) == 3

    await eventually(third_stored)
    await running_bot.close()
    await asyncio.wait_for(running, TIMEOUT)


async def test_rate_limit_and_bad_gateway_are_retried_and_the_bot_carries_on(
    server, running_bot, caplog
):
    caplog.set_level(logging.WARNING)
    server.faults[HISTORY] = [429, 502]  # the backfill's read of the thread, at READY
    running = await running_bot.start_and_wait()

    async def history_read_three_times():
        return sum(1 for m, p, _ in server.requests if (m, p) == HISTORY) >= 3

    await eventually(history_read_three_times)
    assert "We are being rate limited" in caplog.text
    assert "cannot read channel" not in caplog.text  # the backfill went through in the end

    await server.dispatch("MESSAGE_CREATE", fake.message_create(fake.QUESTION_ID + 9, "Theatre."))

    async def stored():
        return await stored_ids(running_bot) == [fake.QUESTION_ID + 9]

    await eventually(stored)
    assert TOKEN not in caplog.text
    await running_bot.close()
    await asyncio.wait_for(running, TIMEOUT)
