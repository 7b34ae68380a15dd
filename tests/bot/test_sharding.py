"""Sharding: with STANCEBOT_SHARD_COUNT the bot runs as discord.py's AutoShardedBot, and every
shard's guilds get the whole pipeline; with STANCEBOT_SHARD_IDS a process runs only its share."""

from __future__ import annotations

import discord
import pytest

from bot.client import ShardedStanceBot, StanceBot, build_bot
from bot.config import ConfigError, load_settings

from .conftest import GAMESMANSHIP, PARTNERSHIP


@pytest.fixture
def shards() -> list[int] | None:
    return None  # all shards in this process


@pytest.fixture
def simcord_bot(bot_settings, bot_app, shards) -> StanceBot:
    bot_settings.shard_count = 2
    bot_settings.shard_ids = shards
    return build_bot(bot_settings, app=bot_app)


async def club(env, shard: int, name: str):
    guild = env.create_guild(name, shard_id=shard)
    news = guild.create_text_channel("news")
    mods = guild.create_role("Moderators", permissions=discord.Permissions(manage_messages=True))
    mod = guild.add_member(env.create_user(f"{name}-mod"), roles=[mods])
    member = guild.add_member(env.create_user(f"{name}-member"))
    env.bot.settings.guild_ids = [guild.id]
    await env.bot.sync_commands()  # as at start-up, for a guild made after it
    return guild, news, mod, member


async def test_each_shards_guilds_are_collected_and_kept_apart(simcord_env, bot_app):
    bot = simcord_env.bot
    assert isinstance(bot, ShardedStanceBot) and isinstance(bot, discord.AutoShardedClient)
    assert bot.shard_count == 2 and set(bot.shards) == {0, 1}

    stored = {}
    for shard, text in ((0, PARTNERSHIP), (1, GAMESMANSHIP)):
        guild, news, mod, member = await club(simcord_env, shard, f"club{shard}")
        assert bot.get_guild(guild.id).shard_id == shard
        result = await mod.slash(news, "discussion start", question="partnership")
        assert result.ephemeral and "Posted **partnership**" in result.response.content
        reply = await member.send(news.threads[-1], text)
        stored[shard] = (guild.id, reply.id)
    await bot_app.service.drain()

    for shard, label in ((0, "partnership"), (1, "gamesmanship")):
        guild_id, message_id = stored[shard]
        stance = await bot_app.repo.current_stance(guild_id, message_id)
        assert stance is not None and stance["label"] == label
        other_guild = stored[1 - shard][0]
        assert await bot_app.repo.get_reply(other_guild, message_id) is None


@pytest.mark.parametrize("shards", [[1]])
async def test_a_process_runs_only_its_share_of_the_shards(simcord_env, bot_app, shards):
    bot = simcord_env.bot
    assert bot.shard_ids == [1] and set(bot.shards) == {1}
    mine, news, mod, _ = await club(simcord_env, 1, "mine")
    await mod.slash(news, "discussion start", question="partnership")
    assert bot.get_guild(mine.id) is not None
    theirs = simcord_env.create_guild("theirs", shard_id=0)
    assert bot.get_guild(theirs.id) is None  # another process's shard serves it


def test_shard_settings_are_checked_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("STANCEBOT_SHARD_COUNT", "4")
    monkeypatch.setenv("STANCEBOT_SHARD_IDS", "[2, 3]")
    bot = build_bot(load_settings())
    assert isinstance(bot, discord.AutoShardedClient)
    assert (bot.shard_count, bot.shard_ids) == (4, [2, 3])
    monkeypatch.setenv("STANCEBOT_SHARD_IDS", "[4]")
    with pytest.raises(ConfigError, match=r"STANCEBOT_SHARD_IDS.*from 0 to 3"):
        load_settings()
    monkeypatch.delenv("STANCEBOT_SHARD_COUNT")
    monkeypatch.setenv("STANCEBOT_SHARD_IDS", "[0]")
    with pytest.raises(ConfigError, match="needs STANCEBOT_SHARD_COUNT"):
        load_settings()
    monkeypatch.delenv("STANCEBOT_SHARD_IDS")
    assert not isinstance(build_bot(load_settings()), discord.AutoShardedClient)
