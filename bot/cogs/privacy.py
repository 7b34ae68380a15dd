"""A member's own data (any member, answered privately): `/privacy forget-me` deletes what the
bot stored from them in this server; `/privacy opt-out` stops it storing or quoting their
replies, `/privacy opt-in` lets it again."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.utils.messages import respond
from bot.core.privacy import describe_forgotten

if TYPE_CHECKING:
    from bot.client import StanceBot

log = logging.getLogger(__name__)

REDACTED = "*This case's reply was deleted at the member's request.*"


class Privacy(commands.Cog):
    privacy = app_commands.Group(
        name="privacy", description="Your data in this server", guild_only=True
    )

    def __init__(self, bot: StanceBot) -> None:
        self.bot = bot
        self.store = bot.app.moderation

    @privacy.command(name="forget-me", description="Delete everything the bot stored from you here")
    async def forget_me(self, interaction: discord.Interaction) -> None:
        guild = interaction.guild
        assert guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        # The request's own time (Discord's clock): every reply posted before it stays erased,
        # even one a restart's backfill or a late event would otherwise bring back.
        forgotten = await self.store.forget_member(
            guild.id, interaction.user.id, through=interaction.created_at
        )
        log.info(
            "guild %s: member %s asked to be forgotten: %d replies, %d stances, %d cases",
            guild.id,
            interaction.user.id,
            forgotten.replies,
            forgotten.stances,
            forgotten.cases,
        )
        # Review posts in the moderators' log quote the reply: take the quote down too. A post
        # that could not be edited stays tracked, and the daily job takes its quote out.
        for channel_id, message_id in forgotten.review_posts:
            channel = self.bot.get_partial_messageable(channel_id, guild_id=guild.id)
            try:
                await channel.get_partial_message(message_id).edit(
                    content=REDACTED, embeds=[], view=None
                )
            except discord.NotFound:
                pass  # the post is gone: nothing quotes the reply any more
            except discord.HTTPException as exc:
                log.warning(
                    "guild %s: could not redact review post %s: %s", guild.id, message_id, exc
                )
                continue
            await self.store.forget_review_post(guild.id, message_id)
        await respond(interaction, describe_forgotten(forgotten))

    @privacy.command(name="opt-out", description="Stop the bot storing or quoting your replies")
    async def opt_out(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await self.bot.app.repo.set_opt_out(interaction.guild_id, interaction.user.id, True)
        log.info("guild %s: member %s opted out", interaction.guild_id, interaction.user.id)
        await respond(
            interaction,
            "Done: from now on your replies here are not stored, read or quoted, and they are "
            "left out of exports, and stances you declared with the buttons are not counted. "
            "Replies stored before stay counted (never quoted); "
            "`/privacy forget-me` deletes them. `/privacy opt-in` undoes this.",
        )

    @privacy.command(name="opt-in", description="Let the bot store and read your replies again")
    async def opt_in(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await self.bot.app.repo.set_opt_out(interaction.guild_id, interaction.user.id, False)
        log.info("guild %s: member %s opted in", interaction.guild_id, interaction.user.id)
        await respond(interaction, "Done: your new replies here are read and counted again.")


async def setup(bot: StanceBot) -> None:
    await bot.add_cog(Privacy(bot))
