"""Collecting replies: messages in a discussion's thread (or Discord replies to its question)
become `Reply`s for DiscussionService; edits and deletes follow; missed ones are backfilled.

The service stores, moderates and classifies; this cog only translates Discord events. Verdicts
are carried out by the moderation cog, which listens to the service.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.core.models import IngestResult, Outcome, Reply
from bot.core.records import Discussion
from bot.core.service import ServiceError

if TYPE_CHECKING:
    from bot.client import StanceBot

log = logging.getLogger(__name__)

COLLECTED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
# The question's own channel is read back at most this far; a thread is read back whole.
PARENT_BACKFILL_LIMIT = 1000


def to_reply(message: discord.Message, discussion: Discussion) -> Reply:
    assert message.guild is not None
    author = message.author
    return Reply(
        message_id=message.id,
        guild_id=message.guild.id,
        channel_id=message.channel.id,
        author_id=author.id,
        question_id=discussion.question_id,
        content=message.content,
        created_at=message.created_at,
        author_name=author.display_name,
        attachments=len(message.attachments),
        discussion_id=discussion.id,
        author_is_bot=author.bot or message.webhook_id is not None,
        account_created_at=author.created_at,
        member_joined_at=getattr(author, "joined_at", None),
        reply_to=message.reference.message_id if message.reference else None,
    )


class Replies(commands.Cog):
    def __init__(self, bot: StanceBot) -> None:
        self.bot = bot
        self._backfill_lock = asyncio.Lock()

    async def discussion_for(self, message: discord.Message) -> Discussion | None:
        assert message.guild is not None
        repo = self.bot.app.repo
        if isinstance(message.channel, discord.Thread):
            found = await repo.discussion_for_channel(message.guild.id, message.channel.id)
            if found is not None:
                return found
        ref = message.reference
        if message.type is discord.MessageType.reply and ref and ref.message_id is not None:
            return await repo.discussion_for_message(message.guild.id, ref.message_id)
        return None

    async def collect(self, message: discord.Message) -> IngestResult | None:
        """Hand a member's message in an open discussion to the service; None if it is not one."""
        if message.guild is None or message.author.bot or message.webhook_id is not None:
            return None
        if message.type not in COLLECTED_TYPES:
            return None
        discussion = await self.discussion_for(message)
        if discussion is None:
            return None
        try:
            return await self.bot.app.service.ingest(to_reply(message, discussion))
        except ServiceError as exc:
            log.warning(
                "reply %s in discussion %d not collected: %s", message.id, discussion.id, exc
            )
            return None

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        await self.collect(message)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        data = payload.data
        if payload.guild_id is None or "content" not in data:
            return
        if (data.get("author") or {}).get("bot") or data.get("webhook_id"):
            return
        edited_at = discord.utils.parse_time(data.get("edited_timestamp"))
        # Re-moderated by the service; a removal is carried out by the moderation cog.
        await self.bot.app.service.edit(
            payload.guild_id,
            payload.message_id,
            data["content"],
            attachments=len(data.get("attachments") or []),
            edited_at=edited_at or discord.utils.utcnow(),
        )

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self._deleted(payload.guild_id, payload.message_id)

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        for message_id in sorted(payload.message_ids):
            await self._deleted(payload.guild_id, message_id)

    async def _deleted(self, guild_id: int | None, message_id: int) -> None:
        if guild_id is None:
            return
        # A reply moderation removed stays on record as removed (the service knows).
        await self.bot.app.service.delete(guild_id, message_id, deleted_at=discord.utils.utcnow())

    # --- backfill --------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # READY comes after every (re)connect that could not resume: read what was missed.
        await self.backfill()

    async def backfill(self) -> int:
        """Collect replies posted while the bot was away; returns how many were new."""
        if self._backfill_lock.locked():
            return 0  # the backfill already running reads up to now
        async with self._backfill_lock:
            total = 0
            for guild in list(self.bot.guilds):
                try:
                    total += await self.backfill_guild(guild)
                except Exception:
                    log.exception("backfill of guild %s failed", guild.id)
            if total:
                log.info("backfilled %d replies posted while the bot was away", total)
            return total

    async def backfill_guild(self, guild: discord.Guild) -> int:
        n = 0
        first_question: dict[int, int] = {}
        for d in await self.bot.app.repo.list_discussions(guild.id, open_only=True):
            if d.thread_id is not None:
                after = d.message_id or d.thread_id
                n += await self._backfill_channel(guild, d.thread_id, after=after, limit=None)
            if d.message_id is not None:
                first_question[d.channel_id] = min(
                    first_question.get(d.channel_id, d.message_id), d.message_id
                )
        for channel_id, after in first_question.items():
            n += await self._backfill_channel(
                guild, channel_id, after=after, limit=PARENT_BACKFILL_LIMIT
            )
        return n

    async def _backfill_channel(
        self, guild: discord.Guild, channel_id: int, *, after: int, limit: int | None
    ) -> int:
        last = await self.bot.app.repo.last_message_id(guild.id, channel_id)
        start = max(after, last or 0)
        channel = guild.get_channel_or_thread(channel_id)
        try:
            if channel is None:
                channel = await guild.fetch_channel(channel_id)
            if not isinstance(channel, (discord.TextChannel, discord.Thread)):
                return 0
            n = 0
            async for message in channel.history(
                limit=limit, after=discord.Object(id=start), oldest_first=True
            ):
                result = await self.collect(message)
                if result is not None and result.outcome is Outcome.STORED:
                    n += 1
            return n
        except discord.NotFound:
            log.warning(
                "channel %s of an open discussion in guild %s is gone", channel_id, guild.id
            )
        except discord.Forbidden:
            log.warning(
                "cannot read channel %s in guild %s: grant View Channel and Read Message History",
                channel_id,
                guild.id,
            )
        return 0


async def setup(bot: StanceBot) -> None:
    await bot.add_cog(Replies(bot))
