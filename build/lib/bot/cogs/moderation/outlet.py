"""The Discord side of moderation: core's ModerationFlow decides, and acts through these calls
(ModerationOutlet): look a member or a channel up, delete a reply, send a direct message, time
a member out, post to the moderation log. A call that fails is logged and answered in words."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import discord

from bot.cogs.moderation.base import ModerationPart
from bot.cogs.moderation.cases import case_buttons
from bot.cogs.moderation.embeds import case_embed
from bot.cogs.utils.messages import NO_PINGS
from bot.core.moderation_flow import Place, Posted
from bot.discord_limits import EMBED_FIELD_VALUE, MESSAGE_LIMIT, clip, message_link

if TYPE_CHECKING:
    from bot.core.records import Case
    from bot.reports.moderation import Burst

log = logging.getLogger(__name__)


class DiscordOutlet(ModerationPart):
    """ModerationOutlet on Discord, for the servers the bot is in."""

    def place(self, guild_id: int, channel_id: int | None) -> Place | None:
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            return None
        channel = guild.get_channel_or_thread(channel_id) if channel_id else None
        channel_ids = (channel_id,) if channel_id else ()
        if isinstance(channel, discord.Thread) and channel.parent_id:
            channel_ids += (channel.parent_id,)
            if channel.parent is not None:
                channel = channel.parent
        return Place(guild.name, channel_ids, getattr(channel, "name", None))

    async def member(self, guild_id: int, user_id: int) -> discord.Member | None:
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            return None
        member = guild.get_member(user_id)
        if member is not None:
            return member
        try:
            return await guild.fetch_member(user_id)
        except discord.HTTPException:  # left the server, or Discord is unavailable
            return None

    async def delete_reply(self, guild_id: int, case: Case) -> str:
        """Delete the case's message; returns what happened, in words for the moderators."""
        assert case.message_id is not None and case.channel_id is not None
        guild = self.bot.get_guild(guild_id)
        channel = guild.get_channel_or_thread(case.channel_id) if guild else None
        if channel is None:
            channel = self.bot.get_partial_messageable(case.channel_id, guild_id=guild_id)
        try:
            await channel.get_partial_message(case.message_id).delete()  # type: ignore[union-attr]
        except discord.NotFound:
            return "the message was already gone"
        except discord.HTTPException as exc:
            log.warning(
                "could not delete reply %s (case %d) in channel %s: %s (grant Manage Messages)",
                case.message_id,
                case.number,
                case.channel_id,
                exc,
            )
            if isinstance(exc, discord.Forbidden):
                return (
                    "**could not delete the message**: I need Manage Messages in "
                    f"<#{case.channel_id}> (it no longer counts in reports)"
                )
            return "**could not delete the message** (Discord error; it no longer counts)"
        log.info(
            "deleted reply %s in channel %s (case %d: %s)",
            case.message_id,
            case.channel_id,
            case.number,
            ", ".join(case.reasons),
        )
        return "message deleted"

    async def send_direct_message(
        self,
        guild_id: int,
        user_id: int,
        member: discord.Member | None,
        text: str,
        *,
        case_number: int,
    ) -> str:
        """DM the member (closed DMs are fine); returns what happened, in words."""
        user: discord.abc.User | None = member or self.bot.get_user(user_id)
        try:
            if user is None:
                user = await self.bot.fetch_user(user_id)
            await user.send(text, allowed_mentions=NO_PINGS)
        except discord.Forbidden:
            log.info("case %d: member %s does not accept DMs", case_number, user_id)
            return "the member does not accept direct messages, so they were not told"
        except discord.HTTPException as exc:
            log.warning("case %d: could not DM member %s: %s", case_number, user_id, exc)
            return "could not message the member"
        return "the member was told why and how to appeal"

    async def time_out(
        self, guild_id: int, member: discord.Member, length: timedelta, reason: str
    ) -> bool:
        try:
            await member.timeout(length, reason=reason)
        except discord.HTTPException as exc:
            log.warning(
                "guild %s: cannot time out member %s: %s (grant Moderate Members, "
                "and put the bot's role above theirs)",
                guild_id,
                member.id,
                exc,
            )
            return False
        return True

    async def post_case(
        self,
        guild_id: int,
        log_channel_id: int,
        case: Case,
        *,
        done: str | None = None,
        buttons: bool = False,
    ) -> Posted | None:
        embed = case_embed(case)
        if done is not None:
            embed.add_field(name="Done", value=clip(done, EMBED_FIELD_VALUE), inline=False)
        view = case_buttons(guild_id, case.number) if buttons else None
        posted = await self._post_log(guild_id, log_channel_id, embed=embed, view=view)
        return Posted(posted.channel.id, posted.id) if posted is not None else None

    async def post_alert(self, guild_id: int, log_channel_id: int, burst: Burst) -> None:
        stored = await self.bot.app.repo.get_reply(guild_id, burst.message_ids[0])
        first = (
            f" First: {message_link(guild_id, stored.channel_id, stored.message_id)}"
            if stored
            else ""
        )
        await self._post_log(
            guild_id,
            log_channel_id,
            content=f"⚠️ **Possible brigading**: {burst.describe()}.{first}\n"
            "The replies stay counted; look at them before acting.",
        )

    async def refresh_post(self, case: Case) -> None:
        if case.review_channel_id is None or case.review_message_id is None:
            return
        channel = self.bot.get_partial_messageable(case.review_channel_id, guild_id=case.guild_id)
        try:
            await channel.get_partial_message(case.review_message_id).edit(
                embed=case_embed(case), view=None
            )
        except discord.HTTPException as exc:
            log.info("case %d: review post not updated: %s", case.number, exc)

    async def _post_log(
        self,
        guild_id: int,
        log_channel_id: int,
        content: str | None = None,
        *,
        embed: discord.Embed | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        """Post to the moderation log channel; a failure is logged only."""
        guild = self.bot.get_guild(guild_id)
        channel = guild.get_channel(log_channel_id) if guild is not None else None
        if not isinstance(channel, discord.TextChannel):
            log.warning(
                "guild %s: moderation log channel %s is gone; set it with "
                "/moderation settings log-channel",
                guild_id,
                log_channel_id,
            )
            return None
        kwargs: dict = {"allowed_mentions": NO_PINGS}
        if content is not None:
            kwargs["content"] = clip(content, MESSAGE_LIMIT)
        if embed is not None:
            kwargs["embed"] = embed
        if view is not None:
            kwargs["view"] = view
        try:
            return await channel.send(**kwargs)
        except discord.HTTPException as exc:
            log.warning(
                "guild %s: cannot post to the moderation log channel %s (%s): grant View "
                "Channel, Send Messages and Embed Links there",
                guild_id,
                channel.id,
                exc,
            )
            return None
