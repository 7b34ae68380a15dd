"""`/export format` (moderators): this server's stored replies with their stances, as a file."""

from __future__ import annotations

import gzip
import io
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.utils.checks import moderator_only
from bot.cogs.utils.messages import UserError, respond
from bot.export import export_bytes

if TYPE_CHECKING:
    from bot.client import StanceBot

log = logging.getLogger(__name__)


class Export(commands.Cog):
    def __init__(self, bot: StanceBot) -> None:
        self.bot = bot

    @app_commands.command(name="export", description="Download this server's replies and stances")
    @app_commands.describe(format="csv (spreadsheets) or jsonl (one JSON object per line)")
    @moderator_only()
    async def export(
        self, interaction: discord.Interaction, format: Literal["csv", "jsonl"] = "csv"
    ) -> None:
        guild = interaction.guild
        assert guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        data, rows = await export_bytes(self.bot.app.repo.export_rows(guild.id), format)
        name = f"stancebot-{guild.id}-{discord.utils.utcnow():%Y%m%d}.{format}"
        if len(data) > guild.filesize_limit:
            data, name = gzip.compress(data), name + ".gz"
        if len(data) > guild.filesize_limit:
            raise UserError(
                f"The export ({len(data) // 1_000_000} MB compressed) is larger than Discord "
                "allows here; run `stancebot export` on the bot's machine instead."
            )
        log.info(
            "guild %s: %s exported %d replies as %s", guild.id, interaction.user.id, rows, format
        )
        await respond(
            interaction,
            f"{rows} replies with their current stance ({format}).",
            file=discord.File(io.BytesIO(data), filename=name),
        )


async def setup(bot: StanceBot) -> None:
    await bot.add_cog(Export(bot))
