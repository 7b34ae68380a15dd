"""SimCord fixtures: the real bot (discord.py's parsers, command tree, views and tasks) against
an in-process Discord, with the App on a temporary database and the session's model.

The App is opened here, outside the bot, and handed to `build_bot(app=...)`: its classification
worker then belongs to the test, not to the bot, so SimCord does not wait on it after every
action. Tests call `world.classified()` where a stance must be stored before they look.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord
import pytest
import simcord

from bot.app import App
from bot.client import StanceBot, build_bot
from bot.cogs.utils.messages import explain_error
from bot.config import Settings, load_settings
from bot.stance.classifier import StanceClassifier

GUILD_ID = 1_100_000_000_000_000_001

PARTNERSHIP = (
    "This is a genuine partnership built on mutual respect, the defence framework proves it."
)
GAMESMANSHIP = "Pure political gamesmanship and backroom deals, nothing more."
POSTURING = "It's all posturing for headlines and domestic politics."
UNDECIDED = "Honestly it is a bit of both, too early to tell."

# A stance line of a report embed: "**label** 50% (…) · 2 members …" (one line per label).
_SHARE = re.compile(r"^\*\*(?P<label>[\w-]+)\*\*[^\n]*?(?P<members>\d+) members?\b", re.MULTILINE)


def members_by_label(embed: discord.Embed) -> dict[str, int]:
    """What a report embed says: members per stance label."""
    return {m["label"]: int(m["members"]) for m in _SHARE.finditer(embed.description or "")}


@pytest.fixture
def bot_settings(tmp_path) -> Settings:
    return load_settings(
        database=tmp_path / "bot.db", batch_max_delay_ms=5, guild_ids=[GUILD_ID], min_sample=2
    )


@pytest.fixture(scope="session")
def shared_classifier(stance_encoder, library) -> StanceClassifier:
    """The shipped model, shared by all bot tests: building heads takes seconds, predicting not."""
    return StanceClassifier(stance_encoder, library.questions, low_confidence=0.45)


@pytest.fixture
async def bot_app(bot_settings, shared_classifier, library) -> AsyncIterator[App]:
    app = await App.open(bot_settings, classifier=shared_classifier, library=library)
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
def simcord_bot(bot_settings, bot_app) -> StanceBot:
    return build_bot(bot_settings, app=bot_app)


@dataclass
class World:
    """A server with a news channel, a summaries channel, a moderator and four members."""

    env: simcord.Env
    app: App
    settings: Settings
    guild: simcord.GuildHandle
    news: simcord.ChannelHandle
    summaries: simcord.ChannelHandle
    mod: simcord.MemberActor
    alice: simcord.MemberActor
    bob: simcord.MemberActor
    carol: simcord.MemberActor
    dave: simcord.MemberActor

    @property
    def bot(self) -> StanceBot:
        return self.env.bot  # type: ignore[return-value]

    async def classified(self) -> None:
        """Wait until every collected reply has its stance stored."""
        await self.app.service.drain()

    async def start_discussion(self, question: str = "partnership") -> simcord.ChannelHandle:
        result = await self.mod.slash(self.news, "discussion start", question=question)
        assert result.response is not None and result.ephemeral
        return self.news.threads[-1]

    def refusals(self) -> list[str]:
        """The answers to the errors the bot refused requests with (acknowledges them, so the
        teardown does not fail on them); any error that was a bug fails here instead."""
        errors = self.env.errors
        answers = [explain_error(e) for e in errors]
        assert None not in answers, errors
        return answers  # type: ignore[return-value]

    def question_message(self, channel: simcord.ChannelHandle | None = None) -> discord.Message:
        """The latest question the bot posted (the message its thread hangs from)."""
        return [m for m in self.bot_messages(channel or self.news) if m.embeds][-1]

    def bot_messages(self, channel: simcord.ChannelHandle) -> list[discord.Message]:
        return [m for m in channel.history() if m.author.id == self.bot.user.id]


@pytest.fixture
def world(simcord_env, bot_app, bot_settings) -> World:
    env = simcord_env
    guild = env.create_guild("News Club", id=GUILD_ID)
    news = guild.create_text_channel("news")
    summaries = guild.create_text_channel("summaries")
    mods = guild.create_role("Moderators", permissions=discord.Permissions(manage_messages=True))
    return World(
        env=env,
        app=bot_app,
        settings=bot_settings,
        guild=guild,
        news=news,
        summaries=summaries,
        mod=guild.add_member(env.create_user("mod"), roles=[mods]),
        alice=guild.add_member(env.create_user("alice")),
        bob=guild.add_member(env.create_user("bob")),
        carol=guild.add_member(env.create_user("carol")),
        dave=guild.add_member(env.create_user("dave")),
    )
