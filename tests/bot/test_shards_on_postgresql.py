"""Shards across processes on one PostgreSQL database: two bots, each with its own
STANCEBOT_SHARD_IDS, its own App (connection pool, classification queue) and its own event loop
in a thread of its own, as two processes on two machines would run them. Each collects and
classifies its own server's replies into the shared database, both read the whole of it, and
each server's weekly summary is posted once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import discord
import simcord

from bot.app import App
from bot.client import build_bot
from bot.config import load_settings
from bot.core.schedule import WEEKLY_SUMMARY_JOB
from bot.storage.db import open_database
from bot.storage.guilds import GuildStore
from bot.storage.repository import Repository

from ..conftest import drop_postgres_database, new_postgres_database
from .conftest import GAMESMANSHIP, PARTNERSHIP

MONDAY_9 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # SimCord's clock starts Thu 1 Jan 2026


async def shard_process(url: str, shard: int, text: str, classifier, library) -> dict:
    """One bot process serving shard `shard` of 2: one server, a discussion, a reply, the
    weekly summary. Returns what it saw."""
    settings = load_settings(
        database=url, batch_max_delay_ms=5, shard_count=2, shard_ids=[shard], min_sample=1
    )
    app = await App.open(settings, classifier=classifier, library=library)
    env = simcord.Env(build_bot(settings, app=app))
    await env.start()
    try:
        guild = env.create_guild(f"club{shard}", shard_id=shard)
        news = guild.create_text_channel("news")
        summaries = guild.create_text_channel("summaries")
        mods = guild.create_role(
            "Moderators", permissions=discord.Permissions(manage_messages=True)
        )
        mod = guild.add_member(env.create_user(f"mod{shard}"), roles=[mods])
        member = guild.add_member(env.create_user(f"member{shard}"))
        env.bot.settings.guild_ids = [guild.id]
        await env.bot.sync_commands()
        await mod.slash(news, "summary schedule", channel=summaries, weekday=0, hour=9)
        started = await mod.slash(news, "discussion start", question="partnership")
        assert "Posted **partnership**" in started.response.content
        reply = await member.send(news.threads[-1], text)
        await app.service.drain()
        await env.advance_time((MONDAY_9 + timedelta(hours=2) - env.now()).total_seconds())
        posted = [
            m
            for m in summaries.history()
            if m.author.id == env.bot.user.id and "summary" in m.content.lower()
        ]
        return {
            "shard_ids": env.bot.shard_ids,
            "guild": guild.id,
            "reply": reply.id,
            "summaries": len(posted),
        }
    finally:
        await env.shutdown()
        await app.close()


def test_two_bot_processes_with_their_own_shards_share_one_postgresql_database(
    shared_classifier, library
):
    url = asyncio.run(new_postgres_database())
    try:
        with ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(
                    asyncio.run, shard_process(url, shard, text, shared_classifier, library)
                )
                for shard, text in ((0, PARTNERSHIP), (1, GAMESMANSHIP))
            ]
            seen = [f.result(timeout=300) for f in futures]
        assert [s["shard_ids"] for s in seen] == [[0], [1]]
        assert [s["summaries"] for s in seen] == [1, 1]  # each server's summary, once

        async def check() -> None:
            async with open_database(url) as db:
                rows = [row async for row in Repository(db).export_rows()]
                # One database: both servers' replies, each read once.
                assert {r["message_id"]: r["label"] for r in rows} == {
                    seen[0]["reply"]: "partnership",
                    seen[1]["reply"]: "gamesmanship",
                }
                store = GuildStore(db)
                for s in seen:
                    runs = await store.job_runs(s["guild"], WEEKLY_SUMMARY_JOB)
                    assert [r.period for r in runs] == ["2026-W02"]
                    # Claimed in the shared database: no other process can post that week.
                    assert not await store.claim_job(
                        s["guild"], WEEKLY_SUMMARY_JOB, "2026-W02", ran_at=MONDAY_9, late=False
                    )

        asyncio.run(check())
    finally:
        asyncio.run(drop_postgres_database(url))
