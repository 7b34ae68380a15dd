"""The factory and the sending rules, without any Discord: build_bot touches no network or
database, and a long digest is split to fit Discord's limits."""

from __future__ import annotations

import discord
import pytest

from bot.client import EXTENSIONS, bot_intents, build_bot
from bot.cogs.utils.messages import digest_messages
from bot.config import load_settings


def test_build_bot_needs_no_network_and_asks_only_for_what_it_uses(tmp_path):
    settings = load_settings(database=tmp_path / "never-created.db")
    bot = build_bot(settings)
    assert bot.intents == bot_intents()
    assert (
        bot.intents.value
        == discord.Intents(guilds=True, guild_messages=True, message_content=True).value
    )
    assert bot.allowed_mentions.everyone is False
    assert bot.allowed_mentions.roles is False and bot.allowed_mentions.users is False
    assert not (tmp_path / "never-created.db").exists()
    with pytest.raises(RuntimeError, match="setup_hook"):
        bot.app  # noqa: B018 - opened only when discord.py logs in
    assert len(EXTENSIONS) == len(set(EXTENSIONS)) == 10


class _Digest:
    def __init__(self, embeds: list[dict], charts: list[tuple[str, bytes]]) -> None:
        self._embeds = embeds
        self.charts = charts

    def embeds(self) -> list[dict]:
        return self._embeds


def test_a_long_digest_is_split_within_discords_limits():
    embeds = [
        {"title": f"Question {i}", "description": "x" * 4000, "footer": {"text": "f" * 2000}}
        for i in range(12)
    ]
    charts = [(f"q{i}.png", b"\x89PNG") for i in range(12)]
    messages = list(digest_messages(_Digest(embeds, charts), "header " * 400))

    assert len(messages[0]["content"]) <= 2000
    assert all(m["allowed_mentions"].to_dict() == {"parse": []} for m in messages)
    sent = [e for m in messages for e in m.get("embeds", [])]
    assert [e.title for e in sent] == [f"Question {i}" for i in range(12)]
    for m in messages:
        assert len(m.get("embeds", [])) <= 10 and len(m.get("files", [])) <= 10
        assert sum(len(e) for e in m.get("embeds", [])) <= 6000
    assert sum(len(m.get("files", [])) for m in messages) == 12
