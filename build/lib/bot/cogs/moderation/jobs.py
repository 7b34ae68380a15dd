"""The moderation cog's background jobs: the daily retention run (and taking quotes of deleted
replies out of log posts), and the brigading check every few minutes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time

import discord
from discord.ext import commands, tasks

from bot.cogs.moderation.base import ModerationPart
from bot.cogs.moderation.embeds import case_embed
from bot.core.privacy import purge_expired
from bot.reports.moderation import Burst, brigading_bursts

log = logging.getLogger(__name__)

RETENTION_AT = time(hour=3, tzinfo=UTC)
BRIGADE_EVERY_MINUTES = 15


class Jobs(ModerationPart):
    """The retention and brigading loops (started and cancelled by the cog)."""

    _active_guilds: set[int]

    # --- retention -------------------------------------------------------------------------

    @tasks.loop(time=RETENTION_AT)
    async def retention(self) -> None:
        await self.purge_expired()

    @retention.before_loop
    async def _before_retention(self) -> None:
        await self.bot.wait_until_ready()
        await self.purge_expired()  # catch up on a day missed while offline

    async def purge_expired(self) -> None:
        # A failure (a locked database) must not end the daily job: tomorrow's run tries again.
        try:
            await purge_expired(self.store, discord.utils.utcnow())
            await self.unquote_deleted_replies()
        except Exception:
            log.exception("retention: deleting old replies failed; the next daily run retries")

    async def unquote_deleted_replies(self) -> int:
        """Take the quote out of every log post whose reply is no longer stored (retention,
        `stancebot db purge` run offline, forget-me): the post keeps the case, not the text.
        Returns how many posts were updated; one that fails is tried again the next day."""
        done = 0
        for case in await self.store.posts_quoting_deleted_replies():
            assert case.review_channel_id is not None and case.review_message_id is not None
            channel = self.bot.get_partial_messageable(
                case.review_channel_id, guild_id=case.guild_id
            )
            try:
                await channel.get_partial_message(case.review_message_id).edit(
                    embed=case_embed(case), view=None
                )
            except discord.NotFound:
                pass  # the post is gone: nothing quotes the reply any more
            except discord.HTTPException as exc:
                log.warning(
                    "guild %s: case %d: could not take the quote out of its log post: %s",
                    case.guild_id,
                    case.number,
                    exc,
                )
                continue
            await self.store.forget_review_post(case.guild_id, case.review_message_id)
            done += 1
        return done

    @retention.error
    async def _retention_failed(self, error: BaseException) -> None:
        log.error("the retention job stopped", exc_info=error)

    # --- brigading -------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        # Only a guild with new messages is looked at again: an idle bot queries nothing.
        if message.guild is not None and not message.author.bot:
            self._active_guilds.add(message.guild.id)

    @tasks.loop(minutes=BRIGADE_EVERY_MINUTES)
    async def brigading(self) -> None:
        if not self._active_guilds:
            return
        active, self._active_guilds = self._active_guilds, set()
        await self.flag_brigading(only=active)

    @brigading.before_loop
    async def _before_brigading(self) -> None:
        await self.bot.wait_until_ready()

    @brigading.error
    async def _brigading_failed(self, error: BaseException) -> None:
        log.error("the brigading check stopped", exc_info=error)

    async def flag_brigading(
        self, now: datetime | None = None, *, only: set[int] | None = None
    ) -> list[Burst]:
        """Post each new brigading burst to its guild's log channel (every guild, or `only`
        these); returns the new ones."""
        now = now or discord.utils.utcnow()  # replies carry Discord's timestamps
        flagged: list[Burst] = []
        for guild in list(self.bot.guilds):
            if only is not None and guild.id not in only:
                continue
            try:
                flagged += await self._flag_guild(guild, now)
            except Exception:
                log.exception("brigading check for guild %s failed", guild.id)
        return flagged

    async def _flag_guild(self, guild: discord.Guild, now: datetime) -> list[Burst]:
        config = await self.store.settings(guild.id)
        bursts = await brigading_bursts(
            self.bot.app.db,
            guild.id,
            now - config.brigading.lookback,
            now,
            set_aside=self.bot.app.library.set_aside_by_question(),
            settings=config.brigading,
            store=self.store,
        )
        return await self.flow.alert_new_bursts(config, bursts)
