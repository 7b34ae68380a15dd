"""Registers the "I think: …" button (bot.cogs.utils.declare) so that the buttons under every
question keep working, after a restart too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from bot.cogs.utils.declare import DeclareButton

if TYPE_CHECKING:
    from bot.client import StanceBot


class Declarations(commands.Cog):
    def __init__(self, bot: StanceBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(DeclareButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(DeclareButton)


async def setup(bot: StanceBot) -> None:
    await bot.add_cog(Declarations(bot))
