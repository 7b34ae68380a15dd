"""Wire level: the real discord.py client, as `stancebot run` builds it, against a local fake of
Discord's REST API and gateway on 127.0.0.1 — login, IDENTIFY with the intended intents, READY,
the command sync, a message reaching the pipeline, an interaction answered; and the one-line
errors for a missing or rejected token."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading

import discord
import pytest

from bot.__main__ import main
from bot.client import bot_intents, build_bot
from bot.config import load_settings

from . import fake_discord as fake

TOKEN = "wire.TEST-token.do-not-log"
TIMEOUT = 15


@pytest.fixture
async def discord_fake():
    async for server in fake.serving(TOKEN):
        yield server


async def test_the_client_logs_in_syncs_collects_and_answers_over_the_wire(
    discord_fake, tmp_path, shared_classifier, library, caplog
):
    settings = load_settings(
        database=tmp_path / "wire.db", guild_ids=[fake.GUILD_ID, fake.NOT_JOINED]
    )
    await fake.open_question_thread(settings.database)  # a discussion the bot posted earlier
    bot = build_bot(settings, classifier=shared_classifier, library=library)
    bot._connection.guild_ready_timeout = 0.05
    caplog.set_level(logging.DEBUG)
    bot.freeze_after_setup = True  # as `stancebot run` does
    frozen_before = gc.get_freeze_count()
    running = asyncio.create_task(bot.start(TOKEN))
    try:
        identify = await asyncio.wait_for(discord_fake.identify, TIMEOUT)
        assert identify["op"] == 2
        assert identify["d"]["token"] == TOKEN
        intents = discord.Intents._from_value(identify["d"]["intents"])
        assert intents == bot_intents()
        assert intents.guilds and intents.guild_messages and intents.message_content
        assert not (intents.members or intents.presences or intents.dm_messages)

        path, commands = await asyncio.wait_for(discord_fake.synced, TIMEOUT)
        assert path == f"/applications/{fake.APP_ID}/guilds/{fake.GUILD_ID}/commands"
        by_name = {(c["name"], c.get("type", 1)): c for c in commands}
        assert set(by_name) == {
            ("article", 1),
            ("discussion", 1),
            ("stance", 1),
            ("summary", 1),
            ("export", 1),
            ("mystance", 1),
            ("moderation", 1),
            ("privacy", 1),
            ("Correct stance", 3),
        }
        manage_messages = discord.Permissions(manage_messages=True).value
        members = ("mystance", "privacy")
        for key in [k for k in by_name if k[0] not in members]:
            assert int(by_name[key]["default_member_permissions"]) == manage_messages, key
        for name in members:
            assert by_name[(name, 1)]["default_member_permissions"] is None
        subcommands = {o["name"] for o in by_name[("discussion", 1)]["options"]}
        assert subcommands == {"start", "new", "list", "close", "reopen"}

        await asyncio.wait_for(bot.wait_until_ready(), TIMEOUT)
        assert f"cannot sync slash commands to guild {fake.NOT_JOINED}" in caplog.text
        # What setup loaded (the model above all) is out of the garbage collector's walk.
        assert gc.get_freeze_count() - frozen_before > 100_000
        reply_id = fake.QUESTION_ID + 10
        await discord_fake.dispatch(
            "MESSAGE_CREATE",
            fake.message_create(reply_id, "Pure political gamesmanship and backroom deals."),
        )
        for _ in range(TIMEOUT * 20):
            if await bot.app.repo.get_reply(fake.GUILD_ID, reply_id):
                break
            await asyncio.sleep(0.05)
        await asyncio.wait_for(bot.app.service.drain(), TIMEOUT)
        stance = await bot.app.repo.current_stance(fake.GUILD_ID, reply_id)
        assert stance is not None and stance["label"] == "gamesmanship"

        await discord_fake.dispatch(
            "INTERACTION_CREATE",
            fake.slash_interaction(fake.APP_ID + 999, by_name[("mystance", 1)]),
        )
        answer = await asyncio.wait_for(discord_fake.answered, TIMEOUT)
        assert answer["type"] == 4  # a message in answer to the command
        assert answer["data"]["flags"] & 64  # only the member sees it
        assert "> Pure political gamesmanship" in answer["data"]["content"]
        assert "**gamesmanship**" in answer["data"]["content"]
        assert answer["data"]["allowed_mentions"] == {"parse": []}
    finally:
        await bot.close()
        await asyncio.wait_for(running, TIMEOUT)
    assert gc.get_freeze_count() == 0  # closed: collectable again (other tests freeze nothing)
    called = {(method, path) for method, path, _ in discord_fake.requests}
    assert ("GET", "/users/@me") in called
    assert ("GET", f"/channels/{fake.THREAD_ID}/messages") in called  # the backfill on READY
    assert TOKEN not in caplog.text


def test_stancebot_run_without_a_token_is_one_clear_line(monkeypatch, capsys):
    code = main(["run"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "stancebot: error: STANCEBOT_TOKEN is not set: put your bot token in .env or the "
        "environment\n"
    )


def test_stancebot_run_with_a_rejected_token_is_one_clear_line(monkeypatch, capsys, tmp_path):
    # `stancebot run` owns its event loop, so the fake Discord runs on a loop in a thread.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(
        fake.FakeDiscord("the-real-token").start(), loop
    ).result(TIMEOUT)
    try:
        monkeypatch.setattr(discord.http.Route, "BASE", server.api)
        monkeypatch.setenv("STANCEBOT_TOKEN", TOKEN)
        monkeypatch.setenv("STANCEBOT_DATABASE", str(tmp_path / "bot.db"))
        code = main(["run"])
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("stancebot: error:")]
    assert code == 2
    assert lines == [
        "stancebot: error: Discord rejected STANCEBOT_TOKEN (401 Unauthorized): copy the token "
        "again from the Developer Portal (your application → Bot → Reset Token) into .env"
    ]
    assert TOKEN not in err
    assert server.requests[0][:2] == ("GET", "/users/@me")


def test_stancebot_run_without_a_network_is_one_clear_line(monkeypatch, capsys, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nothing listens on: the connection is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    monkeypatch.setenv("STANCEBOT_TOKEN", TOKEN)
    monkeypatch.setenv("STANCEBOT_DATABASE", str(tmp_path / "bot.db"))

    code = main(["run"])

    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("stancebot: error:")]
    assert code == 2 and "Traceback" not in err and TOKEN not in err
    assert len(lines) == 1 and lines[0].startswith("stancebot: error: cannot reach Discord (")
    assert "check this machine's network connection" in lines[0]
