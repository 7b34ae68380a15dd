"""What members can ask the bot: `/mystance`, how their own replies were read (only they see it)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.utils.messages import quote, respond
from bot.core.declarations import shown
from bot.core.records import Declaration
from bot.discord_limits import MESSAGE_LIMIT, clip, message_link
from bot.storage.guilds import MemberReply

if TYPE_CHECKING:
    from bot.client import StanceBot

log = logging.getLogger(__name__)

SHOWN_REPLIES = 5
QUOTE_CHARS = 200


def reading(r: MemberReply) -> str:
    if r.moderation == "remove":
        return "removed by moderation: not counted"
    if r.label is None:
        return "not read yet" if r.content.strip() else "no text: not read"
    if r.source == "moderator":
        return f"**{r.label}** (set by a moderator)"
    if r.low_confidence:
        return f"unclear (closest: {r.label}, {r.confidence:.0%}): not counted"
    return f"**{r.label}** ({r.confidence:.0%} sure)"


def describe_replies(guild_id: int, replies: list[MemberReply]) -> str:
    if not replies:
        return (
            "I have no replies from you yet. Reply in a discussion thread and I will read it; "
            "your latest reply to each question is the one that counts."
        )
    parts = ["How your latest replies were read (only you can see this):"]
    for r in replies:
        link = message_link(guild_id, r.channel_id, r.message_id)
        parts.append(
            f"\n`{r.question_id}` · {r.created_at:%d %b %H:%M} UTC · {link}\n"
            f"{quote(r.content, QUOTE_CHARS)}\n→ {reading(r)}"
        )
    parts.append("\nEach member counts once per question, by their latest clear reply.")
    text = "\n".join(parts)
    return clip(text, MESSAGE_LIMIT)


def describe_declarations(declared: list[Declaration]) -> str:
    lines = ["What you declared with the buttons (change it by clicking another):"]
    lines += [
        f"`{d.question_id}` (discussion #{d.discussion_id}) → **{shown(d.label)}**, "
        f"{d.declared_at[:10]}"
        for d in declared
    ]
    return "\n".join(lines)


class Members(commands.Cog):
    def __init__(self, bot: StanceBot) -> None:
        self.bot = bot

    @app_commands.command(name="mystance", description="How your own replies were read")
    @app_commands.guild_only()
    async def mystance(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        replies = await self.bot.store.member_replies(
            interaction.guild_id, interaction.user.id, limit=SHOWN_REPLIES
        )
        declared = await self.bot.app.content_store.member_declarations(
            interaction.guild_id, interaction.user.id
        )
        text = describe_replies(interaction.guild_id, replies)
        if declared:
            text = clip(f"{describe_declarations(declared)}\n\n{text}", MESSAGE_LIMIT)
        await respond(interaction, text, ephemeral=True)


async def setup(bot: StanceBot) -> None:
    await bot.add_cog(Members(bot))
